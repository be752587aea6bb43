package io.sam4j.kernels;

import static io.sam4j.kernels.ScalarSupport.get;
import static io.sam4j.kernels.ScalarSupport.set;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.MemorySegment;

/**
 * The reference {@link LayerKernels}: plain loops, element-wise results in float exactly as the formulas
 * read, reductions accumulated in double directly.
 */
public final class ScalarLayerKernels implements LayerKernels {
    public static final ScalarLayerKernels INSTANCE = new ScalarLayerKernels();

    private ScalarLayerKernels() {}

    private static final ScalarMathKernels MATH = ScalarMathKernels.INSTANCE;

    @Override
    public double sum(MemorySegment x, long from, long to) {
        double s = 0;
        for (long i = from; i < to; i++) s += get(x, i);
        return s;
    }

    @Override
    public double sumSquaredDeviation(MemorySegment x, float c, long from, long to) {
        double s = 0;
        for (long i = from; i < to; i++) {
            float d = get(x, i) - c;
            s += (double) d * d;
        }
        return s;
    }

    @Override
    public double dotDeviation(MemorySegment y, MemorySegment x, float c, long from, long to) {
        double s = 0;
        for (long i = from; i < to; i++) s += (double) get(y, i) * (get(x, i) - c);
        return s;
    }

    @Override
    public void affine(MemorySegment x, MemorySegment y, float a, float b, long from, long to) {
        for (long i = from; i < to; i++) set(y, i, a * get(x, i) + b);
    }

    @Override
    public void affine2(MemorySegment dy, MemorySegment x, MemorySegment dx, float a, float b, float c, long from, long to) {
        for (long i = from; i < to; i++) set(dx, i, a * get(dy, i) + b * get(x, i) + c);
    }

    @Override
    public void maxPool2x2(MemorySegment x, long in, int h, int w, MemorySegment y, MemorySegment argmax, long out) {
        maxPool2x2Rows(x, in, w, y, argmax, out, 0, h / 2);
    }

    /** Output rows [fromRow, toRow) of {@link #maxPool2x2}. */
    static void maxPool2x2Rows(MemorySegment x, long in, int w, MemorySegment y, MemorySegment argmax, long out,
                               int fromRow, int toRow) {
        int outW = w / 2;
        for (int oh = fromRow; oh < toRow; oh++) {
            long o = out + (long) oh * outW;
            for (int ow = 0; ow < outW; ow++) {
                int best = 2 * oh * w + 2 * ow; // top left: a, b on this row, c, d on the next
                long t = in + best;
                float max = get(x, t);
                float b = get(x, t + 1), c = get(x, t + w), d = get(x, t + w + 1);
                int k = 0;
                if (b > max || b != b) {
                    max = b;
                    k = 1;
                }
                if (c > max || c != c) {
                    max = c;
                    k = w;
                }
                if (d > max || d != d) {
                    max = d;
                    k = w + 1;
                }
                set(y, o + ow, max);
                argmax.setAtIndex(JAVA_INT, o + ow, best + k);
            }
        }
    }

    /** Rejects a range that is not whole pixels of a channel block. */
    static void checkLanes(long from, long to) {
        if ((to - from) % LANES != 0 || to < from) {
            throw new IllegalArgumentException("[" + from + ", " + to + ") is not a whole number of " + LANES + "-lane pixels");
        }
    }

    @Override
    public void sumLanes(MemorySegment x, long from, long to, double[] acc, int at) {
        checkLanes(from, to);
        for (int l = 0; l < LANES; l++) {
            double s = 0;
            for (long i = from + l; i < to; i += LANES) s += get(x, i);
            acc[at + l] += s;
        }
    }

    @Override
    public void sumSquaredDeviationLanes(MemorySegment x, float[] c, long from, long to, double[] acc, int at) {
        checkLanes(from, to);
        for (int l = 0; l < LANES; l++) {
            double s = 0;
            for (long i = from + l; i < to; i += LANES) {
                float d = get(x, i) - c[at + l];
                s += (double) d * d;
            }
            acc[at + l] += s;
        }
    }

