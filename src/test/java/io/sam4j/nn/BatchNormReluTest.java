package io.sam4j.nn;

import static io.sam4j.TestUtil.blocked;
import static io.sam4j.TestUtil.fillRandom;
import static io.sam4j.TestUtil.toArray;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.sam4j.dnnl.OneDnnConvBackend;
import io.sam4j.kernels.Kernels;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Optional;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link BatchNorm2d#withRelu} against BatchNorm2d followed by an in-place {@link ReLU}: outputs, input
 * gradients, gamma's and beta's gradients and running statistics BIT-identical, for the scalar and the vector
 * kernels, in NCHW and both blocked widths (on every machine: the lane kernels are Java), in every mode, with
 * SyncBatchNorm's code path, and at gates that sit on the float rounding of 0 (where a gate recomputed with
 * other float operations than the forward's would differ). Then central differences of the fused layer, and
 * whole models (cnn, resnet18 at width 16; Java backend and oneDNN, which blocks) built fused and unfused: the same
 * losses, gradients, statistics, logits and (Java backend) exact Hessian-vector products, bit for bit.
 */
class BatchNormReluTest {
    private static final Parallel PAR = new Parallel(2);
    /** 35-pixel planes: a vector part and a scalar tail at every vector width. 21 channels: padded lanes at 8 and 16. */
    private static final int N = 3, C = 21, H = 7, W = 5, PLANE = H * W;

    @AfterAll
    static void close() {
        PAR.close();
    }

    private static Kernels kernels(String set) {
        if (set.equals("scalar")) return KernelsProvider.scalar();
        Kernels k = KernelsProvider.get();
        assumeTrue(k.name().equals("vector"), "the Vector API is not available in this JVM: only the scalar kernels run");
        return k;
    }

    /** A fused layer or BatchNorm2d + in-place ReLU, on its own context and store (gamma, beta, statistics from seed 5). */
    private static final class Built implements AutoCloseable {
        final Context ctx;
        final Layer layer;
        final ParameterStore store;

        Built(Kernels kernels, int lanes, boolean fused) {
            ctx = new Context(PAR, kernels);
            layer = fused ? BatchNorm2d.withRelu(C) : new Sequential().add(null, new BatchNorm2d(C)).add(null, ReLU.inPlace());
            ParameterStore.Builder b = ParameterStore.builder();
            layer.declare(new int[] {C, H, W}, "", b, ctx);
            store = b.build();
            layer.bind(store);
            layer.initialize(store, new SplittableRandom(1));
            Random r = new Random(5);
            fillRandom(store.slice(store.tensor("weight")), C, r, 0.5f, 1.5f);
            fillRandom(store.slice(store.tensor("bias")), C, r, -1f, 1f); // the gates open and shut within a channel
            fillRandom(store.slice(store.tensor("running_mean")), C, r, -1f, 1f);
            fillRandom(store.slice(store.tensor("running_var")), C, r, 0.5f, 1.5f);
            ctx.setLanes(lanes);
        }

        float[] grads() {
            return toArray(store.grads(), store.paramLength());
        }

        float[] buffers() {
            return toArray(store.buffers(), store.bufferLength());
        }

        @Override
        public void close() {
            store.close();
            ctx.close();
        }
    }

    static Stream<Arguments> setsLayoutsModes() {
        return Stream.of("scalar", "vector").flatMap(k -> Stream.of(0, 8, 16)
                .flatMap(l -> Stream.of(Mode.values()).map(m -> Arguments.of(k, l, m))));
    }

    /** Channel means -3..7 and spreads 1..3: per channel, gates all open, all shut, or mixed. */
    private static float[] input(Random r) {
        float[] x = new float[N * C * PLANE];
        for (int i = 0; i < x.length; i++) x[i] = (float) ((i / PLANE) % C % 11 - 3 + (1 + (i / PLANE) % 3) * r.nextGaussian());
        return x;
    }

    private static float[] gradient(Random r) {
        float[] dy = new float[N * C * PLANE];
        for (int i = 0; i < dy.length; i++) dy[i] = (float) r.nextGaussian();
        return dy;
    }

    @ParameterizedTest(name = "{0} lanes={1} {2}")
    @MethodSource("setsLayoutsModes")
    void fusedEqualsBatchNormThenRelu(String set, int lanes, Mode mode) {
        Random r = new Random(7);
        float[][] xs = {input(r), input(r), input(r)};
        float[][] dys = {gradient(r), gradient(r), gradient(r)};
        compare(kernels(set), lanes, mode, xs, dys, set + " lanes=" + lanes + " " + mode);
    }

