package io.sam4j.kernels;

import static io.sam4j.kernels.KernelTestSupport.absDot;
import static io.sam4j.kernels.KernelTestSupport.assertClose;
import static io.sam4j.kernels.KernelTestSupport.assertSame;
import static io.sam4j.kernels.KernelTestSupport.assertSum;
import static io.sam4j.kernels.KernelTestSupport.at;
import static io.sam4j.kernels.KernelTestSupport.copyOf;
import static io.sam4j.kernels.KernelTestSupport.random;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * VectorKernels against the ScalarKernels reference for every method, over sizes that exercise the
 * scalar tail, exactly one vector, several fold blocks, and a non-zero start offset, for every flag
 * combination. Elements outside [from, to) must stay untouched.
 */
class KernelParityTest {
    private static final long[] SIZES = {1, 7, 8, 9, 31, 1000, 1_000_003};
    private static final long[] FROMS = {0, 3};
    private static final int GUARD = 5; // untouched floats after `to`
    private static final double REL = 1e-6;
    private static final Scaling[] ETAS = {Scaling.IDENTITY, Scaling.absPlus(0f), Scaling.absPlus(0.01f)};

    private final Kernels ref = ScalarKernels.INSTANCE;
    private final Kernels vec = new VectorKernels();

    @FunctionalInterface
    interface Op {
        void apply(Kernels k, MemorySegment[] b, double[] acc);
    }

    /** Results of one op applied to identical copies of the inputs by both implementations. */
    record Result(MemorySegment[] in, MemorySegment[] ref, MemorySegment[] vec, double[] refAcc, double[] vecAcc) {}

    @FunctionalInterface
    interface Case {
        void run(Arena arena, SplittableRandom rnd, long from, long to, String ctx);
    }

    private static void forAllRanges(String name, Case c) {
        for (long n : SIZES) {
            for (long from : FROMS) {
                try (Arena arena = Arena.ofConfined()) {
                    c.run(arena, new SplittableRandom(n * 31 + from), from, from + n, name + " n=" + n + " from=" + from);
                }
            }
        }
    }

    private static MemorySegment buf(Arena a, SplittableRandom rnd, long to, float lo, float hi) {
        return random(a, to + GUARD, rnd, lo, hi);
    }

    /**
     * Runs op with both kernels on copies of {@code in} (null entries stay null) and checks every buffer
     * element-wise, plus that nothing outside [from, to) changed.
     */
    private Result run(Arena arena, String ctx, long from, long to, MemorySegment[] in, int accWidth, Op op) {
        MemorySegment[] r = new MemorySegment[in.length], v = new MemorySegment[in.length];
        for (int i = 0; i < in.length; i++) {
            r[i] = copyOf(arena, in[i]);
            v[i] = copyOf(arena, in[i]);
        }
        double[] ra = new double[accWidth], va = new double[accWidth];
        java.util.Arrays.fill(ra, 0.5); // kernels must add into acc, not overwrite it
        java.util.Arrays.fill(va, 0.5);
        op.apply(ref, r, ra);
        op.apply(vec, v, va);
        for (int i = 0; i < in.length; i++) {
            if (in[i] == null) continue;
            assertClose(ctx + " buffer " + i, r[i], v[i]);
            for (MemorySegment out : new MemorySegment[] {r[i], v[i]}) {
                assertSame(ctx + " buffer " + i + " before from", in[i].asSlice(0, 4 * from), out.asSlice(0, 4 * from));
                assertSame(ctx + " buffer " + i + " after to", in[i].asSlice(4 * to), out.asSlice(4 * to));
            }
        }
        return new Result(in, r, v, ra, va);
    }

    @Test
    void implementationsDiffer() {
        assertEquals("vector", vec.name());
        assertEquals("scalar", ref.name());
    }

    @Test
    void sumSquaresAndDot() {
        forAllRanges("sumSquares/dot", (a, rnd, from, to, ctx) -> {
            MemorySegment x = buf(a, rnd, to, -1, 1), y = buf(a, rnd, to, -1, 1);
            double r = ref.sumSquares(x, from, to);
            assertSum(ctx + " sumSquares", r, vec.sumSquares(x, from, to), r, REL);
            double d = ref.dot(x, y, from, to);
            assertSum(ctx + " dot", d, vec.dot(x, y, from, to), absDot(x, y, from, to), REL);
        });
    }

