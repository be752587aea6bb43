package io.sam4j.sharpness;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sam4j.data.Batcher;
import io.sam4j.data.Dataset;
import io.sam4j.data.Normalizer;
import io.sam4j.kernels.FlatOps;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import io.sam4j.nn.Context;
import io.sam4j.nn.Flatten;
import io.sam4j.nn.Linear;
import io.sam4j.nn.Mode;
import io.sam4j.nn.Model;
import io.sam4j.nn.Models;
import io.sam4j.nn.ParameterStore;
import io.sam4j.nn.ReLU;
import io.sam4j.nn.Sequential;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class ModelOracleTest {
    private static final int CLASSES = 4;
    private static final int[] INPUT = {1, 4, 4};

    private Arena arena;

    @BeforeEach
    void open() {
        arena = Arena.ofShared();
    }

    @AfterEach
    void close() {
        arena.close();
    }

    /** Flatten, fc1 (16 -> 16), ReLU, fc2 (16 -> 12), ReLU, fc3 (12 -> 4): 528 parameters with padding. */
    private static Model tinyMlp(long seed) {
        Sequential net = new Sequential().add(null, new Flatten())
                .add("fc1", new Linear(16)).add(null, new ReLU())
                .add("fc2", new Linear(12)).add(null, new ReLU())
                .add("fc3", new Linear(CLASSES));
        Model m = new Model("tiny-mlp", net, INPUT, CLASSES, 0f, new Context(Parallel.common(), KernelsProvider.get()));
        m.initialize(seed);
        ops(m).scale(2f, m.store().params(), m.store().paramLength()); // more curvature than the default init
        return m;
    }

    private static final int IN = 16, H1 = 16, H2 = 12;

    /** Hidden pre-activations (fc1 then fc2, every example) in double, from weights w of the flat layout. */
    private static double[] preactivations(ParameterStore s, float[] w, List<ModelOracle.Batch> batches) {
        long w1 = s.tensor("fc1.weight").offset(), b1 = s.tensor("fc1.bias").offset();
        long w2 = s.tensor("fc2.weight").offset(), b2 = s.tensor("fc2.bias").offset();
        List<Double> out = new ArrayList<>();
        for (ModelOracle.Batch b : batches) {
            for (int e = 0; e < b.n(); e++) {
                double[] h = new double[H1];
                for (int j = 0; j < H1; j++) {
                    double z = w[(int) b1 + j];
                    for (int i = 0; i < IN; i++) z += w[(int) w1 + j * IN + i] * b.x().getAtIndex(JAVA_FLOAT, (long) e * IN + i);
                    out.add(z);
                    h[j] = Math.max(0, z);
                }
                for (int j = 0; j < H2; j++) {
                    double z = w[(int) b2 + j];
                    for (int i = 0; i < H1; i++) z += w[(int) w2 + j * H1 + i] * h[i];
                    out.add(z);
                }
            }
        }
        return out.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /**
     * Moves the hidden biases so that every ReLU is on or off for ALL examples with a clear margin
     * (alternate units +-), so perturbations of the test's size cross no kink: the loss is then smooth
     * (multilinear layers under fixed masks, softmax cross-entropy on top) and finite differences of the
     * gradient converge to its Hessian.
     */
    private static void awayFromKinks(Model m, List<ModelOracle.Batch> batches) {
        ParameterStore s = m.store();
        long b1 = s.tensor("fc1.bias").offset(), b2 = s.tensor("fc2.bias").offset();
        for (int j = 0; j < H1; j++) s.params().setAtIndex(JAVA_FLOAT, b1 + j, j % 2 == 0 ? 2f : -2f);
        for (int j = 0; j < H2; j++) s.params().setAtIndex(JAVA_FLOAT, b2 + j, 0f);
        double[] z = preactivations(s, floats(s.params(), s.paramLength()), batches);
        int examples = z.length / (H1 + H2);
        for (int j = 0; j < H2; j++) {
            double mean = 0;
            for (int e = 0; e < examples; e++) mean += z[e * (H1 + H2) + H1 + j] / examples;
            s.params().setAtIndex(JAVA_FLOAT, b2 + j, (float) (-mean + (j % 2 == 0 ? 1.5 : -1.5)));
        }
    }

    private static FlatOps ops(Model m) {
        return new FlatOps(m.context().kernels(), m.context().parallel());
    }

    /** Random inputs and labels, cut into batches of the given sizes (one contiguous buffer each). */
    private List<ModelOracle.Batch> batches(int inputSize, long seed, int... sizes) {
        Random r = new Random(seed);
        List<ModelOracle.Batch> out = new ArrayList<>();
        for (int n : sizes) {
            MemorySegment x = arena.allocate(4L * n * inputSize, 64);
            for (long i = 0; i < (long) n * inputSize; i++) x.setAtIndex(JAVA_FLOAT, i, (float) (0.3 * r.nextGaussian()));
            int[] labels = new int[n];
            for (int i = 0; i < n; i++) labels[i] = r.nextInt(CLASSES);
            out.add(new ModelOracle.Batch(x, labels, n));
        }
        return out;
    }

    /** The same examples as one batch. */
    private ModelOracle.Batch concat(List<ModelOracle.Batch> parts, int inputSize) {
        int total = parts.stream().mapToInt(ModelOracle.Batch::n).sum();
        MemorySegment x = arena.allocate(4L * total * inputSize, 64);
        int[] labels = new int[total];
        int at = 0;
        for (ModelOracle.Batch b : parts) {
            MemorySegment.copy(b.x(), 0, x, 4L * at * inputSize, 4L * b.n() * inputSize);
            System.arraycopy(b.labels(), 0, labels, at, b.n());
            at += b.n();
        }
        return new ModelOracle.Batch(x, labels, total);
    }

    private static float[] floats(MemorySegment s, long n) {
        return s.asSlice(0, 4 * n).toArray(JAVA_FLOAT);
    }

    /**
     * The test's own gradient of the mean loss at w0 + t u (u a double direction over the flat layout),
     * from the model's per-batch analytic gradients accumulated in double; weights restored afterwards.
     */
    private static double[] gradientAt(Model m, List<ModelOracle.Batch> batches, Mode mode, float[] w0, double t, double[] u) {
        ParameterStore s = m.store();
        int n = (int) s.paramLength();
        for (int i = 0; i < n; i++) s.params().setAtIndex(JAVA_FLOAT, i, (float) (w0[i] + t * u[i]));
        int total = batches.stream().mapToInt(ModelOracle.Batch::n).sum();
        double[] g = new double[n];
        for (ModelOracle.Batch b : batches) {
            m.lossAndGrad(b.x(), b.labels(), b.n(), mode);
            for (int i = 0; i < n; i++) g[i] += (double) b.n() / total * s.grads().getAtIndex(JAVA_FLOAT, i);
        }
        MemorySegment.copy(w0, 0, s.params(), JAVA_FLOAT, 0, n);
        return g;
    }

    @Test
    void doubleFiniteDifferenceOnSmallMlp() {
        try (Model m = tinyMlp(1)) {
            ParameterStore s = m.store();
            int n = (int) s.paramLength();
            List<ModelOracle.Batch> data = batches((int) m.inputSize(), 2, 40, 24);
            awayFromKinks(m, data);
            try (ModelOracle oracle = new ModelOracle(m, data);
                 HessianVectorProduct hvp = new HessianVectorProduct(s, oracle, ops(m))) {
                Random r = new Random(3);
                MemorySegment v = hvp.newBuffer(), out = hvp.newBuffer();
                for (int trial = 0; trial < 4; trial++) {
                    RandomVectors.gaussian(s, ops(m), v, new java.util.SplittableRandom(10 + trial));
                    ops(m).scale(0.3f, v, n);
                    float[] w0 = floats(s.params(), n);
                    byte[] before = DenseProblem.bytes(s.params());
                    double norm = hvp.apply(v, out);
                    assertArrayEquals(before, DenseProblem.bytes(s.params()), "weights restored bit for bit");
                    assertTrue(RandomVectors.paddingIsZero(s, out));

                    // Independent: central difference of the double-accumulated analytic gradient, 5x the step.
                    double h = 5 * hvp.lastStep();
                    double[] u = new double[n];
                    for (int i = 0; i < n; i++) u[i] = v.getAtIndex(JAVA_FLOAT, i) / norm;
                    double[] gp = gradientAt(m, data, Mode.EVAL, w0, h, u);
                    double[] gm = gradientAt(m, data, Mode.EVAL, w0, -h, u);
                    double[] z0 = preactivations(s, w0, data);
                    float[] wp = w0.clone(), wm = w0.clone();
                    for (int i = 0; i < n; i++) {
                        wp[i] = (float) (w0[i] + 50 * hvp.lastStep() * u[i]);
                        wm[i] = (float) (w0[i] - 50 * hvp.lastStep() * u[i]);
                    }
                    double[] zp = preactivations(s, wp, data), zm = preactivations(s, wm, data);
                    double margin = Double.POSITIVE_INFINITY;
                    for (int i = 0; i < z0.length; i++) {
                        margin = Math.min(margin, Math.abs(z0[i]));
                        assertTrue(Math.signum(z0[i]) == Math.signum(zp[i]) && Math.signum(z0[i]) == Math.signum(zm[i]),
                                "precondition: no ReLU kink within the largest step");
                    }
                    assertTrue(margin > 0.1, "precondition: pre-activations away from 0, margin " + margin);
                    double err = 0, ref = 0, vhv = 0, vhvRef = 0;
                    for (int i = 0; i < n; i++) {
                        double expected = norm * (gp[i] - gm[i]) / (2 * h);
                        double got = out.getAtIndex(JAVA_FLOAT, i);
                        err += (expected - got) * (expected - got);
                        ref += expected * expected;
                        vhv += u[i] * got;
                        vhvRef += u[i] * expected;
                    }
                    double rel = Math.sqrt(err / ref);
                    assertTrue(rel < 1e-3, "trial " + trial + ": HVP vs the test's own difference of analytic gradients, rel err " + rel);
                    assertEquals(vhvRef, vhv, 1e-3 * Math.abs(vhvRef) + 1e-5);
                    // Second difference of the loss (forward passes only) along u with a 50x step: v^T H v^ again.
                    double h2 = 50 * hvp.lastStep();
                    double l0 = oracle.loss();
                    for (int i = 0; i < n; i++) s.params().setAtIndex(JAVA_FLOAT, i, (float) (w0[i] + h2 * u[i]));
                    double lp = oracle.loss();
                    for (int i = 0; i < n; i++) s.params().setAtIndex(JAVA_FLOAT, i, (float) (w0[i] - h2 * u[i]));
                    double lm = oracle.loss();
                    MemorySegment.copy(w0, 0, s.params(), JAVA_FLOAT, 0, n);
                    double second = (lp - 2 * l0 + lm) / (h2 * h2);
                    assertEquals(second, vhv / norm, 0.03 * Math.abs(second) + 1e-4, "loss second difference along v");
                }
            }
        }
    }

    @Test
    void averagesBatchesWeightedBySize() {
        try (Model m = tinyMlp(4)) {
            ParameterStore s = m.store();
            long n = s.paramLength();
            List<ModelOracle.Batch> parts = batches((int) m.inputSize(), 5, 40, 24);
            try (ModelOracle split = new ModelOracle(m, parts);
                 ModelOracle whole = new ModelOracle(m, List.of(concat(parts, (int) m.inputSize())))) {
                assertEquals(64, split.examples());
                assertSame(Mode.EVAL, split.mode());
                double lw = whole.lossAndGrad();
                float[] gw = floats(s.grads(), n);
                double ls = split.lossAndGrad();
                float[] gs = floats(s.grads(), n);
                assertEquals(lw, ls, 1e-6 * lw);
                double maxAbs = 0;
                for (float g : gw) maxAbs = Math.max(maxAbs, Math.abs(g));
                assertTrue(maxAbs > 1e-3, "a real gradient");
                for (int i = 0; i < n; i++) assertEquals(gw[i], gs[i], 1e-5 * maxAbs, "gradient entry " + i);
                assertTrue(RandomVectors.paddingIsZero(s, s.grads()));
                // A second call gives the same bits (scratch buffer reused, fully overwritten).
                assertEquals(ls, split.lossAndGrad(), 0);
                assertArrayEquals(gs, floats(s.grads(), n));
                // loss() is forward-only: same value, gradient buffer untouched.
                ops(m).fill(7f, s.grads(), n);
                assertEquals(ls, split.loss(), 1e-12);
                for (float g : floats(s.grads(), n)) assertEquals(7f, g);
                // Per-batch oracles: their size-weighted mean loss is the subset's.
                List<GradientOracle> per = split.perBatch();
                assertEquals(2, per.size());
                assertEquals(ls, (40 * per.get(0).loss() + 24 * per.get(1).loss()) / 64, 1e-9);
            }
        }
    }

    @Test
    void refusesTrainModeAndShortBuffers() {
        try (Model m = tinyMlp(6)) {
            List<ModelOracle.Batch> data = batches((int) m.inputSize(), 7, 8);
            assertThrows(IllegalArgumentException.class, () -> new ModelOracle(m, data, Mode.TRAIN));
            assertThrows(IllegalArgumentException.class, () -> new ModelOracle(m, List.of()));
            MemorySegment small = arena.allocate(4L * 3 * m.inputSize(), 64);
            assertThrows(IllegalArgumentException.class,
                    () -> new ModelOracle(m, List.of(new ModelOracle.Batch(small, new int[4], 4))));
        }
    }

    @Test
    void batchNormStatisticsUntouchedAndModesDiffer() {
        try (Model m = Models.create("cnn", new int[] {1, 8, 8}, 3, 0f, new Context(Parallel.common(), KernelsProvider.get()))) {
            m.initialize(8);
            ParameterStore s = m.store();
            long n = s.paramLength();
            List<ModelOracle.Batch> parts = batches((int) m.inputSize(), 9, 3, 3);
            for (ModelOracle.Batch b : parts) {
                for (int i = 0; i < b.n(); i++) b.labels()[i] %= 3;
            }
            ModelOracle.Batch all = concat(parts, (int) m.inputSize());
            m.lossAndGrad(all.x(), all.labels(), all.n(), Mode.TRAIN); // running statistics away from (0, 1)
            float[][] grads = new float[4][];
            int k = 0;
            for (Mode mode : new Mode[] {Mode.EVAL, Mode.TRAIN_FROZEN_STATS}) {
                try (ModelOracle split = new ModelOracle(m, parts, mode);
                     ModelOracle whole = new ModelOracle(m, List.of(all), mode);
                     HessianVectorProduct hvp = new HessianVectorProduct(s, split, ops(m))) {
                    byte[] params = DenseProblem.bytes(s.params());
                    byte[] buffers = DenseProblem.bytes(s.buffers());
                    MemorySegment v = hvp.newBuffer();
                    RandomVectors.gaussian(s, ops(m), v, new java.util.SplittableRandom(1));
                    hvp.apply(v, hvp.newBuffer());
                    assertArrayEquals(params, DenseProblem.bytes(s.params()), mode + ": weights restored");
                    assertArrayEquals(buffers, DenseProblem.bytes(s.buffers()), mode + ": BN buffers untouched");
                    split.lossAndGrad();
                    grads[k++] = floats(s.grads(), n);
                    whole.lossAndGrad();
                    grads[k++] = floats(s.grads(), n);
                }
            }
            // Running statistics: the gradient does not depend on how the subset is batched.
            double maxAbs = 0;
            for (float g : grads[1]) maxAbs = Math.max(maxAbs, Math.abs(g));
            for (int i = 0; i < n; i++) assertEquals(grads[1][i], grads[0][i], 1e-5 * maxAbs);
            // Batch statistics: batches of 3 and one of 6 normalise differently.
            double diff = 0;
            for (int i = 0; i < n; i++) diff = Math.max(diff, Math.abs(grads[3][i] - grads[2][i]));
            assertTrue(diff > 1e-3 * maxAbs, "batch statistics depend on the batching: " + diff);
        }
    }

    @Test
    void sequentialBatchesFromBatcher() {
        int count = 100;
        byte[] pixels = new byte[count * 16];
        int[] labels = new int[count];
        Random r = new Random(10);
        r.nextBytes(pixels);
        for (int i = 0; i < count; i++) labels[i] = r.nextInt(CLASSES);
        Dataset ds = Dataset.of("synthetic", 1, 4, 4, CLASSES, pixels, labels);
        Normalizer norm = new Normalizer(100, 50);
        Batcher batcher = new Batcher(ds, norm, 10, 0, false);
        List<ModelOracle.Batch> bs = ModelOracle.sequential(batcher, 5, 68, 32, arena);
        assertEquals(List.of(32, 32, 4), bs.stream().map(ModelOracle.Batch::n).toList());
        int at = 5;
        for (ModelOracle.Batch b : bs) {
            for (int e = 0; e < b.n(); e++, at++) {
                assertEquals(labels[at], b.labels()[e]);
                for (int i = 0; i < 16; i++) {
                    assertEquals(norm.normalize(pixels[at * 16 + i] & 0xff), b.x().getAtIndex(JAVA_FLOAT, (long) e * 16 + i));
                }
            }
        }
        assertEquals(73, at);
        try (Model m = tinyMlp(11); ModelOracle o = new ModelOracle(m, bs)) {
            assertEquals(68, o.examples());
            assertTrue(Double.isFinite(o.lossAndGrad()));
        }
        assertThrows(IllegalArgumentException.class, () -> ModelOracle.sequential(batcher, 0, 0, 32, arena));
        assertThrows(IndexOutOfBoundsException.class, () -> ModelOracle.sequential(batcher, 90, 20, 8, arena));
    }

    @Test
    void analyseThroughModelOracleWithMSharpness() {
        try (Model m = tinyMlp(12)) {
            ParameterStore s = m.store();
            int n = (int) s.paramLength();
            List<ModelOracle.Batch> data = batches((int) m.inputSize(), 13, 40, 24);
            double rho = 0.05;
            // m-sharpness by hand: each batch perturbed along its own gradient, in double.
            float[] w0 = floats(s.params(), n);
            double expected = 0;
            for (ModelOracle.Batch b : data) {
                double l0 = m.lossAndGrad(b.x(), b.labels(), b.n(), Mode.EVAL);
                float[] g = floats(s.grads(), n);
                double gn = 0;
                for (float gi : g) gn += (double) gi * gi;
                gn = Math.sqrt(gn);
                for (int i = 0; i < n; i++) s.params().setAtIndex(JAVA_FLOAT, i, (float) (w0[i] + rho * g[i] / gn));
                double l1 = m.loss(b.x(), b.labels(), b.n(), Mode.EVAL);
                MemorySegment.copy(w0, 0, s.params(), JAVA_FLOAT, 0, n);
                expected += (l1 - l0) * b.n() / 64.0;
            }
            byte[] before = DenseProblem.bytes(s.params());
            List<Sharpness.Phase> phases = new ArrayList<>();
            try (ModelOracle oracle = new ModelOracle(m, data)) {
                SharpnessReport r = Sharpness.analyse(oracle, Sharpness.Options.defaults().withHvp(Sharpness.Hvp.FD).withEigenMethod(Sharpness.EigenMethod.POWER).withRho(rho).withTraceSamples(20),
                        (phase, done, max, est) -> {
                            if (phases.isEmpty() || phases.get(phases.size() - 1) != phase) phases.add(phase);
                        });
                assertArrayEquals(before, DenseProblem.bytes(s.params()), "weights restored bit for bit");
                assertEquals(List.of(Sharpness.Phase.LOSS, Sharpness.Phase.ASCENT, Sharpness.Phase.M_SHARPNESS,
                        Sharpness.Phase.LAMBDA_MAX, Sharpness.Phase.ALIGNMENT, Sharpness.Phase.TRACE), phases);
                assertEquals("tiny-mlp", r.model());
                assertEquals(64, r.examples());
                assertEquals("eval", r.bn());
                assertEquals(528, r.parameters());
                assertEquals(40, r.m());
                assertNotNull(r.mSharpness());
                assertEquals(expected, r.mSharpness(), 1e-3 * Math.abs(expected) + 1e-7, "m-sharpness by hand");
                assertTrue(r.ascentSharpness() > 0 && r.lambdaMax() > 0 && r.trace() != null);
                assertTrue(r.alignment() >= 0 && r.alignment() <= 1);
                int products = r.lambdaMaxIterations() + r.traceSamples();
                assertEquals(2L * products + 2, r.gradientEvaluations());
                assertTrue(r.toJson().contains("\"m_sharpness\""));
                assertFalse(r.toJson().contains("NaN"));
            }
        }
    }
}