    /**
     * Inputs whose gate value z = scale*x + shift lies within a few ulps of 0, where z rounded once (FMA) or twice
     * (multiply, add) can differ in sign: the backward's recomputed gate must still be the forward's. EVAL mode,
     * where scale and shift are known from the running statistics, so such x can be aimed at.
     */
    @ParameterizedTest(name = "{0} lanes={1}")
    @CsvSource({"scalar, 0", "scalar, 8", "scalar, 16", "vector, 0", "vector, 8", "vector, 16"})
    void gatesOnTheRoundingOfZeroMatch(String set, int lanes) {
        Kernels k = kernels(set);
        float[] x = new float[N * C * PLANE];
        try (Built probe = new Built(k, lanes, true)) {
            MemorySegment g = probe.store.slice(probe.store.tensor("weight")), b = probe.store.slice(probe.store.tensor("bias"));
            MemorySegment m = probe.store.slice(probe.store.tensor("running_mean")), v = probe.store.slice(probe.store.tensor("running_var"));
            Random r = new Random(11);
            for (int i = 0; i < x.length; i++) {
                int ch = (i / PLANE) % C;
                // BatchNorm2d's scale and shift in EVAL mode (double, then float), and the root x0 = -shift/scale.
                double inv = 1.0 / Math.sqrt(get(v, ch) + BatchNorm2d.EPS), gd = get(g, ch);
                float scale = (float) (gd * inv), shift = (float) (get(b, ch) - get(m, ch) * gd * inv);
                float x0 = -shift / scale;
                for (int s = r.nextInt(6); s > 0; s--) x0 = r.nextBoolean() ? Math.nextUp(x0) : Math.nextDown(x0);
                x[i] = x0;
            }
        }
        Random r = new Random(12);
        compare(k, lanes, Mode.EVAL, new float[][] {x}, new float[][] {gradient(r)}, set + " lanes=" + lanes + " near 0");
    }

    /** Steps of forward and backward (the last without dx) on both layers; every result bit for bit. */
    private static void compare(Kernels k, int lanes, Mode mode, float[][] xs, float[][] dys, String what) {
        int cp = lanes == 0 ? C : BlockedLayout.paddedChannels(C, lanes);
        long len = (long) N * cp * PLANE;
        int open = 0, shut = 0;
        try (Built fused = new Built(k, lanes, true); Built plain = new Built(k, lanes, false); Arena a = Arena.ofShared()) {
            for (int step = 0; step < xs.length; step++) {
                String at = what + " step " + step;
                boolean needInputGrad = step + 1 < xs.length || xs.length == 1;
                float[] x = lanes == 0 ? xs[step] : blocked(xs[step], N, C, PLANE, lanes);
                float[] dy = lanes == 0 ? dys[step] : blocked(dys[step], N, C, PLANE, lanes);
                float[] yp = toArray(plain.layer.forward(a.allocateFrom(ValueLayout.JAVA_FLOAT, x), N, mode), len);
                float[] yf = toArray(fused.layer.forward(a.allocateFrom(ValueLayout.JAVA_FLOAT, x), N, mode), len);
                assertBits(at + " y", yp, yf);
                for (float v : yf) {
                    if (v > 0) open++;
                    else shut++;
                }
                assertBits(at + " running statistics", plain.buffers(), fused.buffers());
                MemorySegment dxp = plain.layer.backward(a.allocateFrom(ValueLayout.JAVA_FLOAT, dy), N, needInputGrad);
                MemorySegment dxf = fused.layer.backward(a.allocateFrom(ValueLayout.JAVA_FLOAT, dy), N, needInputGrad);
                if (needInputGrad) assertBits(at + " dx", toArray(dxp, len), toArray(dxf, len));
                else assertEquals(null, dxf, at + ": no dx asked for");
                assertBits(at + " dgamma, dbeta", plain.grads(), fused.grads());
            }
        }
        // A comparison that could not tell the gate from none: both kinds of element must occur (real lanes).
        assertTrue(open > xs.length * N * C * PLANE / 10 && shut - (len - (long) N * C * PLANE) * xs.length > xs.length * N * C * PLANE / 10,
                what + ": gates open " + open + ", shut " + shut);
    }