    @Test
    void blas1ElementWise() {
        forAllRanges("blas1", (a, rnd, from, to, ctx) -> {
            MemorySegment[] in = {buf(a, rnd, to, -1, 1), buf(a, rnd, to, -1, 1)};
            run(a, ctx + " axpy", from, to, in, 0, (k, b, acc) -> k.axpy(-0.37f, b[0], b[1], from, to));
            MemorySegment[] in3 = {in[0], in[1], buf(a, rnd, to, -1, 1)};
            run(a, ctx + " triad", from, to, in3, 0, (k, b, acc) -> k.triad(b[0], 0.61f, b[1], b[2], from, to));
            Result s = run(a, ctx + " scale", from, to, in, 0, (k, b, acc) -> k.scale(1.7f, b[0], from, to));
            Result st = run(a, ctx + " scaleTo", from, to, in, 0, (k, b, acc) -> k.scaleTo(1.7f, b[0], b[1], from, to));
            assertSame(ctx + " scaleTo exact", st.ref()[1], st.vec()[1]);
            // The all-reduce's out-of-place average relies on it: the same floats as the in-place scale.
            assertSame(ctx + " scaleTo = scale in place", s.vec()[0].asSlice(4 * from, 4 * (to - from)),
                    st.vec()[1].asSlice(4 * from, 4 * (to - from)));
            run(a, ctx + " fill", from, to, in, 0, (k, b, acc) -> k.fill(-2.5f, b[0], from, to));
            Result c = run(a, ctx + " copy", from, to, in, 0, (k, b, acc) -> k.copy(b[0], b[1], from, to));
            assertSame(ctx + " copy exact", c.ref()[1], c.vec()[1]);
            assertEquals(at(in[0], from), at(c.vec()[1], from), ctx + " copy moved data");
        });
    }

    @Test
    void normalisationReductions() {
        forAllRanges("normalisation sums", (a, rnd, from, to, ctx) -> {
            // x away from 0, as a channel before normalisation: sum(x - c) must not cancel to nothing.
            MemorySegment x = buf(a, rnd, to, 0.5f, 3f), y = buf(a, rnd, to, -1, 1);
            double absX = 0, absYD = 0;
            float c = 1.7f;
            for (long i = from; i < to; i++) {
                absX += Math.abs(at(x, i));
                absYD += Math.abs((double) at(y, i) * (at(x, i) - c));
            }
            assertSum(ctx + " sum", ref.sum(x, from, to), vec.sum(x, from, to), absX, REL);
            double sq = ref.sumSquaredDeviation(x, c, from, to);
            assertSum(ctx + " sumSquaredDeviation", sq, vec.sumSquaredDeviation(x, c, from, to), sq, REL);
            assertSum(ctx + " dotDeviation", ref.dotDeviation(y, x, c, from, to), vec.dotDeviation(y, x, c, from, to),
                    absYD, REL);
        });
    }

    @Test
    void affineMaps() {
        forAllRanges("affine", (a, rnd, from, to, ctx) -> {
            MemorySegment[] in = {buf(a, rnd, to, -1, 1), buf(a, rnd, to, -1, 1), buf(a, rnd, to, -1, 1)};
            run(a, ctx + " affine", from, to, in, 0, (k, b, acc) -> k.affine(b[0], b[1], 1.3f, -0.4f, from, to));
            run(a, ctx + " affine in place", from, to, in, 0, (k, b, acc) -> k.affine(b[0], b[0], -0.7f, 0.2f, from, to));
            run(a, ctx + " affine2", from, to, in, 0, (k, b, acc) -> k.affine2(b[0], b[1], b[2], 1.3f, -0.45f, 0.3f, from, to));
        });
    }

