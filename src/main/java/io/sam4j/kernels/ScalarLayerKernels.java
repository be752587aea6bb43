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

    /** The ReLU gate of the fused BatchNorm: z = a*x + b rounded as {@link #affine} rounds it, open when z > 0. */
    private static boolean open(float a, float x, float b) {
        return a * x + b > 0f;
    }

    @Override
    public void affineRelu(MemorySegment x, MemorySegment y, float a, float b, long from, long to) {
        for (long i = from; i < to; i++) set(y, i, Math.max(a * get(x, i) + b, 0f));
    }

    @Override
    public double sumRelu(MemorySegment dy, MemorySegment x, float a, float b, long from, long to) {
        double s = 0;
        for (long i = from; i < to; i++) if (open(a, get(x, i), b)) s += get(dy, i);
        return s;
    }

    @Override
    public double dotDeviationRelu(MemorySegment dy, MemorySegment x, float c, float a, float b, long from, long to) {
        double s = 0;
        for (long i = from; i < to; i++) {
            float xi = get(x, i);
            if (open(a, xi, b)) s += (double) get(dy, i) * (xi - c);
        }
        return s;
    }

    @Override
    public void affine2Relu(MemorySegment dy, MemorySegment x, MemorySegment dx, float p, float q, float r, float a, float b,
                            long from, long to) {
        for (long i = from; i < to; i++) {
            float xi = get(x, i), g = open(a, xi, b) ? get(dy, i) : 0f;
            set(dx, i, p * g + q * xi + r);
        }
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

    @Override
    public void sumLanes(int lanes, MemorySegment x, long from, long to, double[] acc, int at) {
        LayerKernels.checkLanes(lanes, from, to);
        for (int l = 0; l < lanes; l++) {
            double s = 0;
            for (long i = from + l; i < to; i += lanes) s += get(x, i);
            acc[at + l] += s;
        }
    }

    @Override
    public void sumSquaredDeviationLanes(int lanes, MemorySegment x, float[] c, long from, long to, double[] acc, int at) {
        LayerKernels.checkLanes(lanes, from, to);
        for (int l = 0; l < lanes; l++) {
            double s = 0;
            for (long i = from + l; i < to; i += lanes) {
                float d = get(x, i) - c[at + l];
                s += (double) d * d;
            }
            acc[at + l] += s;
        }
    }

    @Override
    public void dotDeviationLanes(int lanes, MemorySegment y, MemorySegment x, float[] c, long from, long to, double[] acc, int at) {
        LayerKernels.checkLanes(lanes, from, to);
        for (int l = 0; l < lanes; l++) {
            double s = 0;
            for (long i = from + l; i < to; i += lanes) s += (double) get(y, i) * (get(x, i) - c[at + l]);
            acc[at + l] += s;
        }
    }

    @Override
    public void affineLanes(int lanes, MemorySegment x, MemorySegment y, float[] a, float[] b, int at, long from, long to) {
        LayerKernels.checkLanes(lanes, from, to);
        for (long i = from; i < to; i += lanes) {
            for (int l = 0; l < lanes; l++) set(y, i + l, a[at + l] * get(x, i + l) + b[at + l]);
        }
    }

    @Override
    public void affine2Lanes(int lanes, MemorySegment dy, MemorySegment x, MemorySegment dx, float[] a, float[] b, float[] c, int at,
                             long from, long to) {
        LayerKernels.checkLanes(lanes, from, to);
        for (long i = from; i < to; i += lanes) {
            for (int l = 0; l < lanes; l++) {
                set(dx, i + l, a[at + l] * get(dy, i + l) + b[at + l] * get(x, i + l) + c[at + l]);
            }
        }
    }

    @Override
    public void affineReluLanes(int lanes, MemorySegment x, MemorySegment y, float[] a, float[] b, int at, long from, long to) {
        LayerKernels.checkLanes(lanes, from, to);
        for (long i = from; i < to; i += lanes) {
            for (int l = 0; l < lanes; l++) set(y, i + l, Math.max(a[at + l] * get(x, i + l) + b[at + l], 0f));
        }
    }

    @Override
    public void sumAndDotDeviationReluLanes(int lanes, MemorySegment dy, MemorySegment x, float[] c, float[] a, float[] b,
                                            long from, long to, double[] sums, double[] dots, int at) {
        LayerKernels.checkLanes(lanes, from, to);
        for (int l = 0; l < lanes; l++) {
            double s = 0, d = 0;
            for (long i = from + l; i < to; i += lanes) {
                float xi = get(x, i);
                if (open(a[at + l], xi, b[at + l])) {
                    float g = get(dy, i);
                    s += g;
                    d += (double) g * (xi - c[at + l]);
                }
            }
            sums[at + l] += s;
            dots[at + l] += d;
        }
    }

    @Override
    public void affine2ReluLanes(int lanes, MemorySegment dy, MemorySegment x, MemorySegment dx, float[] p, float[] q, float[] r,
                                 float[] a, float[] b, int at, long from, long to) {
        LayerKernels.checkLanes(lanes, from, to);
        for (long i = from; i < to; i += lanes) {
            for (int l = 0; l < lanes; l++) {
                float xi = get(x, i + l), g = open(a[at + l], xi, b[at + l]) ? get(dy, i + l) : 0f;
                set(dx, i + l, p[at + l] * g + q[at + l] * xi + r[at + l]);
            }
        }
    }

    @Override
    public void fillLanes(int lanes, float[] v, int at, MemorySegment x, long from, long to) {
        LayerKernels.checkLanes(lanes, from, to);
        for (long i = from; i < to; i += lanes) {
            for (int l = 0; l < lanes; l++) set(x, i + l, v[at + l]);
        }
    }

    @Override
    public void maxPool2x2Lanes(int lanes, MemorySegment x, long in, int h, int w, MemorySegment y, MemorySegment argmax, long out) {
        LayerKernels.checkLanes(lanes, 0, 0);
        int outH = h / 2, outW = w / 2;
        for (int oh = 0; oh < outH; oh++) {
            for (int ow = 0; ow < outW; ow++) {
                int p = 2 * oh * w + 2 * ow; // pixels p, p + 1 on this row, p + w, p + w + 1 on the next
                long t = in + (long) lanes * p, o = out + (long) lanes * (oh * outW + ow);
                for (int l = 0; l < lanes; l++) {
                    float max = get(x, t + l);
                    float b = get(x, t + lanes + l), c = get(x, t + (long) lanes * w + l);
                    float d = get(x, t + (long) lanes * (w + 1) + l);
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
    public void maxPool2x2LanesBackward(int lanes, MemorySegment dy, MemorySegment argmax, long out, int h, int w, MemorySegment dx,
                                        long in) {
        LayerKernels.checkLanes(lanes, 0, 0);
        int outH = h / 2, outW = w / 2;
        for (int oh = 0; oh < outH; oh++) {
            for (int ow = 0; ow < outW; ow++) {
                int p = 2 * oh * w + 2 * ow;
                long o = out + (long) lanes * (oh * outW + ow);
                for (int l = 0; l < lanes; l++) {
                    int best = argmax.getAtIndex(JAVA_INT, o + l);
                    float g = get(dy, o + l);
                    long t = in + (long) lanes * p + l, u = t + (long) lanes * w;
                    set(dx, t, best == p ? g : 0f);
                    set(dx, t + lanes, best == p + 1 ? g : 0f);
                    set(dx, u, best == p + w ? g : 0f);
                    set(dx, u + lanes, best == p + w + 1 ? g : 0f);
                }
            }
            if (w % 2 != 0) { // the last column is in no window
                MATH.fill(0f, dx, in + (long) lanes * (2 * oh * w + w - 1), in + (long) lanes * (2 * oh * w + w));
                MATH.fill(0f, dx, in + (long) lanes * (2 * oh * w + 2 * w - 1), in + (long) lanes * (2 * oh * w + 2 * w));
            }
        }
        if (h % 2 != 0) MATH.fill(0f, dx, in + (long) lanes * (h - 1) * w, in + (long) lanes * h * w);
    }
}
