package io.sam4j.kernels;

import static io.sam4j.kernels.KernelTestSupport.absDot;
import static io.sam4j.kernels.KernelTestSupport.assertClose;
import static io.sam4j.kernels.KernelTestSupport.assertSame;
import static io.sam4j.kernels.KernelTestSupport.assertSum;
import static io.sam4j.kernels.KernelTestSupport.at;
import static io.sam4j.kernels.KernelTestSupport.copyOf;
import static io.sam4j.kernels.KernelTestSupport.random;
import static org.junit.jupiter.api.Assertions.assertEquals;

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
    private static final float[] ETAS = {Float.NaN, 0f, 0.01f};

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
            run(a, ctx + " scale", from, to, in, 0, (k, b, acc) -> k.scale(1.7f, b[0], from, to));
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
                for (float eta : ETAS) {
                    String c = ctx + " friendly=" + friendly + " eta=" + eta;
                    // Buffers the formula does not need are passed as null: neither kernel may read them.
                    MemorySegment[] in = {g, friendly ? m : null, Float.isNaN(eta) ? null : w};
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
                for (int ema = 0; ema <= 2; ema++) {
                    for (float eta : ETAS) {
                        String c = ctx + " friendly=" + friendly + " ema=" + ema + " eta=" + eta;
                        int emaMode = ema;
                        MemorySegment[] in = {w, w0, g, friendly || ema != 0 ? m : null};
                        Result r = run(a, c, from, to, in, 2, (k, b, acc) ->
                                k.perturb(b[0], b[1], b[2], b[3], from, to, 0.05f, friendly, 0.6f, emaMode, 0.95f, eta, acc));
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
            for (float eta : ETAS) {
                String c = ctx + " eta=" + eta;
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