    /**
     * The fused BatchNorm + ReLU kernels of each implementation against its own unfused sequence (affine, relu,
     * reluBackward, then sum, dotDeviation, affine2 or affine) bit for bit: the gate is recomputed with the
     * forward's rounding, so the gated dy is the ReLU backward's. Then vector against scalar, with gate scales
     * that are powers of two (z rounds once either way, so both see the same gates).
     */
    @Test
    void fusedReluKernels() {
        forAllRanges("bn+relu", (a, rnd, from, to, ctx) -> {
            MemorySegment x = buf(a, rnd, to, -1, 1), dy = buf(a, rnd, to, -1, 1), init = buf(a, rnd, to, -1, 1);
            float s = 1.3f, t = -0.1f, c = 0.2f, p = 0.7f, q = -0.3f, r = 0.05f;
            for (Kernels k : new Kernels[] {ref, vec}) {
                String at = ctx + " " + k.name();
                MemorySegment z = copyOf(a, init), y = copyOf(a, init), g = copyOf(a, init), dx = copyOf(a, init), dx2 = copyOf(a, init);
                k.affine(x, z, s, t, from, to);
                k.relu(z, z, from, to);
                k.affineRelu(x, y, s, t, from, to);
                assertSame(at + " affineRelu", z, y);
                k.reluBackward(z, dy, g, from, to);
                assertEquals(k.sum(g, from, to), k.sumRelu(dy, x, s, t, from, to), at + " sumRelu");
                assertEquals(k.dotDeviation(g, x, c, from, to), k.dotDeviationRelu(dy, x, c, s, t, from, to), at + " dotDeviationRelu");
                k.affine2(g, x, dx, p, q, r, from, to);
                k.affine2Relu(dy, x, dx2, p, q, r, s, t, from, to);
                assertSame(at + " affine2Relu", dx, dx2);
                k.affine(g, dx, p, 0f, from, to); // BatchNorm's backward with running statistics
                k.affine2Relu(dy, x, dx2, p, 0f, 0f, s, t, from, to);
                assertSame(at + " affine2Relu as affine", dx, dx2);
            }
            MemorySegment[] in = {x, dy, init};
            run(a, ctx + " affineRelu", from, to, in, 0, (k, b, acc) -> k.affineRelu(b[0], b[2], 2f, t, from, to));
            run(a, ctx + " affine2Relu", from, to, in, 0, (k, b, acc) -> k.affine2Relu(b[1], b[0], b[2], p, q, r, -0.5f, t, from, to));
            double absD = 0, absDd = 0;
            for (long i = from; i < to; i++) {
                absD += Math.abs(at(dy, i));
                absDd += Math.abs(at(dy, i) * (at(x, i) - c));
            }
            assertSum(ctx + " sumRelu", ref.sumRelu(dy, x, 4f, t, from, to), vec.sumRelu(dy, x, 4f, t, from, to), absD, REL);
            assertSum(ctx + " dotDeviationRelu", ref.dotDeviationRelu(dy, x, c, 0.25f, t, from, to),
                    vec.dotDeviationRelu(dy, x, c, 0.25f, t, from, to), absDd, REL);
        });
    }