    /** SyncBatchNorm's code path (statistics and gradient sums through a cross-rank sum, here of one rank). */
    @ParameterizedTest(name = "lanes={0} {1}")
    @CsvSource({"0, TRAIN", "0, TRAIN_FROZEN_STATS", "8, TRAIN", "16, TRAIN_FROZEN_STATS"})
    void syncBatchNormPathMatches(int lanes, Mode mode) {
        Random r = new Random(9);
        float[] x = input(r), dy = gradient(r);
        int cp = lanes == 0 ? C : BlockedLayout.paddedChannels(C, lanes);
        long len = (long) N * cp * PLANE;
        try (Built fused = new Built(KernelsProvider.get(), lanes, true); Built plain = new Built(KernelsProvider.get(), lanes, false);
             Built local = new Built(KernelsProvider.get(), lanes, true); Arena a = Arena.ofShared()) {
            int[] calls = new int[1];
            CrossRankSum oneRank = values -> calls[0]++;
            fused.ctx.setBatchStatisticsSum(oneRank);
            plain.ctx.setBatchStatisticsSum(oneRank);
            float[] xin = lanes == 0 ? x : blocked(x, N, C, PLANE, lanes), dyin = lanes == 0 ? dy : blocked(dy, N, C, PLANE, lanes);
            float[][] results = new float[3][];
            int i = 0;
            for (Built b : new Built[] {plain, fused, local}) {
                float[] y = toArray(b.layer.forward(a.allocateFrom(ValueLayout.JAVA_FLOAT, xin), N, mode), len);
                float[] dx = toArray(b.layer.backward(a.allocateFrom(ValueLayout.JAVA_FLOAT, dyin), N, true), len);
                results[i++] = concat(y, dx, b.grads(), b.buffers());
            }
            assertEquals(4, calls[0], "two cross-rank sums per layer (statistics, gradient sums)");
            assertBits("sync: fused vs BatchNorm + ReLU", results[0], results[1]);
            // The same values as without SyncBatchNorm, up to the merge's rounding (Chan's update vs sums of squares).
            for (int j = 0; j < results[1].length; j++) {
                float want = results[2][j], got = results[1][j];
                if (!(Math.abs(want - got) <= 1e-4 * (1 + Math.abs(want)))) fail("sync vs local [" + j + "]: " + got + " vs " + want);
            }
        }
    }

    /** Central differences of sum c_i y_i of the fused layer: dx, dgamma, dbeta (a sample across a gate's kink may pass one-sided). */
    @ParameterizedTest
    @EnumSource(Mode.class)
    void finiteDifferences(Mode mode) {
        try (Context ctx = new Context(PAR, KernelsProvider.get())) {
            GradCheck.checkLayer(ctx, "bnrelu", BatchNorm2d.withRelu(3), new int[] {3, 4, 5}, 2, mode,
                    GradCheck.uniformAwayFromZero(-2, 2), store -> {
                        Random r = new Random(5);
                        fillRandom(store.slice(store.tensor("bnrelu.weight")), 3, r, 0.5f, 1.5f);
                        fillRandom(store.slice(store.tensor("bnrelu.bias")), 3, r, -0.5f, 0.5f);
                        fillRandom(store.slice(store.tensor("bnrelu.running_mean")), 3, r, -0.5f, 0.5f);
                        fillRandom(store.slice(store.tensor("bnrelu.running_var")), 3, r, 0.5f, 2f);
                    }, 1e-3f, 3e-3, 3e-3, true);
        }
    }

    @Test
    void namesAreBatchNormsAndModelsFuse() {
        try (Model fused = new Model("cnn", Models.cnn(10, true), new int[] {1, 8, 8}, 10, 0f, new Context(PAR, KernelsProvider.get()));
             Model plain = new Model("cnn", Models.cnn(10, false), new int[] {1, 8, 8}, 10, 0f, new Context(PAR, KernelsProvider.get()))) {
            assertEquals(names(plain.store()), names(fused.store()));
            assertTrue(names(fused.store()).contains("bn1.running_var"));
        }
        assertEquals(2, count(Models.cnn(10, true), true), "cnn: bn1 and bn2 fused");
        assertEquals(3, countRelus(Models.cnn(10, false)), "cnn unfused: three ReLU layers");
        assertEquals(1, countRelus(Models.cnn(10, true)), "cnn fused: only fc1's ReLU");
        assertEquals(1, count(Models.resnet18(10, 4, true), true), "resnet18: the stem's bn1 (the blocks' inside them)");
        assertEquals(0, count(Models.resnet18(10, 4, false), true));
    }

    private static java.util.List<String> names(ParameterStore s) {
        return s.allTensors().stream().map(ParameterStore.Tensor::name).toList();
    }

    /** BatchNorm2d layers with the given fusion, in a Sequential and the Sequentials inside it. */
    private static int count(Sequential s, boolean fused) {
        int c = 0;
        for (Layer l : s.layers()) {
            if (l instanceof Sequential inner) c += count(inner, fused);
            if (l instanceof BatchNorm2d bn && bn.fusesRelu() == fused) c++;
        }
        return c;
    }

