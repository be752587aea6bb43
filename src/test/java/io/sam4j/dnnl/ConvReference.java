package io.sam4j.dnnl;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import io.sam4j.kernels.GemmReference;
import io.sam4j.conv.ConvShape;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Naive convolutions for tests: direct loops with double accumulation (the reference), and an im2col +
 * {@link GemmReference} formulation that cross-checks the direct loops. Plain NCHW / OIHW float arrays.
 */
final class ConvReference {
    private ConvReference() {}

    /** Input index of output position {@code o} and kernel tap {@code t}, or -1 when it falls in the padding. */
    private static int in(int o, int t, ConvShape s, int size) {
        int i = o * s.stride() - s.pad() + t;
        return i >= 0 && i < size ? i : -1;
    }

    static double[] forward(ConvShape s, float[] x, float[] w, float[] bias) {
        int oh = s.outH(), ow = s.outW();
        double[] y = new double[(int) s.outputSize()];
        for (int n = 0; n < s.n(); n++)
            for (int k = 0; k < s.k(); k++)
                for (int p = 0; p < oh; p++)
                    for (int q = 0; q < ow; q++) {
                        double acc = bias == null ? 0 : bias[k];
                        for (int c = 0; c < s.c(); c++)
                            for (int r = 0; r < s.r(); r++) {
                                int ih = in(p, r, s, s.h());
                                if (ih < 0) continue;
                                for (int t = 0; t < s.s(); t++) {
                                    int iw = in(q, t, s, s.w());
                                    if (iw < 0) continue;
                                    acc += (double) x[((n * s.c() + c) * s.h() + ih) * s.w() + iw]
                                            * w[((k * s.c() + c) * s.r() + r) * s.s() + t];
                                }
                            }
                        y[((n * s.k() + k) * oh + p) * ow + q] = acc;
                    }
        return y;
    }

    static double[] backwardData(ConvShape s, float[] dy, float[] w) {
        int oh = s.outH(), ow = s.outW();
        double[] dx = new double[(int) s.inputSize()];
        for (int n = 0; n < s.n(); n++)
            for (int k = 0; k < s.k(); k++)
                for (int p = 0; p < oh; p++)
                    for (int q = 0; q < ow; q++) {
                        double g = dy[((n * s.k() + k) * oh + p) * ow + q];
                        for (int c = 0; c < s.c(); c++)
                            for (int r = 0; r < s.r(); r++) {
                                int ih = in(p, r, s, s.h());
                                if (ih < 0) continue;
                                for (int t = 0; t < s.s(); t++) {
                                    int iw = in(q, t, s, s.w());
                                    if (iw < 0) continue;
                                    dx[((n * s.c() + c) * s.h() + ih) * s.w() + iw] +=
                                            g * w[((k * s.c() + c) * s.r() + r) * s.s() + t];
                                }
                            }
                    }
        return dx;
    }

    static double[] backwardWeights(ConvShape s, float[] x, float[] dy) {
        int oh = s.outH(), ow = s.outW();
        double[] dw = new double[(int) s.weightSize()];
        for (int k = 0; k < s.k(); k++)
            for (int c = 0; c < s.c(); c++)
                for (int r = 0; r < s.r(); r++)
                    for (int t = 0; t < s.s(); t++) {
                        double acc = 0;
                        for (int n = 0; n < s.n(); n++)
                            for (int p = 0; p < oh; p++) {
                                int ih = in(p, r, s, s.h());
                                if (ih < 0) continue;
                                for (int q = 0; q < ow; q++) {
                                    int iw = in(q, t, s, s.w());
                                    if (iw < 0) continue;
                                    acc += (double) dy[((n * s.k() + k) * oh + p) * ow + q]
                                            * x[((n * s.c() + c) * s.h() + ih) * s.w() + iw];
                                }
                            }
                        dw[((k * s.c() + c) * s.r() + r) * s.s() + t] = acc;
                    }
        return dw;
    }