    /** {@link #fusedReluKernels} for the lane kernels, at both block widths. */
    @Test
    void fusedReluLaneKernels() {
        forAllPixelRanges("lane bn+relu", (a, rnd, from, to, L, ctx) -> {
            MemorySegment x = buf(a, rnd, to, -1, 1), dy = buf(a, rnd, to, -1, 1), init = buf(a, rnd, to, -1, 1);
            float[] s = lanes(rnd, -1.5f, 1.5f), t = lanes(rnd, -0.5f, 0.5f), c = lanes(rnd, -0.5f, 0.5f);
            float[] p = lanes(rnd, -1, 1), q = lanes(rnd, -1, 1), r = lanes(rnd, -1, 1), zero = new float[AT + MAX + 2];
            for (Kernels k : new Kernels[] {ref, vec}) {
                String at = ctx + " " + k.name();
                MemorySegment z = copyOf(a, init), y = copyOf(a, init), g = copyOf(a, init), dx = copyOf(a, init), dx2 = copyOf(a, init);
                k.affineLanes(L, x, z, s, t, AT, from, to);
                k.relu(z, z, from, to);
                k.affineReluLanes(L, x, y, s, t, AT, from, to);
                assertSame(at + " affineReluLanes", z, y);
                k.reluBackward(z, dy, g, from, to);
                // One pass, the gate applied inside: the two sums of separate passes over the gated dy, bit for bit.
                double[] u = halves(), w = halves(), ud = halves(), wd = halves();
                k.sumLanes(L, g, from, to, u, AT);
                k.dotDeviationLanes(L, g, x, c, from, to, ud, AT);
                k.sumAndDotDeviationReluLanes(L, dy, x, c, s, t, from, to, w, wd, AT);
                org.junit.jupiter.api.Assertions.assertArrayEquals(u, w, at + " sumAndDotDeviationReluLanes: sums");
                org.junit.jupiter.api.Assertions.assertArrayEquals(ud, wd, at + " sumAndDotDeviationReluLanes: dots");
                k.affine2Lanes(L, g, x, dx, p, q, r, AT, from, to);
                k.affine2ReluLanes(L, dy, x, dx2, p, q, r, s, t, AT, from, to);
                assertSame(at + " affine2ReluLanes", dx, dx2);
                k.affineLanes(L, g, dx, p, zero, AT, from, to);
                k.affine2ReluLanes(L, dy, x, dx2, p, zero, zero, s, t, AT, from, to);
                assertSame(at + " affine2ReluLanes as affineLanes", dx, dx2);
            }
            float[] pow2 = lanes(rnd, 0, 1);
            for (int l = 0; l < pow2.length; l++) pow2[l] = (l % 2 == 0 ? 1 : -1) * (float) Math.pow(2, l % 4 - 1);
            MemorySegment[] in = {x, dy, init};
            run(a, ctx + " affineReluLanes", from, to, in, 0, (k, b, acc) -> k.affineReluLanes(L, b[0], b[2], pow2, t, AT, from, to));
            run(a, ctx + " affine2ReluLanes", from, to, in, 0,
                    (k, b, acc) -> k.affine2ReluLanes(L, b[1], b[0], b[2], p, q, r, pow2, t, AT, from, to));
            double[] absD = new double[L], absDd = new double[L];
            for (long i = from; i < to; i++) {
                int l = (int) ((i - from) % L);
                absD[l] += Math.abs(at(dy, i));
                absDd[l] += Math.abs(at(dy, i) * (at(x, i) - c[AT + l]));
            }
            double[] u = halves(), w = halves(), ud = halves(), wd = halves();
            ref.sumAndDotDeviationReluLanes(L, dy, x, c, pow2, t, from, to, u, ud, AT);
            vec.sumAndDotDeviationReluLanes(L, dy, x, c, pow2, t, from, to, w, wd, AT);
            assertLaneSums(ctx + " sumAndDotDeviationReluLanes: sums", L, u, w, absD);
            assertLaneSums(ctx + " sumAndDotDeviationReluLanes: dots", L, ud, wd, absDd);
        });
    }