    @Override
    public void dotDeviationLanes(MemorySegment y, MemorySegment x, float[] c, long from, long to, double[] acc, int at) {
        checkLanes(from, to);
        for (int l = 0; l < LANES; l++) {
            double s = 0;
            for (long i = from + l; i < to; i += LANES) s += (double) get(y, i) * (get(x, i) - c[at + l]);
            acc[at + l] += s;
        }
    }

    @Override
    public void affineLanes(MemorySegment x, MemorySegment y, float[] a, float[] b, int at, long from, long to) {
        checkLanes(from, to);
        for (long i = from; i < to; i += LANES) {
            for (int l = 0; l < LANES; l++) set(y, i + l, a[at + l] * get(x, i + l) + b[at + l]);
        }
    }

    @Override
    public void affine2Lanes(MemorySegment dy, MemorySegment x, MemorySegment dx, float[] a, float[] b, float[] c, int at,
                             long from, long to) {
        checkLanes(from, to);
        for (long i = from; i < to; i += LANES) {
            for (int l = 0; l < LANES; l++) {
                set(dx, i + l, a[at + l] * get(dy, i + l) + b[at + l] * get(x, i + l) + c[at + l]);
            }
        }
    }

    @Override
    public void fillLanes(float[] v, int at, MemorySegment x, long from, long to) {
        checkLanes(from, to);
        for (long i = from; i < to; i += LANES) {
            for (int l = 0; l < LANES; l++) set(x, i + l, v[at + l]);
        }
    }

    @Override
    public void maxPool2x2Lanes(MemorySegment x, long in, int h, int w, MemorySegment y, MemorySegment argmax, long out) {
        int outH = h / 2, outW = w / 2;
        for (int oh = 0; oh < outH; oh++) {
            for (int ow = 0; ow < outW; ow++) {
                int p = 2 * oh * w + 2 * ow; // pixels p, p + 1 on this row, p + w, p + w + 1 on the next
                long t = in + (long) LANES * p, o = out + (long) LANES * (oh * outW + ow);
                for (int l = 0; l < LANES; l++) {
                    float max = get(x, t + l);
                    float b = get(x, t + LANES + l), c = get(x, t + (long) LANES * w + l);
                    float d = get(x, t + (long) LANES * (w + 1) + l);
                    int best = p;
                    if (b > max || b != b) {
                        max = b;
                        best = p + 1;
                    }
                    if (c > max || c != c) {
                        max = c;
                        best = p + w;
                    }
                    if (d > max || d != d) {
                        max = d;
                        best = p + w + 1;
                    }
                    set(y, o + l, max);
                    argmax.setAtIndex(JAVA_INT, o + l, best);
                }
            }
        }
    }

    @Override
    public void maxPool2x2LanesBackward(MemorySegment dy, MemorySegment argmax, long out, int h, int w, MemorySegment dx,
                                        long in) {
        int outH = h / 2, outW = w / 2;
        for (int oh = 0; oh < outH; oh++) {
            for (int ow = 0; ow < outW; ow++) {
                int p = 2 * oh * w + 2 * ow;
                long o = out + (long) LANES * (oh * outW + ow);
                for (int l = 0; l < LANES; l++) {
                    int best = argmax.getAtIndex(JAVA_INT, o + l);
                    float g = get(dy, o + l);
                    long t = in + (long) LANES * p + l, u = t + (long) LANES * w;
                    set(dx, t, best == p ? g : 0f);
                    set(dx, t + LANES, best == p + 1 ? g : 0f);
                    set(dx, u, best == p + w ? g : 0f);
                    set(dx, u + LANES, best == p + w + 1 ? g : 0f);
                }
            }
            if (w % 2 != 0) { // the last column is in no window
                MATH.fill(0f, dx, in + (long) LANES * (2 * oh * w + w - 1), in + (long) LANES * (2 * oh * w + w));
                MATH.fill(0f, dx, in + (long) LANES * (2 * oh * w + 2 * w - 1), in + (long) LANES * (2 * oh * w + 2 * w));
            }
        }
        if (h % 2 != 0) MATH.fill(0f, dx, in + (long) LANES * (h - 1) * w, in + (long) LANES * h * w);
    }
}
