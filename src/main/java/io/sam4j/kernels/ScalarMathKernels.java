package io.sam4j.kernels;

import static io.sam4j.kernels.ScalarSupport.get;
import static io.sam4j.kernels.ScalarSupport.set;

import java.lang.foreign.MemorySegment;

/**
 * The reference {@link MathKernels}: plain loops, element-wise results in float exactly as the formulas
 * read, reductions accumulated in double directly.
 */
public final class ScalarMathKernels implements MathKernels {
    public static final ScalarMathKernels INSTANCE = new ScalarMathKernels();

    private ScalarMathKernels() {}

    @Override
    public double sumSquares(MemorySegment x, long from, long to) {
        double s = 0;
        for (long i = from; i < to; i++) {
            double v = get(x, i);
            s += v * v;
        }
        return s;
    }

    @Override
    public double dot(MemorySegment x, MemorySegment y, long from, long to) {
        double s = 0;
        for (long i = from; i < to; i++) s += (double) get(x, i) * get(y, i);
        return s;
    }

    @Override
    public void axpy(float a, MemorySegment x, MemorySegment y, long from, long to) {
        for (long i = from; i < to; i++) set(y, i, get(y, i) + a * get(x, i));
    }

    @Override
    public void triad(MemorySegment b, float s, MemorySegment c, MemorySegment a, long from, long to) {
        for (long i = from; i < to; i++) set(a, i, get(b, i) + s * get(c, i));
    }

    @Override
    public void scale(float a, MemorySegment x, long from, long to) {
        for (long i = from; i < to; i++) set(x, i, get(x, i) * a);
    }

    @Override
    public void scaleTo(float a, MemorySegment src, MemorySegment dst, long from, long to) {
        for (long i = from; i < to; i++) set(dst, i, get(src, i) * a);
    }

    @Override
    public void copy(MemorySegment src, MemorySegment dst, long from, long to) {
        for (long i = from; i < to; i++) set(dst, i, get(src, i));
    }

    @Override
    public void fill(float v, MemorySegment x, long from, long to) {
        for (long i = from; i < to; i++) set(x, i, v);
    }

    @Override
    public void relu(MemorySegment x, MemorySegment y, long from, long to) {
        for (long i = from; i < to; i++) set(y, i, Math.max(get(x, i), 0f));
    }

    @Override
    public void reluBackward(MemorySegment y, MemorySegment dy, MemorySegment dx, long from, long to) {
        for (long i = from; i < to; i++) set(dx, i, get(y, i) > 0f ? get(dy, i) : 0f);
    }
}