    /**
     * Shapes with odd h or w (floor), rows narrower than a vector (vectors spanning rows, scalar last
     * rows), exactly one vector, and an overlapping last vector; values from a small set, so that ties, -0.0 and NaN are common.
     */
    @Test
    void maxPool2x2() {
        int[][] shapes = {{2, 2}, {3, 5}, {12, 6}, {10, 8}, {9, 15}, {4, 14}, {14, 14}, {6, 16}, {5, 28}, {28, 28}, {7, 33},
                {2, 34}, {9, 64}, {4, 70}};
        float[] values = {-1f, -0f, 0f, 1f, 2f, Float.NaN};
        SplittableRandom rnd = new SplittableRandom(7);
        for (int[] shape : shapes) {
            int h = shape[0], w = shape[1], outLen = (h / 2) * (w / 2);
            for (long in : FROMS) {
                for (boolean discrete : new boolean[] {true, false}) {
                    String ctx = "maxPool2x2 " + h + "x" + w + " in=" + in + " discrete=" + discrete;
                    try (Arena a = Arena.ofConfined()) {
                        MemorySegment x = buf(a, rnd, in + (long) h * w, -1, 1);
                        if (discrete) {
                            for (long i = in; i < in + (long) h * w; i++) {
                                x.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i,
                                        values[rnd.nextInt(rnd.nextInt(8) == 0 ? values.length : values.length - 1)]);
                            }
                        }
                        long out = in + 2; // a different offset from the input's
                        MemorySegment y = buf(a, rnd, out + outLen, -1, 1), idx = buf(a, rnd, out + outLen, -1, 1);
                        MemorySegment ry = copyOf(a, y), rIdx = copyOf(a, idx), vy = copyOf(a, y), vIdx = copyOf(a, idx);
                        ref.maxPool2x2(x, in, h, w, ry, rIdx, out);
                        vec.maxPool2x2(x, in, h, w, vy, vIdx, out);
                        assertSame(ctx + " y", ry, vy);
                        assertSame(ctx + " argmax", rIdx, vIdx);
                        assertSame(ctx + " y before out", y.asSlice(0, 4 * out), vy.asSlice(0, 4 * out));
                        assertSame(ctx + " y after", y.asSlice(4 * (out + outLen)), vy.asSlice(4 * (out + outLen)));
                        assertSame(ctx + " argmax after", idx.asSlice(4 * (out + outLen)), vIdx.asSlice(4 * (out + outLen)));
                    }
                }
            }
        }
    }

    /** Whole pixels: one, a few (tails of the 4-vector unroll), several fold blocks (600 x 8 > 4096). */
    private static final long[] PIXELS = {1, 3, 4, 5, 127, 600, 130_001};
    /** Both block widths on every machine: the lane kernels are Java, whichever width oneDNN picks here. */
    private static final int[] WIDTHS = {8, 16};
    private static final int AT = 3; // per-lane arrays used at [AT, AT + lanes): a non-zero offset
    private static final int MAX = 16;

    private interface LaneCase {
        void run(Arena a, SplittableRandom rnd, long from, long to, int lanes, String ctx);
    }

    private static void forAllPixelRanges(String name, LaneCase c) {
        for (int lanes : WIDTHS) {
            for (long pixels : PIXELS) {
                for (long from : FROMS) {
                    try (Arena arena = Arena.ofConfined()) {
                        c.run(arena, new SplittableRandom(pixels * 17 + from + lanes), from, from + lanes * pixels, lanes,
                                name + " lanes=" + lanes + " pixels=" + pixels + " from=" + from);
                    }
                }
            }
        }
    }

    private static float[] lanes(SplittableRandom rnd, float lo, float hi) {
        float[] v = new float[AT + MAX + 2];
        for (int i = 0; i < v.length; i++) v[i] = lo + (hi - lo) * (float) rnd.nextDouble();
        return v;
    }

    /** Per-lane sums of both kernels within REL of each lane's sum of |terms|; entries outside [AT, AT + lanes) untouched. */
    private static void assertLaneSums(String ctx, int lanes, double[] expected, double[] actual, double[] scale) {
        for (int i = 0; i < expected.length; i++) {
            if (i < AT || i >= AT + lanes) {
                assertEquals(0.5, expected[i], ctx + " ref acc[" + i + "] outside the lanes");
                assertEquals(0.5, actual[i], ctx + " vec acc[" + i + "] outside the lanes");
            } else {
                assertSum(ctx + " lane " + (i - AT), expected[i], actual[i], scale[i - AT], REL);
            }
        }
    }

    private static double[] halves() {
        double[] acc = new double[AT + MAX + 2];
        java.util.Arrays.fill(acc, 0.5); // kernels must add into acc, not overwrite it
        return acc;
    }

    @Test
    void laneReductions() {
        forAllPixelRanges("lane sums", (a, rnd, from, to, L, ctx) -> {
            MemorySegment x = buf(a, rnd, to, 0.5f, 3f), y = buf(a, rnd, to, -1, 1);
            float[] c = lanes(rnd, 1f, 2.5f);
            double[] absX = new double[L], absSq = new double[L], absYD = new double[L];
            for (long i = from; i < to; i++) {
                int l = (int) ((i - from) % L);
                float d = at(x, i) - c[AT + l];
                absX[l] += Math.abs(at(x, i));
                absSq[l] += (double) d * d;
                absYD[l] += Math.abs((double) at(y, i) * d);
            }
            double[] r = halves(), v = halves();
            ref.sumLanes(L, x, from, to, r, AT);
            vec.sumLanes(L, x, from, to, v, AT);
            assertLaneSums(ctx + " sumLanes", L, r, v, absX);
            r = halves();
            v = halves();
            ref.sumSquaredDeviationLanes(L, x, c, from, to, r, AT);
            vec.sumSquaredDeviationLanes(L, x, c, from, to, v, AT);
            assertLaneSums(ctx + " sumSquaredDeviationLanes", L, r, v, absSq);
            r = halves();
            v = halves();
            ref.dotDeviationLanes(L, y, x, c, from, to, r, AT);
            vec.dotDeviationLanes(L, y, x, c, from, to, v, AT);
            assertLaneSums(ctx + " dotDeviationLanes", L, r, v, absYD);
            // Lane l is channel l: the reference's lane sum is the plain sum over that lane's elements.
            int lane = L - 3; // in the second half of a 16-wide block
            double byHand = 0.5;
            for (long i = from + lane; i < to; i += L) byHand += at(x, i);
            double[] s = halves();
            ref.sumLanes(L, x, from, to, s, AT);
            assertEquals(byHand, s[AT + lane], 1e-9 * Math.max(1, Math.abs(byHand)), ctx + " lane " + lane + " by hand");
        });
    }

    @Test
    void laneAffineMapsAndFill() {
        forAllPixelRanges("lane affine", (a, rnd, from, to, L, ctx) -> {
            MemorySegment[] in = {buf(a, rnd, to, -1, 1), buf(a, rnd, to, -1, 1), buf(a, rnd, to, -1, 1)};
            float[] p = lanes(rnd, -1.5f, 1.5f), q = lanes(rnd, -1, 1), r = lanes(rnd, -0.5f, 0.5f);
            run(a, ctx + " affineLanes", from, to, in, 0, (k, b, acc) -> k.affineLanes(L, b[0], b[1], p, q, AT, from, to));
            run(a, ctx + " affineLanes in place", from, to, in, 0, (k, b, acc) -> k.affineLanes(L, b[0], b[0], p, q, AT, from, to));
            run(a, ctx + " affine2Lanes", from, to, in, 0, (k, b, acc) -> k.affine2Lanes(L, b[0], b[1], b[2], p, q, r, AT, from, to));
            Result f = run(a, ctx + " fillLanes", from, to, in, 0, (k, b, acc) -> k.fillLanes(L, r, AT, b[0], from, to));
            assertSame(ctx + " fillLanes exact", f.ref()[0], f.vec()[0]);
            assertEquals(r[AT + L - 2], at(f.vec()[0], to - 2), ctx + " fillLanes last pixel, lane " + (L - 2));
        });
    }

    @Test
    void laneKernelsRejectPartialPixels() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment x = buf(a, new SplittableRandom(1), 16, -1, 1);
            for (Kernels k : new Kernels[] {ref, vec}) {
                assertThrows(IllegalArgumentException.class, () -> k.sumLanes(8, x, 0, 12, new double[8], 0), k.name());
                assertThrows(IllegalArgumentException.class, () -> k.fillLanes(8, new float[8], 0, x, 1, 8), k.name());
                assertThrows(IllegalArgumentException.class, () -> k.sumLanes(16, x, 0, 8, new double[16], 0), k.name());
                assertThrows(IllegalArgumentException.class, () -> k.sumLanes(4, x, 0, 8, new double[8], 0), k.name());
            }
        }
    }

    /**
     * Blocked planes with odd h or w (floor: pixels in no window), 1-pixel outputs, and wide rows; values
     * from a small set, so that ties, -0.0 and NaN are common. Forward and backward must agree bit for bit.
     */
    @Test
    void maxPool2x2Lanes() {
        int[][] shapes = {{2, 2}, {3, 3}, {3, 5}, {4, 7}, {12, 6}, {9, 15}, {14, 14}, {28, 28}, {5, 33}};
        float[] values = {-1f, -0f, 0f, 1f, 2f, Float.NaN};
        SplittableRandom rnd = new SplittableRandom(8);
        for (int L : WIDTHS) for (int[] shape : shapes) {
            int h = shape[0], w = shape[1];
            long inLen = (long) L * h * w, outLen = (long) L * (h / 2) * (w / 2);
            for (long in : FROMS) {
                for (boolean discrete : new boolean[] {true, false}) {
                    String ctx = "maxPool2x2Lanes lanes=" + L + " " + h + "x" + w + " in=" + in + " discrete=" + discrete;
                    try (Arena a = Arena.ofConfined()) {
                        MemorySegment x = buf(a, rnd, in + inLen, -1, 1);
                        if (discrete) {
                            for (long i = in; i < in + inLen; i++) {
                                x.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i,
                                        values[rnd.nextInt(rnd.nextInt(8) == 0 ? values.length : values.length - 1)]);
                            }
                        }
                        long out = in + 2;
                        MemorySegment y = buf(a, rnd, out + outLen, -1, 1), idx = buf(a, rnd, out + outLen, -1, 1);
                        MemorySegment ry = copyOf(a, y), rIdx = copyOf(a, idx), vy = copyOf(a, y), vIdx = copyOf(a, idx);
                        ref.maxPool2x2Lanes(L, x, in, h, w, ry, rIdx, out);
                        vec.maxPool2x2Lanes(L, x, in, h, w, vy, vIdx, out);
                        assertSame(ctx + " y", ry, vy);
                        assertSame(ctx + " argmax", rIdx, vIdx);
                        assertSame(ctx + " y before out", y.asSlice(0, 4 * out), vy.asSlice(0, 4 * out));
                        assertSame(ctx + " y after", y.asSlice(4 * (out + outLen)), vy.asSlice(4 * (out + outLen)));
                        // Backward into a NaN-filled dx: every pixel of the plane must be written, nothing else.
                        MemorySegment dy = buf(a, rnd, out + outLen, -1, 1), dx = buf(a, rnd, in + inLen + GUARD, -1, 1);
                        for (long i = in; i < in + inLen; i++) dx.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, Float.NaN);
                        MemorySegment rdx = copyOf(a, dx), vdx = copyOf(a, dx);
                        ref.maxPool2x2LanesBackward(L, dy, rIdx, out, h, w, rdx, in);
                        vec.maxPool2x2LanesBackward(L, dy, vIdx, out, h, w, vdx, in);
                        assertSame(ctx + " dx", rdx, vdx);
                        assertSame(ctx + " dx before in", dx.asSlice(0, 4 * in), vdx.asSlice(0, 4 * in));
                        assertSame(ctx + " dx after", dx.asSlice(4 * (in + inLen)), vdx.asSlice(4 * (in + inLen)));
                        double sumDy = 0, sumDx = 0;
                        for (long i = 0; i < outLen; i++) sumDy += at(dy, out + i);
                        for (long i = 0; i < inLen; i++) {
                            float g = at(vdx, in + i);
                            if (Float.isNaN(g)) throw new AssertionError(ctx + " dx[" + i + "] not written");
                            sumDx += g;
                        }
                        assertEquals(sumDy, sumDx, 1e-9, ctx + " every dy lands once");
                    }
                }
            }
        }
    }

    @Test
    void reluForwardAndBackward() {
        forAllRanges("relu", (a, rnd, from, to, ctx) -> {
            MemorySegment[] in = {buf(a, rnd, to, -1, 1), buf(a, rnd, to, -1, 1), buf(a, rnd, to, -1, 1)};
            Result f = run(a, ctx + " relu", from, to, in, 0, (k, b, acc) -> k.relu(b[0], b[1], from, to));
            assertSame(ctx + " relu exact", f.ref()[1], f.vec()[1]);
            Result g = run(a, ctx + " reluBackward", from, to, in, 0, (k, b, acc) -> k.reluBackward(b[0], b[1], b[2], from, to));
            assertSame(ctx + " reluBackward exact", g.ref()[2], g.vec()[2]);
            if (to - from > 2) {
                float y = at(in[0], from), dy = at(in[1], from);
                assertEquals(y > 0 ? dy : 0f, at(g.vec()[2], from), ctx + " reluBackward masks by the saved output");
                assertEquals(Math.max(y, 0f), at(f.vec()[1], from), ctx + " relu value");
            }
        });
    }

    @Test
    void directionStats() {
        forAllRanges("directionStats", (a, rnd, from, to, ctx) -> {
            MemorySegment g = buf(a, rnd, to, -1, 1), m = buf(a, rnd, to, -1, 1), w = buf(a, rnd, to, -1, 1);
            for (boolean friendly : new boolean[] {false, true}) {
                for (Scaling eta : ETAS) {
                    String c = ctx + " friendly=" + friendly + " T=" + eta;
                    // Buffers the formula does not need are passed as null: neither kernel may read them.
                    MemorySegment[] in = {g, friendly ? m : null, eta.adaptive() ? w : null};
                    Result r = run(a, c, from, to, in, 2, (k, b, acc) ->
                            k.directionStats(b[0], b[1], b[2], from, to, friendly, 0.6f, eta, acc));
                    assertSum(c + " acc0", r.refAcc()[0], r.vecAcc()[0], r.refAcc()[0], REL);
                    assertSum(c + " acc1", r.refAcc()[1], r.vecAcc()[1], r.refAcc()[1], REL);
                }
            }
        });
    }

    @Test
    void perturb() {
        forAllRanges("perturb", (a, rnd, from, to, ctx) -> {
            MemorySegment w = buf(a, rnd, to, -1, 1), w0 = buf(a, rnd, to, -1, 1);
            MemorySegment g = buf(a, rnd, to, -1, 1), m = buf(a, rnd, to, -1, 1);
            double gg = ref.sumSquares(g, from, to);
            for (boolean friendly : new boolean[] {false, true}) {
                for (EmaUpdate ema : EmaUpdate.values()) {
                    for (Scaling eta : ETAS) {
                        String c = ctx + " friendly=" + friendly + " ema=" + ema + " T=" + eta;
                        MemorySegment[] in = {w, w0, g, friendly || ema != EmaUpdate.KEEP ? m : null};
                        Result r = run(a, c, from, to, in, 2, (k, b, acc) ->
                                k.perturb(b[0], b[1], b[2], b[3], from, to, 0.05f, friendly, 0.6f, ema, 0.95f, eta, acc));
                        assertSame(c + " w0 saved", w.asSlice(4 * from, 4 * (to - from)), r.vec()[1].asSlice(4 * from, 4 * (to - from)));
                        double ee = r.refAcc()[0];
                        assertSum(c + " sum e^2", ee, r.vecAcc()[0], ee, REL);
                        assertSum(c + " sum e*g", r.refAcc()[1], r.vecAcc()[1], Math.sqrt(ee * gg), REL);
                    }
                }
            }
        });
    }

    @Test
    void adversarialStats() {
        forAllRanges("adversarialStats", (a, rnd, from, to, ctx) -> {
            MemorySegment w = buf(a, rnd, to, -1, 1), w0 = buf(a, rnd, to, -1, 1), g = buf(a, rnd, to, -1, 1);
            double eScale = 0; // sum |(w - w0) g|
            for (long i = from; i < to; i++) eScale += Math.abs((double) (at(w, i) - at(w0, i)) * at(g, i));
            for (Scaling eta : ETAS) {
                String c = ctx + " T=" + eta;
                Result r = run(a, c, from, to, new MemorySegment[] {w, w0, g}, 3, (k, b, acc) ->
                        k.adversarialStats(b[0], b[1], b[2], from, to, eta, acc));
                assertSum(c + " acc0", r.refAcc()[0], r.vecAcc()[0], r.refAcc()[0], REL);
                assertSum(c + " acc1", r.refAcc()[1], r.vecAcc()[1], r.refAcc()[1], REL);
                assertSum(c + " acc2", r.refAcc()[2], r.vecAcc()[2], eScale, REL);
            }
        });
    }

    @Test
    void sgdStep() {
        forAllRanges("sgdStep", (a, rnd, from, to, ctx) -> {
            MemorySegment w = buf(a, rnd, to, -1, 1), w0 = buf(a, rnd, to, -1, 1);
            MemorySegment g = buf(a, rnd, to, -1, 1), b = buf(a, rnd, to, -1, 1);
            for (boolean restore : new boolean[] {false, true}) {
                for (float mu : new float[] {0f, 0.9f}) {
                    for (boolean nesterov : new boolean[] {false, true}) {
                        for (boolean first : new boolean[] {false, true}) {
                            String c = ctx + " w0=" + restore + " mu=" + mu + " nesterov=" + nesterov + " first=" + first;
                            MemorySegment[] in = {w, restore ? w0 : null, g, mu == 0f ? null : b};
                            run(a, c, from, to, in, 0, (k, s, acc) ->
                                    k.sgdStep(s[0], s[1], s[2], s[3], from, to, 0.5f, 0.1f, 5e-4f, mu, nesterov, first));
                        }
                    }
                }
            }
        });
    }

    @Test
    void adamwStep() {
        forAllRanges("adamwStep", (a, rnd, from, to, ctx) -> {
            MemorySegment w = buf(a, rnd, to, -1, 1), w0 = buf(a, rnd, to, -1, 1), g = buf(a, rnd, to, -1, 1);
            MemorySegment m = buf(a, rnd, to, -0.1f, 0.1f), v = buf(a, rnd, to, 0, 0.01f);
            // eps = 1e-3 is comparable to sqrt(v)/sqrt(bc2) here, so dropping it would show.
            float bc1 = (float) (1 - Math.pow(0.9, 3)), bc2 = (float) (1 - Math.pow(0.999, 3));
            for (boolean restore : new boolean[] {false, true}) {
                String c = ctx + " w0=" + restore;
                run(a, c, from, to, new MemorySegment[] {w, restore ? w0 : null, g, m, v}, 0, (k, s, acc) ->
                        k.adamwStep(s[0], s[1], s[2], s[3], s[4], from, to, 0.5f, 1e-3f, 0.01f, 0.9f, 0.999f, 1e-3f, bc1, bc2));
            }
        });
    }
}
