package io.sam4j.nn;

import static io.sam4j.TestUtil.assertPaddedLanesZero;
import static io.sam4j.TestUtil.blocked;
import static io.sam4j.TestUtil.toArray;
import static io.sam4j.TestUtil.unblocked;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.fail;

import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import java.util.stream.Stream;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every Java layer in the blocked layouts (nChw8c and nChw16c, on every machine: the lane kernels are Java)
 * against itself in NCHW: the test reorders a random NCHW input with its own helper, runs both layouts, and
 * compares outputs, input gradients and parameter gradients; padded lanes must come out zero. 21 channels:
 * full blocks and a last one with 3 (width 8) or 11 (width 16) padded lanes.
 */
class BlockedLayersTest {
    private static final int N = 3, C = 21, H = 7, W = 5, PLANE = H * W;
    private static final int[] IN = {C, H, W};

    /** A layer declared on its own context in one layout, its store filled from {@code seed}. */
    private static final class Built implements AutoCloseable {
        final Context ctx;
        final Layer layer;
        final ParameterStore store;
        final int[] out;

        /** {@code lanes}: the block width, 0 for NCHW. */
        Built(Supplier<Layer> make, int[] in, int lanes, int threads) {
            ctx = new Context(new Parallel(threads), KernelsProvider.get());
            layer = make.get();
            ParameterStore.Builder b = ParameterStore.builder();
            out = layer.declare(in, "", b, ctx);
            store = b.build();
            layer.bind(store);
            layer.initialize(store, new SplittableRandom(1));
            ctx.setLanes(lanes);
        }

        /** Non-trivial parameters and buffers (gamma around 1, running variance positive). */
        void randomize(long seed) {
            Random r = new Random(seed);
            for (long i = 0; i < store.paramLength(); i++) store.params().setAtIndex(ValueLayout.JAVA_FLOAT, i, 0.5f + r.nextFloat());
            for (long i = 0; i < store.bufferLength(); i++) store.buffers().setAtIndex(ValueLayout.JAVA_FLOAT, i, 0.5f + r.nextFloat());
        }

        @Override
        public void close() {
            store.close();
            ctx.close();
        }
    }

    private static float[] input(Random r, int n, int c, int plane) {
        float[] x = new float[n * c * plane];
        for (int i = 0; i < x.length; i++) x[i] = (float) ((i / plane) % c % 11 - 3 + (1 + (i / plane) % 3) * r.nextGaussian()); // means -3..7
        return x;
    }

    private static MemorySegment seg(Arena a, float[] v) {
        MemorySegment s = a.allocate(4L * Math.max(1, v.length), 64);
        MemorySegment.copy(v, 0, s, ValueLayout.JAVA_FLOAT, 0, v.length);
        return s;
    }

    private static void assertClose(String what, float[] expected, float[] actual, double tol) {
        assertEquals(expected.length, actual.length, what + " length");
        for (int i = 0; i < expected.length; i++) {
            if (!(Math.abs(expected[i] - actual[i]) <= tol * (1 + Math.abs(expected[i])))) {
                fail(what + "[" + i + "]: expected " + expected[i] + " got " + actual[i]);
            }
        }
    }

