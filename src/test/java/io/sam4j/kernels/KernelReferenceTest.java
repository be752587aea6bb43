package io.sam4j.kernels;

import static io.sam4j.kernels.KernelTestSupport.at;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Checks the formulas themselves on hand-picked 3-element inputs, with the expected values written
 * out from the Kernels javadoc in double. Each 3-element pattern is tiled REPS times so the vector
 * kernels run whole vectors as well as their tail; sums are REPS times the 3-element sum.
 */
class KernelReferenceTest {
    private static final int REPS = 11; // 33 floats: vectors plus a tail for 4-, 8- and 16-lane species
    private static final double TOL = 1e-6;

    static Stream<Kernels> kernels() {
        return Stream.of(ScalarKernels.INSTANCE, new VectorKernels());
    }

    private static final float[] G = {0.5f, -1.25f, 2f};
    private static final float[] M = {0.25f, 0.5f, -1f};
    private static final float[] W = {1f, -2f, 0.5f};

    private static MemorySegment tiled(Arena a, float... v) {
        float[] t = new float[v.length * REPS];
        for (int i = 0; i < t.length; i++) t[i] = v[i % v.length];
        return KernelTestSupport.of(a, t);
    }

    private static long n() {
        return 3L * REPS;
    }

    private static void assertPattern(String what, MemorySegment s, double... expected) {
        for (long i = 0; i < n(); i++) {
            double e = expected[(int) (i % 3)];
            float got = at(s, i);
            if (!(Math.abs(got - e) <= TOL * Math.max(1, Math.abs(e)))) fail(what + "[" + i + "]: expected " + e + " got " + got);
        }
    }

    private static void assertTotal(String what, double perPattern, double got) {
        double e = perPattern * REPS;
        assertEquals(e, got, TOL * Math.max(1, Math.abs(e)), what);
    }

