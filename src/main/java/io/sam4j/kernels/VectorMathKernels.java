package io.sam4j.kernels;

import static io.sam4j.kernels.VectorSupport.*;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Vector-API {@link MathKernels} at the width {@link VectorSupport#S} (see {@link VectorWidth}); scalar
 * tails go to {@link ScalarMathKernels}, so they are bit-identical to the reference. Loaded only through
 * {@code VectorKernels}, which {@link KernelsProvider} loads reflectively.
 */
final class VectorMathKernels implements MathKernels {
    private static final ScalarMathKernels TAIL = ScalarMathKernels.INSTANCE;

    // ---- basic BLAS-1 --------------------------------------------------------------------

    @Override
    public double sumSquares(MemorySegment x, long from, long to) {
        long ve = vEnd(from, to);
        double total = 0;
        for (long blk = from; blk < ve; blk += FOLD_BLOCK) {
            long end = blockEnd(blk, ve);
            // Four chains hide the FMA latency; one chain runs at ~1/4 of the load rate.
            FloatVector a0 = zero(), a1 = zero(), a2 = zero(), a3 = zero();
            long i = blk;
            for (; i <= end - 4 * L; i += 4 * L) {
                FloatVector x0 = load(x, i), x1 = load(x, i + L), x2 = load(x, i + 2 * L), x3 = load(x, i + 3 * L);
                a0 = x0.fma(x0, a0);
                a1 = x1.fma(x1, a1);
                a2 = x2.fma(x2, a2);
                a3 = x3.fma(x3, a3);
            }
            for (; i < end; i += L) {
                FloatVector x0 = load(x, i);
                a0 = x0.fma(x0, a0);
            }
            total += laneSum(a0.add(a1).add(a2.add(a3)));
        }
        return total + TAIL.sumSquares(x, ve, to);
    }

    @Override
    public double dot(MemorySegment x, MemorySegment y, long from, long to) {
        long ve = vEnd(from, to);
        double total = 0;
        for (long blk = from; blk < ve; blk += FOLD_BLOCK) {
            long end = blockEnd(blk, ve);
            FloatVector a0 = zero(), a1 = zero(), a2 = zero(), a3 = zero();
            long i = blk;
            for (; i <= end - 4 * L; i += 4 * L) {
                a0 = load(x, i).fma(load(y, i), a0);
                a1 = load(x, i + L).fma(load(y, i + L), a1);
                a2 = load(x, i + 2 * L).fma(load(y, i + 2 * L), a2);
                a3 = load(x, i + 3 * L).fma(load(y, i + 3 * L), a3);
            }
            for (; i < end; i += L) a0 = load(x, i).fma(load(y, i), a0);
            total += laneSum(a0.add(a1).add(a2.add(a3)));
        }
        return total + TAIL.dot(x, y, ve, to);
    }

    @Override
    public void axpy(float a, MemorySegment x, MemorySegment y, long from, long to) {
        long ve = vEnd(from, to);
        FloatVector va = FloatVector.broadcast(S, a);
        for (long i = from; i < ve; i += L) store(load(x, i).fma(va, load(y, i)), y, i);
        TAIL.axpy(a, x, y, ve, to);
    }

    @Override
    public void triad(MemorySegment b, float s, MemorySegment c, MemorySegment a, long from, long to) {
        long ve = vEnd(from, to);
        FloatVector vs = FloatVector.broadcast(S, s);
        for (long i = from; i < ve; i += L) store(load(c, i).fma(vs, load(b, i)), a, i);
        TAIL.triad(b, s, c, a, ve, to);
    }

    @Override
    public void scale(float a, MemorySegment x, long from, long to) {
        long ve = vEnd(from, to);
        for (long i = from; i < ve; i += L) store(load(x, i).mul(a), x, i);
        TAIL.scale(a, x, ve, to);
    }

    @Override
    public void scaleTo(float a, MemorySegment src, MemorySegment dst, long from, long to) {
        long ve = vEnd(from, to);
        for (long i = from; i < ve; i += L) store(load(src, i).mul(a), dst, i);
        TAIL.scaleTo(a, src, dst, ve, to);
    }

    @Override
    public void copy(MemorySegment src, MemorySegment dst, long from, long to) {
        // The JDK's bulk copy is already vectorised (and memmove-safe).
        if (to > from) MemorySegment.copy(src, from << 2, dst, from << 2, (to - from) << 2);
    }

    @Override
    public void fill(float v, MemorySegment x, long from, long to) {
        long ve = vEnd(from, to);
        FloatVector vv = FloatVector.broadcast(S, v);
        for (long i = from; i < ve; i += L) store(vv, x, i);
        TAIL.fill(v, x, ve, to);
    }

    @Override
    public void relu(MemorySegment x, MemorySegment y, long from, long to) {
        long ve = vEnd(from, to);
        FloatVector z = zero();
        for (long i = from; i < ve; i += L) store(load(x, i).max(z), y, i);
        TAIL.relu(x, y, ve, to);
    }

    @Override
    public void reluBackward(MemorySegment y, MemorySegment dy, MemorySegment dx, long from, long to) {
        long ve = vEnd(from, to);
        FloatVector z = zero();
        for (long i = from; i < ve; i += L) {
            FloatVector d = load(dy, i);
            store(d.blend(z, load(y, i).compare(VectorOperators.LE, z)), dx, i);
        }
        TAIL.reluBackward(y, dy, dx, ve, to);
    }
}