    static double[] biasGrad(ConvShape s, float[] dy) {
        int plane = s.outH() * s.outW();
        double[] db = new double[s.k()];
        for (int n = 0; n < s.n(); n++)
            for (int k = 0; k < s.k(); k++)
                for (int i = 0; i < plane; i++) db[k] += dy[(n * s.k() + k) * plane + i];
        return db;
    }

    // ---- im2col + GemmReference, used only to check the loops above

    /** cols[(c*R + r)*S + t][p*OW + q] for image n. */
    private static float[] im2col(ConvShape s, float[] x, int n) {
        int oh = s.outH(), ow = s.outW();
        float[] cols = new float[s.c() * s.r() * s.s() * oh * ow];
        for (int c = 0; c < s.c(); c++)
            for (int r = 0; r < s.r(); r++)
                for (int t = 0; t < s.s(); t++)
                    for (int p = 0; p < oh; p++)
                        for (int q = 0; q < ow; q++) {
                            int ih = in(p, r, s, s.h()), iw = in(q, t, s, s.w());
                            cols[(((c * s.r() + r) * s.s() + t) * oh + p) * ow + q] =
                                    ih < 0 || iw < 0 ? 0f : x[((n * s.c() + c) * s.h() + ih) * s.w() + iw];
                        }
        return cols;
    }

    /** {y, dx, dw} by im2col + GEMM (col2im for dx). */
    static float[][] viaGemm(ConvShape s, float[] x, float[] w, float[] dy) {
        int crs = s.c() * s.r() * s.s(), plane = s.outH() * s.outW(), k = s.k();
        float[] y = new float[(int) s.outputSize()], dx = new float[(int) s.inputSize()], dw = new float[(int) s.weightSize()];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment wSeg = seg(a, w), dwSeg = a.allocate(4L * dw.length), colsGrad = a.allocate(4L * crs * plane);
            for (int n = 0; n < s.n(); n++) {
                MemorySegment cols = seg(a, im2col(s, x, n));
                MemorySegment yn = a.allocate(4L * k * plane);
                MemorySegment dyn = seg(a, java.util.Arrays.copyOfRange(dy, n * k * plane, (n + 1) * k * plane));
                GemmReference.sgemm(false, false, k, plane, crs, 1f, wSeg, 0, crs, cols, 0, plane, 0f, yn, 0, plane);
                MemorySegment.copy(yn, JAVA_FLOAT, 0, y, n * k * plane, k * plane);
                GemmReference.sgemm(false, true, k, crs, plane, 1f, dyn, 0, plane, cols, 0, plane,
                        n == 0 ? 0f : 1f, dwSeg, 0, crs);
                GemmReference.sgemm(true, false, crs, plane, k, 1f, wSeg, 0, crs, dyn, 0, plane, 0f, colsGrad, 0, plane);
                col2im(s, colsGrad, dx, n);
            }
            MemorySegment.copy(dwSeg, JAVA_FLOAT, 0, dw, 0, dw.length);
        }
        return new float[][] {y, dx, dw};
    }

    private static void col2im(ConvShape s, MemorySegment cols, float[] dx, int n) {
        int oh = s.outH(), ow = s.outW();
        for (int c = 0; c < s.c(); c++)
            for (int r = 0; r < s.r(); r++)
                for (int t = 0; t < s.s(); t++)
                    for (int p = 0; p < oh; p++)
                        for (int q = 0; q < ow; q++) {
                            int ih = in(p, r, s, s.h()), iw = in(q, t, s, s.w());
                            if (ih < 0 || iw < 0) continue;
                            dx[((n * s.c() + c) * s.h() + ih) * s.w() + iw] +=
                                    cols.getAtIndex(JAVA_FLOAT, (((c * s.r() + r) * s.s() + t) * oh + p) * ow + q);
                        }
    }

    private static MemorySegment seg(Arena a, float[] v) {
        MemorySegment m = a.allocate(4L * Math.max(v.length, 1), 64);
        MemorySegment.copy(v, 0, m, JAVA_FLOAT, 0, v.length);
        return m;
    }
}