    private static int countRelus(Sequential s) {
        int c = 0;
        for (Layer l : s.layers()) {
            if (l instanceof Sequential inner) c += countRelus(inner);
            if (l instanceof ReLU) c++;
        }
        return c;
    }

    // ---- whole models ------------------------------------------------------------------------------

    /**
     * Everything a model computes on a batch (the model closes the context): TRAIN and TRAIN_FROZEN_STATS losses and
     * gradients, running statistics, EVAL logits; on the Java backend also exact Hessian-vector products (those of
     * oneDNN's blocked whole models take a minute here; ROperatorTest covers the fused layer's blocked R-passes).
     */
    private static float[] run(Function<Boolean, Sequential> net, int[] input, int n, Kernels k, boolean oneDnn, boolean fused) {
        Context ctx;
        if (oneDnn) {
            Optional<OneDnnConvBackend> b = OneDnnConvBackend.tryCreate(2);
            assumeTrue(b.isPresent(), "oneDNN is not available here: " + OneDnnConvBackend.unavailableReason().orElse("?"));
            ctx = new Context(PAR, k, b.get()).allowBlocked(true);
        } else {
            ctx = new Context(PAR, k);
        }
        try (Model m = new Model("m", net.apply(fused), input, 10, 0f, ctx); Arena a = Arena.ofShared()) {
            m.initialize(3);
            Random r = new Random(4);
            MemorySegment x = io.sam4j.TestUtil.random(a, n * m.inputSize(), r, -1, 1);
            int[] labels = r.ints(n, 0, 10).toArray();
            ParameterStore s = m.store();
            double train = m.lossAndGrad(x, labels, n, Mode.TRAIN);
            float[] trainGrads = toArray(s.grads(), s.paramLength()), stats = toArray(s.buffers(), s.bufferLength());
            double frozen = m.lossAndGrad(x, labels, n, Mode.TRAIN_FROZEN_STATS);
            float[] frozenGrads = toArray(s.grads(), s.paramLength());
            float[] logits = toArray(m.logits(x, n, Mode.EVAL), n * 10L);
            float[] losses = {(float) train, (float) frozen};
            if (oneDnn) return concat(losses, trainGrads, stats, frozenGrads, logits); // R-passes: the Java backend's case
            MemorySegment v = io.sam4j.TestUtil.random(a, s.paramLength(), r, -1, 1), hv = a.allocate(4L * s.paramLength(), 64);
            m.bindCurvature(v, hv);
            double curvature = m.curvatureProduct(x, labels, n, Mode.TRAIN_FROZEN_STATS, false);
            float[] hvFrozen = toArray(hv, s.paramLength());
            m.curvatureProduct(x, labels, n, Mode.EVAL, false);
            float[] hvEval = toArray(hv, s.paramLength());
            return concat(losses, new float[] {(float) curvature}, trainGrads, stats, frozenGrads, logits, hvFrozen, hvEval);
        }
    }

    @ParameterizedTest(name = "{0} {1} kernels, oneDNN {2}")
    @CsvSource({"cnn, scalar, false", "cnn, vector, false", "resnet18, vector, false", "cnn, vector, true", "resnet18, vector, true"})
    // resnet18 at width 16 on 3x8x8 (the 512-channel stage at 1x1, two values per channel); oneDNN blocks where it can
    void wholeModelsAreUnchangedByFusion(String model, String set, boolean oneDnn) {
        Kernels k = kernels(set);
        Function<Boolean, Sequential> net = model.equals("cnn") ? f -> Models.cnn(10, f) : f -> Models.resnet18(10, 16, f);
        int[] input = model.equals("cnn") ? new int[] {1, 8, 8} : new int[] {3, 8, 8};
        float[] plain = run(net, input, 2, k, oneDnn, false), fused = run(net, input, 2, k, oneDnn, true);
        assertBits(model + ": losses, gradients, statistics, logits, Hv", plain, fused);
    }

    // ---- helpers ----------------------------------------------------------------------------------

    private static float get(MemorySegment s, long i) {
        return s.getAtIndex(ValueLayout.JAVA_FLOAT, i);
    }

    private static float[] concat(float[]... parts) {
        int len = 0;
        for (float[] p : parts) len += p.length;
        float[] out = new float[len];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    private static void assertBits(String what, float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, what + " length");
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                fail(what + "[" + i + "]: expected " + expected[i] + " got " + actual[i]);
            }
        }
    }
}