    private static void assertBits(String what, float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, what + " length");
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                fail(what + "[" + i + "]: expected " + expected[i] + " got " + actual[i]);
            }
        }
    }

    static Stream<Arguments> modesAndWidths() {
        return Stream.of(Mode.values()).flatMap(m -> Stream.of(Arguments.of(m, 8), Arguments.of(m, 16)));
    }

    private static int padded(int c, int lanes) {
        return BlockedLayout.paddedChannels(c, lanes);
    }

    @ParameterizedTest
    @MethodSource("modesAndWidths")
    void batchNormMatchesThePlainLayout(Mode mode, int L) {
        Random r = new Random(mode.ordinal());
        float[] x = input(r, N, C, PLANE), dy = input(r, N, C, PLANE);
        try (Built plain = new Built(() -> new BatchNorm2d(C), IN, 0, 2);
             Built blk = new Built(() -> new BatchNorm2d(C), IN, L, 2); Arena a = Arena.ofShared()) {
            plain.randomize(5);
            blk.randomize(5);
            for (int step = 0; step < 2; step++) {
                String at = mode + " lanes=" + L; // the second TRAIN step starts from updated running statistics
                float[] statsBefore = new float[2 * C]; // running_mean, running_var
                MemorySegment.copy(plain.store.slice(plain.store.tensor("running_mean")), ValueLayout.JAVA_FLOAT, 0, statsBefore, 0, C);
                MemorySegment.copy(plain.store.slice(plain.store.tensor("running_var")), ValueLayout.JAVA_FLOAT, 0, statsBefore, C, C);
                float[] yp = toArray(plain.layer.forward(seg(a, x), N, mode), x.length);
                float[] yb = toArray(blk.layer.forward(seg(a, blocked(x, N, C, PLANE, L)), N, mode), N * padded(C, L) * PLANE);
                assertPaddedLanesZero(at + " y", yb, N, C, PLANE, L);
                assertClose(at + " y", yp, unblocked(yb, N, C, PLANE, L), 2e-6);
                assertClose(at + " buffers", toArray(plain.store.buffers(), plain.store.bufferLength()),
                        toArray(blk.store.buffers(), blk.store.bufferLength()), 1e-6);
                float[] dxp = toArray(plain.layer.backward(seg(a, dy), N, true), x.length);
                float[] dxb = toArray(blk.layer.backward(seg(a, blocked(dy, N, C, PLANE, L)), N, true), N * padded(C, L) * PLANE);
                assertPaddedLanesZero(at + " dx", dxb, N, C, PLANE, L);
                assertClose(at + " dx", dxp, unblocked(dxb, N, C, PLANE, L), 2e-5);
                float[] gp = toArray(plain.store.grads(), plain.store.paramLength());
                float[] gb = toArray(blk.store.grads(), blk.store.paramLength());
                double[] scale = gradientScales(x, dy, mode, statsBefore);
                for (int i = 0; i < 2 * C; i++) { // weight then bias: float sums, so within ~1e-6 of the sum of |terms|
                    assertEquals(gp[i], gb[i], 1e-6 * scale[i], at + " gradient " + i + " (step " + step + ")");
                }
            }
            long tracked = blk.store.slice(blk.store.tensor("num_batches_tracked")).get(ValueLayout.JAVA_LONG, 0);
            assertEquals(plain.store.slice(plain.store.tensor("num_batches_tracked")).get(ValueLayout.JAVA_LONG, 0), tracked);
        }
    }

    /**
     * Per parameter, the sum of |terms| of its gradient (weight: dy * xhat, bias: dy) in double, with the
     * statistics the mode normalises with: rounding error of a float sum is a fraction of that.
     */
    private static double[] gradientScales(float[] x, float[] dy, Mode mode, float[] running) {
        double[] scale = new double[2 * C];
        for (int ch = 0; ch < C; ch++) {
            double m = 0, v = 0;
            for (int i = 0; i < N; i++) for (int p = 0; p < PLANE; p++) m += x[(i * C + ch) * PLANE + p];
            m /= N * PLANE;
            for (int i = 0; i < N; i++) for (int p = 0; p < PLANE; p++) v += Math.pow(x[(i * C + ch) * PLANE + p] - m, 2);
            v /= N * PLANE;
            if (mode == Mode.EVAL) {
                m = running[ch];
                v = running[C + ch];
            }
            double inv = 1 / Math.sqrt(v + 1e-5);
            for (int i = 0; i < N; i++) {
                for (int p = 0; p < PLANE; p++) {
                    int k = (i * C + ch) * PLANE + p;
                    scale[ch] += Math.abs(dy[k] * (x[k] - m) * inv);
                    scale[C + ch] += Math.abs(dy[k]);
                }
            }
        }
        return scale;
    }

    /** Channel blocks are split across the team: bit-identical results for any team size. */
    @ParameterizedTest
    @ValueSource(ints = {8, 16})
    void blockedBatchNormDoesNotDependOnTheThreadCount(int L) {
        float[][] one = blockedBatchNormStep(1, L), three = blockedBatchNormStep(3, L);
        for (int i = 0; i < one.length; i++) assertBits("result " + i, one[i], three[i]);
    }

    private float[][] blockedBatchNormStep(int threads, int L) {
        int c = 40; // at least three blocks for three threads
        Random r = new Random(3);
        float[] x = blocked(input(r, N, c, PLANE), N, c, PLANE, L), dy = blocked(input(r, N, c, PLANE), N, c, PLANE, L);
        try (Built b = new Built(() -> new BatchNorm2d(c), new int[] {c, H, W}, L, threads); Arena a = Arena.ofShared()) {
            b.randomize(2);
            float[] y = toArray(b.layer.forward(seg(a, x), N, Mode.TRAIN), x.length);
            float[] dx = toArray(b.layer.backward(seg(a, dy), N, true), x.length);
            return new float[][] {y, dx, toArray(b.store.grads(), b.store.paramLength()), toArray(b.store.buffers(), b.store.bufferLength())};
        }
    }

    /** Values from a small set: ties, -0.0 and NaN are common, so the first-maximum and NaN rules show. */
    private static float[] discrete(Random r, int len) {
        float[] values = {-1f, -0f, 0f, 1f, 2f, Float.NaN};
        float[] x = new float[len];
        for (int i = 0; i < len; i++) x[i] = values[r.nextInt(r.nextInt(8) == 0 ? values.length : values.length - 1)];
        return x;
    }

    @ParameterizedTest
    @ValueSource(ints = {8, 16})
    void maxPoolMatchesThePlainLayout(int L) {
        int[][] pools = {{2, 2}, {3, 2}, {3, 1}}; // the vectorised kernel, then the general loop (overlapping windows)
        int[][] shapes = {{C, H, W}, {C, 8, 8}, {5, 6, 9}};
        for (int[] pool : pools) {
            for (int[] in : shapes) {
                for (boolean ties : new boolean[] {true, false}) {
                    String what = "MaxPool2d(" + pool[0] + ", " + pool[1] + ") on " + java.util.Arrays.toString(in) + " ties=" + ties;
                    Random r = new Random(pool[0] * 31 + in[1]);
                    int c = in[0], plane = in[1] * in[2];
                    float[] x = ties ? discrete(r, N * c * plane) : input(r, N, c, plane);
                    try (Built plain = new Built(() -> new MaxPool2d(pool[0], pool[1]), in, 0, 2);
                         Built blk = new Built(() -> new MaxPool2d(pool[0], pool[1]), in, L, 2); Arena a = Arena.ofShared()) {
                        int outPlane = plain.out[1] * plain.out[2];
                        float[] dy = input(r, N, c, outPlane);
                        float[] yp = toArray(plain.layer.forward(seg(a, x), N, Mode.TRAIN), N * c * outPlane);
                        int outLen = N * padded(c, L) * outPlane;
                        float[] yb = toArray(blk.layer.forward(seg(a, blocked(x, N, c, plane, L)), N, Mode.TRAIN), outLen);
                        assertPaddedLanesZero(what + " y", yb, N, c, outPlane, L);
                        assertBits(what + " y", yp, unblocked(yb, N, c, outPlane, L));
                        float[] dxp = toArray(plain.layer.backward(seg(a, dy), N, true), x.length);
                        int inLen = N * padded(c, L) * plane;
                        float[] dxb = toArray(blk.layer.backward(seg(a, blocked(dy, N, c, outPlane, L)), N, true), inLen);
                        assertPaddedLanesZero(what + " dx", dxb, N, c, plane, L);
                        assertBits(what + " dx", dxp, unblocked(dxb, N, c, plane, L));
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {8, 16})
    void globalAvgPoolMatchesThePlainLayout(int L) {
        Random r = new Random(4);
        float[] x = input(r, N, C, PLANE), dy = input(r, N, C, 1);
        try (Built plain = new Built(GlobalAvgPool::new, IN, 0, 2); Built blk = new Built(GlobalAvgPool::new, IN, L, 2);
             Arena a = Arena.ofShared()) {
            float[] yp = toArray(plain.layer.forward(seg(a, x), N, Mode.TRAIN), N * C);
            float[] yb = toArray(blk.layer.forward(seg(a, blocked(x, N, C, PLANE, L)), N, Mode.TRAIN), N * C);
            assertClose("y (plain [N, C] in both layouts)", yp, yb, 1e-6);
            float[] dxp = toArray(plain.layer.backward(seg(a, dy), N, true), x.length);
            float[] dxb = toArray(blk.layer.backward(seg(a, dy), N, true), N * padded(C, L) * PLANE);
            assertPaddedLanesZero("dx", dxb, N, C, PLANE, L);
            assertBits("dx", dxp, unblocked(dxb, N, C, PLANE, L));
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {8, 16})
    void flattenReordersToPyTorchsOrder(int L) {
        Random r = new Random(5);
        float[] x = input(r, N, C, PLANE), dy = input(r, N, C * PLANE, 1);
        try (Built blk = new Built(Flatten::new, IN, L, 2); Arena a = Arena.ofShared()) {
            assertArrayEquals(new int[] {C * PLANE}, blk.out);
            assertBits("y is NCHW", x, toArray(blk.layer.forward(seg(a, blocked(x, N, C, PLANE, L)), N, Mode.TRAIN), x.length));
            float[] dxb = toArray(blk.layer.backward(seg(a, dy), N, true), N * padded(C, L) * PLANE);
            assertPaddedLanesZero("dx", dxb, N, C, PLANE, L);
            assertBits("dx", blocked(dy, N, C, PLANE, L), dxb);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {8, 16})
    void reluCoversThePaddedSize(int L) {
        Random r = new Random(6);
        float[] x = blocked(input(r, N, C, PLANE), N, C, PLANE, L), dy = blocked(input(r, N, C, PLANE), N, C, PLANE, L);
        try (Built blk = new Built(ReLU::new, IN, L, 2); Arena a = Arena.ofShared()) {
            float[] y = toArray(blk.layer.forward(seg(a, x), N, Mode.TRAIN), x.length);
            float[] dx = toArray(blk.layer.backward(seg(a, dy), N, true), x.length);
            for (int i = 0; i < x.length; i++) { // the last block's last pixel included
                assertEquals(Math.max(x[i], 0f), y[i], "y[" + i + "]");
                assertEquals(x[i] > 0 ? dy[i] : 0f, dx[i], "dx[" + i + "]");
            }
        }
    }

    /** The library's reorders against the test's own, and a round trip. */
    @ParameterizedTest
    @ValueSource(ints = {8, 16})
    void blockedLayoutReorders(int L) {
        Random r = new Random(7);
        for (int c : new int[] {1, 3, 8, 11, 16, 21}) {
            float[] x = input(r, N, c, PLANE);
            try (Arena a = Arena.ofShared(); Parallel par = new Parallel(2)) {
                int len = N * padded(c, L) * PLANE;
                MemorySegment b = seg(a, new float[len]), back = seg(a, new float[x.length]);
                b.fill((byte) 0x7f); // not zero: the padded lanes must be written
                BlockedLayout.toBlocked(par, seg(a, x), b, N, c, PLANE, L);
                assertBits("toBlocked c=" + c, blocked(x, N, c, PLANE, L), toArray(b, len));
                BlockedLayout.toPlain(par, b, back, N, c, PLANE, L);
                assertBits("toPlain c=" + c, x, toArray(back, x.length));
            }
        }
        assertEquals(L * 7 * 5, BlockedLayout.size(new int[] {3, 7, 5}, L));
        assertEquals(16 * 4, BlockedLayout.size(new int[] {9, 2, 2}, L));
        assertEquals((L == 8 ? 24 : 32) * 4, BlockedLayout.size(new int[] {17, 2, 2}, L));
        assertEquals(10, BlockedLayout.size(new int[] {10}, L));
    }

    /** A Linear fed a {C, H, W} activation would read nChw8c as if it were NCHW: refused. */
    @ParameterizedTest
    @ValueSource(ints = {8, 16})
    void linearWithoutFlattenIsRefusedWhenBlocked(int L) {
        try (Built blk = new Built(() -> new Linear(4), IN, L, 1); Arena a = Arena.ofShared()) {
            MemorySegment x = seg(a, new float[N * padded(C, L) * PLANE]);
            org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> blk.layer.forward(x, N, Mode.TRAIN));
        }
    }

    @Test
    void javaBackendModelsStayPlain() {
        try (Model m = Models.create("cnn", new int[] {1, 12, 12}, 4, 0f, new Context(new Parallel(1), KernelsProvider.get()))) {
            assertFalse(m.blocked());
        }
    }
}