    private static double sq(double x) {
        return x * x;
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void blas1(Kernels k) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment x = tiled(a, 1, 2, 3), y = tiled(a, 4, -5, 6);
            assertTotal("sumSquares", 14, k.sumSquares(x, 0, n()));
            assertEquals(4 + 9, k.sumSquares(x, 1, 3), 0, "sumSquares sub-range");
            assertEquals(0, k.sumSquares(x, 5, 5), 0, "empty range");
            assertTotal("dot", 4 - 10 + 18, k.dot(x, y, 0, n()));
            k.axpy(2, x, y, 0, n());
            assertPattern("axpy", y, 6, -1, 12);
            MemorySegment t = tiled(a, 9, 9, 9);
            k.triad(x, -2, y, t, 0, n());
            assertPattern("triad", t, 1 - 12, 2 + 2, 3 - 24);
            k.scale(0.5f, x, 0, n());
            assertPattern("scale", x, 0.5, 1, 1.5);
            k.copy(x, y, 0, n());
            assertPattern("copy", y, 0.5, 1, 1.5);
            k.fill(-3, y, 0, n());
            assertPattern("fill", y, -3, -3, -3);
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void normalisation(Kernels k) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment x = tiled(a, 1, 2, 4.5f), dy = tiled(a, G), y = tiled(a, 0, 0, 0);
            assertTotal("sum", 7.5, k.sum(x, 0, n()));
            assertEquals(6.5, k.sum(x, 1, 3), 0, "sum sub-range");
            assertEquals(0, k.sum(x, 4, 4), 0, "empty range");
            // deviations from 2.5: {-1.5, -0.5, 2}
            assertTotal("sum (x - 2.5)^2", 2.25 + 0.25 + 4, k.sumSquaredDeviation(x, 2.5f, 0, n()));
            assertTotal("sum dy (x - 2.5)", 0.5 * -1.5 + -1.25 * -0.5 + 2 * 2, k.dotDeviation(dy, x, 2.5f, 0, n()));
            k.affine(x, y, 2, -1, 0, n());
            assertPattern("affine", y, 1, 3, 8);
            k.affine2(dy, x, y, 2, -0.5f, 0.25f, 0, n());
            assertPattern("affine2", y, 1 - 0.5 + 0.25, -2.5 - 1 + 0.25, 4 - 2.25 + 0.25);
            k.affine(x, x, -1, 0.5f, 0, n());
            assertPattern("affine in place", x, -0.5, -1.5, -4);
        }
    }

    /**
     * A 3 x 22 plane (the third row is past the floor, 11 windows: a vector plus an overlapping one),
     * windows cycling through five kinds, each {a, b, c, d} = {top left, top right, bottom left,
     * bottom right} with its expected maximum and position (0..3).
     */
    @ParameterizedTest
    @MethodSource("kernels")
    void maxPool2x2(Kernels k) {
        float nan = Float.NaN;
        float[][] windows = {
                {1, 3, 3, 2}, // tie: the first 3 (b)
                {-0f, 0f, 0f, -1}, // -0.0 == 0.0: the first, a, keeps its sign
                {5, nan, 7, nan}, // NaN wins, the last NaN (d)
                {-2, -3, -1, -4}, // c
                {nan, 9, 1, 2}}; // nothing replaces a NaN (a)
        float[] maxima = {3, -0f, nan, -1, nan};
        int[] position = {1, 0, 3, 2, 0};
        int h = 3, w = 22, outW = 11;
        float[] plane = new float[h * w];
        java.util.Arrays.fill(plane, 100); // the floor drops the third row
        for (int j = 0; j < outW; j++) {
            float[] win = windows[j % windows.length];
            plane[2 * j] = win[0];
            plane[2 * j + 1] = win[1];
            plane[w + 2 * j] = win[2];
            plane[w + 2 * j + 1] = win[3];
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment x = KernelTestSupport.of(a, plane), y = tiled(a, 0, 0, 0), argmax = tiled(a, 0, 0, 0);
            k.maxPool2x2(x, 0, h, w, y, argmax, 0);
            for (int j = 0; j < outW; j++) {
                int kind = j % windows.length, p = position[kind];
                assertEquals(Float.floatToRawIntBits(maxima[kind]), Float.floatToRawIntBits(at(y, j)), "y[" + j + "]");
                assertEquals(2 * j + (p & 1) + (p >> 1) * w, argmax.getAtIndex(java.lang.foreign.ValueLayout.JAVA_INT, j),
                        "argmax[" + j + "]");
            }
        }
    }

    /** Each implementation at both block widths (8: nChw8c, 16: nChw16c), whatever this CPU's oneDNN picks. */
    static Stream<Arguments> kernelsAndWidths() {
        return kernels().flatMap(k -> Stream.of(Arguments.of(k, 8), Arguments.of(k, 16)));
    }

    /**
     * Three pixels of L lanes (channels), x = (l + 1)(p + 1) for lane l at pixel p: per lane the sum is
     * 6(l + 1), deviations from c = 2(l + 1) are (l + 1){-1, 0, 1}. Written at offset 2 of per-lane arrays.
     */
    @ParameterizedTest
    @MethodSource("kernelsAndWidths")
    void blockedLanes(Kernels k, int L) {
        int at = 2, n = 3 * L;
        float[] xs = new float[n], ys = new float[n], c = new float[L + 2], p = new float[L + 2], q = new float[L + 2];
        for (int px = 0; px < 3; px++) {
            for (int l = 0; l < L; l++) {
                xs[L * px + l] = (l + 1) * (px + 1);
                ys[L * px + l] = px - 1; // -1, 0, 1
            }
        }
        for (int l = 0; l < L; l++) {
            c[at + l] = 2 * (l + 1);
            p[at + l] = l;
            q[at + l] = -1;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment x = KernelTestSupport.of(a, xs), y = KernelTestSupport.of(a, ys), out = KernelTestSupport.of(a, new float[n]);
            double[] sum = new double[L + 2], sq = new double[L + 2], dot = new double[L + 2];
            sum[0] = sum[at] = 1; // adds: lane 0's 1 stays on top, entries outside the lanes stay
            k.sumLanes(L, x, 0, n, sum, at);
            k.sumSquaredDeviationLanes(L, x, c, 0, n, sq, at);
            k.dotDeviationLanes(L, y, x, c, 0, n, dot, at);
            assertEquals(1, sum[0], 0, "outside the lanes");
            assertEquals(1 + 6, sum[at], 0, "lane 0 adds");
            for (int l = 1; l < L; l++) {
                assertEquals(6 * (l + 1), sum[at + l], 0, "sumLanes lane " + l);
                assertEquals(2 * sq(l + 1), sq[at + l], 0, "sumSquaredDeviationLanes lane " + l);
                assertEquals(2 * (l + 1), dot[at + l], 0, "dotDeviationLanes lane " + l); // -1*-(l+1) + 1*(l+1)
            }
            k.affineLanes(L, x, out, p, q, at, L, n); // pixels 1 and 2 only
            for (int l = 0; l < L; l++) {
                assertEquals(0, at(out, l), 0, "affineLanes left pixel 0");
                assertEquals(l * 2 * (l + 1) - 1, at(out, L + l), 0, "affineLanes pixel 1 lane " + l);
                assertEquals(l * 3 * (l + 1) - 1, at(out, 2 * L + l), 0, "affineLanes pixel 2 lane " + l);
            }
            k.affine2Lanes(L, y, x, out, q, p, c, at, 0, n); // -y + l x + 2(l + 1)
            for (int px = 0; px < 3; px++) {
                for (int l = 0; l < L; l++) {
                    assertEquals(-(px - 1) + l * (l + 1) * (px + 1) + 2 * (l + 1), at(out, L * px + l), 0, "affine2Lanes");
                }
            }
            k.fillLanes(L, c, at, out, L, 2 * L);
            for (int l = 0; l < L; l++) assertEquals(2 * (l + 1), at(out, L + l), 0, "fillLanes lane " + l);
        }
    }

    /**
     * One 2x2 window per lane in a 3x3 blocked plane (the last row and column are past the floor): lanes
     * 0..4 are maxPool2x2's five window kinds, then a strictly decreasing, an increasing and an all-equal one;
     * at width 16 lanes 8..15 repeat them in reverse order.
     */
    @ParameterizedTest
    @MethodSource("kernelsAndWidths")
    void maxPool2x2Lanes(Kernels k, int L) {
        float nan = Float.NaN;
        float[][] kinds = {{1, 3, 3, 2}, {-0f, 0f, 0f, -1}, {5, nan, 7, nan}, {-2, -3, -1, -4}, {nan, 9, 1, 2},
                {4, 3, 2, 1}, {1, 2, 3, 4}, {0, 0, 0, 0}};
        float[] kindMax = {3, -0f, nan, -1, nan, 4, 4, 0};
        int[] kindPixel = {1, 0, 4, 3, 0, 0, 4, 0}; // a, b, c, d are pixels 0, 1, 3, 4 of the 3x3 plane
        int[] window = {0, 1, 3, 4};
        int[] kind = new int[L];
        for (int l = 0; l < L; l++) kind[l] = l < 8 ? l : 15 - l;
        float[] plane = new float[9 * L];
        java.util.Arrays.fill(plane, 100); // pixels 2, 5, 6, 7, 8: in no window
        for (int l = 0; l < L; l++) for (int j = 0; j < 4; j++) plane[L * window[j] + l] = kinds[kind[l]][j];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment x = KernelTestSupport.of(a, plane), y = KernelTestSupport.of(a, new float[L]);
            MemorySegment argmax = KernelTestSupport.of(a, new float[L]);
            k.maxPool2x2Lanes(L, x, 0, 3, 3, y, argmax, 0);
            for (int l = 0; l < L; l++) {
                assertEquals(Float.floatToRawIntBits(kindMax[kind[l]]), Float.floatToRawIntBits(at(y, l)), "y lane " + l);
                assertEquals(kindPixel[kind[l]], argmax.getAtIndex(java.lang.foreign.ValueLayout.JAVA_INT, l), "argmax lane " + l);
            }
            float[] nans = new float[9 * L], grads = new float[L];
            java.util.Arrays.fill(nans, nan);
            for (int l = 0; l < L; l++) grads[l] = l + 1;
            MemorySegment dy = KernelTestSupport.of(a, grads), dx = KernelTestSupport.of(a, nans);
            k.maxPool2x2LanesBackward(L, dy, argmax, 0, 3, 3, dx, 0);
            for (int px = 0; px < 9; px++) {
                for (int l = 0; l < L; l++) {
                    assertEquals(px == kindPixel[kind[l]] ? l + 1 : 0, at(dx, L * px + l), 0, "dx pixel " + px + " lane " + l);
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void directionStats(Kernels k) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment g = tiled(a, G), m = tiled(a, M), w = tiled(a, W);
            double[] acc = new double[2];
            // friendly, ASAM: T = |w| + 0.01 = {1.01, 2.01, 0.51}; d = g - 0.5 m = {0.375, -1.5, 2.5}
            k.directionStats(g, m, w, 0, n(), true, 0.5f, Scaling.absPlus(0.01f), acc);
            assertTotal("sum (Tg)^2", sq(1.01 * 0.5) + sq(2.01 * -1.25) + sq(0.51 * 2), acc[0]);
            assertTotal("sum (Td)^2", sq(1.01 * 0.375) + sq(2.01 * -1.5) + sq(0.51 * 2.5), acc[1]);
            // plain: T = 1, d = g; adds to what is already there
            k.directionStats(g, null, null, 0, n(), false, 0.5f, Scaling.IDENTITY, acc);
            double gg = 0.25 + 1.5625 + 4;
            assertTotal("acc0 accumulates", sq(1.01 * 0.5) + sq(2.01 * -1.25) + sq(0.51 * 2) + gg, acc[0]);
            assertTotal("acc1 accumulates", sq(1.01 * 0.375) + sq(2.01 * -1.5) + sq(0.51 * 2.5) + gg, acc[1]);
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void perturbFriendlyEmaAdaptive(Kernels k) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment g = tiled(a, G), m = tiled(a, M), w = tiled(a, W), w0 = tiled(a, 0, 0, 0);
            double[] acc = new double[2];
            k.perturb(w, w0, g, m, 0, n(), 0.1f, true, 0.5f, EmaUpdate.BLEND, 0.9f, Scaling.absPlus(0.01f), acc);
            // d uses the OLD m: {0.375, -1.5, 2.5}; e = 0.1 T^2 d
            double e0 = 0.1 * sq(1.01) * 0.375, e1 = 0.1 * sq(2.01) * -1.5, e2 = 0.1 * sq(0.51) * 2.5;
            assertPattern("w0 = old w", w0, 1, -2, 0.5);
            assertPattern("w = w + e", w, 1 + e0, -2 + e1, 0.5 + e2);
            assertPattern("m = 0.9 m + 0.1 g", m, 0.9 * 0.25 + 0.1 * 0.5, 0.9 * 0.5 + 0.1 * -1.25, 0.9 * -1 + 0.1 * 2);
            assertTotal("sum e^2", sq(e0) + sq(e1) + sq(e2), acc[0]);
            assertTotal("sum e g", e0 * 0.5 + e1 * -1.25 + e2 * 2, acc[1]);
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void perturbPlainEmaCopy(Kernels k) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment g = tiled(a, G), m = tiled(a, M), w = tiled(a, W), w0 = tiled(a, 0, 0, 0);
            double[] acc = new double[2];
            k.perturb(w, w0, g, m, 0, n(), 0.1f, false, 0.5f, EmaUpdate.SET, 0.9f, Scaling.IDENTITY, acc);
            assertPattern("w = w + 0.1 g", w, 1.05, -2.125, 0.7);
            assertPattern("m = g", m, 0.5, -1.25, 2);
            assertTotal("sum e^2", 0.01 * (0.25 + 1.5625 + 4), acc[0]);
            assertTotal("sum e g", 0.1 * (0.25 + 1.5625 + 4), acc[1]);
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void perturbDavdaAsamLeavesM(Kernels k) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment g = tiled(a, G), m = tiled(a, M), w = tiled(a, W), w0 = tiled(a, 0, 0, 0);
            double[] acc = new double[2];
            k.perturb(w, w0, g, m, 0, n(), 0.1f, false, 0.5f, EmaUpdate.KEEP, 0.9f, Scaling.absPlus(0f), acc); // T = |w|
            double e0 = 0.1 * 1 * 0.5, e1 = 0.1 * 4 * -1.25, e2 = 0.1 * 0.25 * 2;
            assertPattern("w", w, 1 + e0, -2 + e1, 0.5 + e2);
            assertPattern("m untouched", m, 0.25, 0.5, -1);
            assertTotal("sum e^2", sq(e0) + sq(e1) + sq(e2), acc[0]);
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void adversarialStats(Kernels k) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment g = tiled(a, G), w = tiled(a, W), w0 = tiled(a, 0.9f, -2.25f, 0.25f);
            double[] acc = new double[3];
            k.adversarialStats(w, w0, g, 0, n(), Scaling.absPlus(0.01f), acc);
            assertTotal("sum g^2", 0.25 + 1.5625 + 4, acc[0]);
            assertTotal("sum (Tg)^2, T from current w", sq(1.01 * 0.5) + sq(2.01 * -1.25) + sq(0.51 * 2), acc[1]);
            assertTotal("sum (w - w0) g", (1 - 0.9) * 0.5 + (-2 + 2.25) * -1.25 + (0.5 - 0.25) * 2, acc[2]);
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void sgdRestoreNesterov(Kernels k) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment g = tiled(a, G), b = tiled(a, M), w = tiled(a, 9, 9, 9), w0 = tiled(a, W);
            k.sgdStep(w, w0, g, b, 0, n(), 2f, 0.5f, 0.1f, 0.9f, true, false);
            // gg = 2 g + 0.1 w0 (decay on the restored w); b = 0.9 b + gg; step = gg + 0.9 b; w = w0 - 0.5 step
            double[] gg = {1 + 0.1, -2.5 - 0.2, 4 + 0.05};
            double[] bb = {0.9 * 0.25 + gg[0], 0.9 * 0.5 + gg[1], 0.9 * -1 + gg[2]};
            assertPattern("b", b, bb);
            assertPattern("w", w, 1 - 0.5 * (gg[0] + 0.9 * bb[0]), -2 - 0.5 * (gg[1] + 0.9 * bb[1]),
                    0.5 - 0.5 * (gg[2] + 0.9 * bb[2]));
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void sgdFirstAndPlain(Kernels k) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment g = tiled(a, G), b = tiled(a, 7, 7, 7), w = tiled(a, W);
            k.sgdStep(w, null, g, b, 0, n(), 1f, 0.5f, 0f, 0.9f, false, true);
            assertPattern("first: b = gg", b, 0.5, -1.25, 2);
            assertPattern("first: w -= lr b", w, 0.75, -1.375, -0.5);
            k.sgdStep(w, null, g, null, 0, n(), 1f, 0.5f, 0.1f, 0f, false, false);
            // mu = 0: no buffer, step = g + 0.1 w
            assertPattern("mu = 0", w, 0.75 - 0.5 * (0.5 + 0.075), -1.375 - 0.5 * (-1.25 - 0.1375), -0.5 - 0.5 * (2 - 0.05));
            assertPattern("b untouched", b, 0.5, -1.25, 2);
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void adamwRestore(Kernels k) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment g = tiled(a, G), m = tiled(a, 0.1f, -0.2f, 0f), v = tiled(a, 0.01f, 0.04f, 0f);
            MemorySegment w = tiled(a, 9, 9, 9), w0 = tiled(a, W);
            // Hyperparameters are floats; the expected values use exactly those (1 - 0.999f is 1.3e-5 off 0.001).
            float lr = 0.01f, wd = 0.1f, b1 = 0.9f, b2 = 0.999f, eps = 1e-3f;
            float bc1 = (float) (1 - (double) b1 * b1), bc2 = (float) (1 - (double) b2 * b2); // step t = 2
            k.adamwStep(w, w0, g, m, v, 0, n(), 2f, lr, wd, b1, b2, eps, bc1, bc2);
            double[] w0v = {1, -2, 0.5}, g0 = {0.5, -1.25, 2}, m0 = {0.1, -0.2, 0}, v0 = {0.01, 0.04, 0};
            double[] em = new double[3], ev = new double[3], ew = new double[3];
            for (int i = 0; i < 3; i++) {
                double gg = 2 * g0[i];
                em[i] = b1 * m0[i] + (1.0 - b1) * gg;
                ev[i] = b2 * v0[i] + (1.0 - b2) * gg * gg;
                ew[i] = w0v[i] * (1.0 - (double) lr * wd)
                        - (double) lr / bc1 * em[i] / (Math.sqrt(ev[i]) / Math.sqrt(bc2) + eps);
            }
            assertPattern("m", m, em);
            assertPattern("v", v, ev);
            assertPattern("w", w, ew);
        }
    }
}
