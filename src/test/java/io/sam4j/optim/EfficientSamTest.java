package io.sam4j.optim;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sam4j.kernels.FlatOps;
import io.sam4j.kernels.Kernels;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import io.sam4j.nn.Mode;
import io.sam4j.nn.ParameterStore;
import io.sam4j.optim.SharpnessAware.Adaptive;
import io.sam4j.optim.SharpnessAware.Config;
import io.sam4j.optim.SharpnessAware.Direction;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The hand-checked worked examples of GSAM, LookSAM, AE-SAM and RST (values computed by hand from the
 * papers' and the official code's formulas, see docs/efficient-sam.md), and the one-pass property of
 * skipped steps, counted in loss-function calls.
 */
class EfficientSamTest {
    /** L(w) = 0.5 sum a_i w_i^2 + sum b_i w_i on three parameters; counts the calls per pass. */
    static final class Diagonal implements LossFunction, AutoCloseable {
        final ParameterStore store;
        final double[] a = {1, 2, 3}, b = {0.5, -1, 0.25};
        int first, second;

        Diagonal(double... w) {
            ParameterStore.Builder sb = ParameterStore.builder();
            sb.param("fc.weight", 3);
            store = sb.build();
            for (int i = 0; i < 3; i++) store.params().setAtIndex(JAVA_FLOAT, i, (float) w[i]);
        }

        @Override
        public double lossAndGrad(Mode mode) {
            if (mode == Mode.TRAIN) first++;
            else second++;
            double l = 0;
            for (int i = 0; i < 3; i++) {
                double w = store.params().getAtIndex(JAVA_FLOAT, i);
                store.grads().setAtIndex(JAVA_FLOAT, i, (float) (a[i] * w + b[i]));
                l += 0.5 * a[i] * w * w + b[i] * w;
            }
            return l;
        }

        double[] weights() {
            double[] w = new double[3];
            for (int i = 0; i < 3; i++) w[i] = store.params().getAtIndex(JAVA_FLOAT, i);
            return w;
        }

        @Override
        public void close() {
            store.close();
        }
    }

    static SharpnessAware plainSgd(ParameterStore store, Kernels k, Config cfg) {
        FlatOps ops = new FlatOps(k, new Parallel(1));
        return new SharpnessAware(store, ops, new Sgd(store, ops, 0f, false, 0f), cfg);
    }

    static Kernels[] kernels() {
        return new Kernels[] {KernelsProvider.scalar(), KernelsProvider.get()};
    }

    @Test
    void gsamWorkedExample() {
        // lr_t 0.05 in [0, 0.1], rho in [0.02, 0.1] => rho_t 0.06; alpha 0.4; plain SGD at lr 0.05.
        for (Kernels k : kernels()) {
            try (Diagonal f = new Diagonal(1, -2, 0.5)) {
                Config cfg = Config.sam(0.1f).withDescent(new Descent.Gsam(0.4f))
                        .withRhoSchedule(new RhoSchedule.LearningRate(0.02f, 0f, 0.1f));
                StepStats s = plainSgd(f.store, k, cfg).step(f, 0.05f);
                assertArrayEquals(new double[] {0.924512, -1.744582, 0.409277}, f.weights(), 2e-6, k.name());
                assertEquals(0.06, s.perturbNorm(), 1e-6, "rho_t = 0.02 + 0.08 * 0.05/0.1");
                assertTrue(s.sharpnessStep());
            }
        }
    }

    @Test
    void gsamWithAlphaZeroAndConstantRhoIsSam() {
        try (Diagonal a = new Diagonal(1, -2, 0.5); Diagonal b = new Diagonal(1, -2, 0.5)) {
            plainSgd(a.store, KernelsProvider.get(), Config.sam(0.1f)).step(a, 0.05f);
            plainSgd(b.store, KernelsProvider.get(), Config.sam(0.1f).withDescent(new Descent.Gsam(0f))).step(b, 0.05f);
            assertArrayEquals(a.weights(), b.weights(), 1e-7);
        }
    }

    @Test
    void lookSamWorkedExampleRefreshesThenReusesWithOnePass() {
        // rho 0.1, k 2, alpha 0.7, plain SGD lr 0.1 (whole-vector form).
        for (Kernels k : kernels()) {
            try (Diagonal f = new Diagonal(1, -2, 0.5)) {
                SharpnessAware opt = plainSgd(f.store, k, Config.sam(0.1f).withPolicy(new PerturbPolicy.LookSam(2, 0.7f)));
                StepStats refresh = opt.step(f, 0.1f);
                assertTrue(refresh.sharpnessStep());
                assertEquals(2, refresh.gradEvaluations());
                assertEquals(1, f.first);
                assertEquals(1, f.second);
                assertArrayEquals(new double[] {0.847276, -1.481837, 0.315464}, f.weights(), 2e-6, k.name() + " w1");
                double[] gv = new double[3];
                for (int i = 0; i < 3; i++) gv[i] = opt.lookSamComponent().getAtIndex(JAVA_FLOAT, i);
                assertArrayEquals(new double[] {-0.027975, 0.002434, 0.030933}, gv, 2e-6, k.name() + " g_v");

                StepStats reuse = opt.step(f, 0.1f);
                assertFalse(reuse.sharpnessStep());
                assertEquals(1, reuse.gradEvaluations());
                assertEquals(2, f.first);
                assertEquals(1, f.second, "the reuse step runs ONE forward/backward");
                assertArrayEquals(new double[] {0.916631, -1.103228, -0.029841}, f.weights(), 2e-6, k.name() + " w2");
            }
        }
    }

    /** Writes a gradient of squared norm s_t on the first pass: (sqrt(s_t), 0, 0). */
    static final class Scripted implements LossFunction {
        final ParameterStore store;
        final double[] s;
        int t, first, second;

        Scripted(ParameterStore store, double... s) {
            this.store = store;
            this.s = s;
        }

        @Override
        public double lossAndGrad(Mode mode) {
            store.grads().fill((byte) 0);
            if (mode == Mode.TRAIN) {
                first++;
                store.grads().setAtIndex(JAVA_FLOAT, 0, (float) Math.sqrt(s[t++]));
            } else {
                second++;
                store.grads().setAtIndex(JAVA_FLOAT, 0, 1f);
            }
            return 0;
        }
    }

    @Test
    void aeSamWorkedExample() {
        // delta 0.9, lambda1 -1, lambda2 1, T = 6, s = 4,4,4,1,4,2 => SAM, SAM, SAM, SGD, SAM, SAM.
        try (Diagonal holder = new Diagonal(0, 0, 0)) {
            Scripted f = new Scripted(holder.store, 4, 4, 4, 1, 4, 2);
            SharpnessAware opt = plainSgd(holder.store, KernelsProvider.get(),
                    Config.sam(0.05f).withPolicy(new PerturbPolicy.AdaptiveRule(0.9f, -1f, 1f, 6)));
            boolean[] sam = new boolean[6];
            for (int t = 0; t < 6; t++) {
                int before = f.second;
                sam[t] = opt.step(f, 0f).sharpnessStep();
                assertEquals(sam[t] ? 1 : 0, f.second - before, "step " + t + ": a second pass exactly on SAM steps");
                if (t == 3) {
                    assertEquals(1.075600, opt.aeMean(), 1e-6);
                    assertEquals(2.560936, opt.aeVariance(), 1e-6);
                }
            }
            assertArrayEquals(new boolean[] {true, true, true, false, true, true}, sam);
            assertEquals(6, f.first);
        }
    }

    @Test
    void rstWorkedExampleAndItsDraws() {
        PerturbPolicy.Schedule lin = PerturbPolicy.Schedule.parse("linear:0.25:1");
        double[] p = new double[4];
        for (int t = 0; t < 4; t++) p[t] = lin.p(t / 4.0);
        assertArrayEquals(new double[] {0.25, 0.4375, 0.625, 0.8125}, p, 1e-12);
        double[] u = {0.3, 0.8, 0.55, 0.1};
        boolean[] sam = new boolean[4];
        for (int t = 0; t < 4; t++) sam[t] = u[t] < p[t];
        assertArrayEquals(new boolean[] {false, false, true, true}, sam, "SGD, SGD, SAM, SAM");
        assertEquals(0.75, PerturbPolicy.Schedule.parse("trig:0.5:1").p(0.5), 1e-7, "0.5 + 0.5 (1 - cos(pi/2))/2");
        assertEquals(1.0, PerturbPolicy.Schedule.parse("trig:0.5:1").p(1), 1e-7);
        assertEquals(0.2, PerturbPolicy.Schedule.parse("piecewise:0.2:0.9:0.5").p(0.49), 1e-7);
        assertEquals(0.9, PerturbPolicy.Schedule.parse("piecewise:0.2:0.9:0.5").p(0.5), 1e-7);

        // The draws: a pure function of (seed, t), uniform enough that the realised fraction follows p.
        PerturbPolicy.RandomSwitch r = new PerturbPolicy.RandomSwitch(PerturbPolicy.Schedule.parse("constant:0.3"), 11, 100_000);
        int hits = 0;
        for (long t = 0; t < 100_000; t++) if (r.samStep(t)) hits++;
        assertEquals(0.3, hits / 100_000.0, 0.01);
        assertEquals(r.uniform(12345), new PerturbPolicy.RandomSwitch(r.schedule(), 11, 7).uniform(12345));

        // Through the optimizer: second passes exactly on the drawn steps.
        try (Diagonal f = new Diagonal(1, -2, 0.5)) {
            PerturbPolicy.RandomSwitch half = new PerturbPolicy.RandomSwitch(PerturbPolicy.Schedule.parse("constant:0.5"), 5, 40);
            SharpnessAware opt = plainSgd(f.store, KernelsProvider.get(), Config.sam(0.05f).withPolicy(half));
            int expectSecond = 0;
            for (long t = 0; t < 40; t++) {
                boolean drawn = half.samStep(t);
                if (drawn) expectSecond++;
                assertEquals(drawn, opt.step(f, 0.01f).sharpnessStep(), "step " + t);
            }
            assertEquals(40, f.first);
            assertEquals(expectSecond, f.second);
            assertTrue(expectSecond > 5 && expectSecond < 35, "both kinds of step occurred");
        }
    }

    @Test
    void skippedStepsKeepTheFriendlyEmaUpToDate() {
        // F-SAM under LookSAM: the EMA follows every first-pass gradient, reuse steps included.
        try (Diagonal f = new Diagonal(1, -2, 0.5)) {
            Config cfg = new Config(Direction.FRIENDLY, Adaptive.NONE, true, false, 0.1f, 1f, 0.5f, 0.01f, 0f)
                    .withPolicy(new PerturbPolicy.LookSam(3, 0.7f));
            SharpnessAware opt = plainSgd(f.store, KernelsProvider.scalar(), cfg);
            double[] ema = null;
            for (int t = 0; t < 3; t++) {
                double[] w = f.weights();
                double[] g = {w[0] + 0.5, 2 * w[1] - 1, 3 * w[2] + 0.25};
                if (ema == null) ema = g;
                else for (int i = 0; i < 3; i++) ema[i] = 0.5 * ema[i] + 0.5 * g[i];
                opt.step(f, 0.05f);
            }
            for (int i = 0; i < 3; i++) assertEquals(ema[i], opt.friendlyEma().getAtIndex(JAVA_FLOAT, i), 1e-5);
        }
    }

    @Test
    void undefinedCombinationsAreRefusedWithTheReason() {
        Config sam = Config.sam(0.05f);
        Config stable = new Config(Direction.GRADIENT, Adaptive.NONE, true, true, 0.05f, 1f, 0.9f, 0.01f, 0f);
        Config usam = new Config(Direction.GRADIENT, Adaptive.NONE, false, false, 0.05f, 1f, 0.9f, 0.01f, 0f);
        List<String> messages = new ArrayList<>();
        for (Runnable r : List.<Runnable>of(
                () -> stable.withDescent(new Descent.Gsam(0.1f)),
                () -> usam.withDescent(new Descent.Gsam(0.1f)),
                () -> usam.withRhoSchedule(new RhoSchedule.LearningRate(0.01f, 0f, 0.1f)),
                () -> stable.withPolicy(new PerturbPolicy.LookSam(5, 0.7f)),
                () -> sam.withDescent(new Descent.Gsam(0.1f)).withPolicy(new PerturbPolicy.LookSam(5, 0.7f)),
                () -> new Config(Direction.FRIENDLY, Adaptive.NONE, true, false, 0.05f, 1f, 0.9f, 0.01f, 0f)
                        .withEsam(new Esam.On(0.5f, 0.5f, 0)))) {
            messages.add(assertThrows(IllegalArgumentException.class, r::run).getMessage());
        }
        assertTrue(messages.get(0).contains("GSAM with StableSAM"), messages.get(0));
        assertTrue(messages.get(1).contains("GSAM with USAM"), messages.get(1));
        assertTrue(messages.get(2).contains("USAM"), messages.get(2));
        assertTrue(messages.get(3).contains("LookSAM with StableSAM"), messages.get(3));
        assertTrue(messages.get(4).contains("LookSAM with GSAM"), messages.get(4));
        assertTrue(messages.get(5).contains("F-SAM"), messages.get(5));
        assertThrows(IllegalArgumentException.class, () -> PerturbPolicy.Schedule.parse("linear:0.5"));
        assertThrows(IllegalArgumentException.class, () -> PerturbPolicy.Schedule.parse("constant:1.5"));
    }

    @Test
    void newStateRoundTripsThroughScalarsAndBuffers() {
        // Two optimizers: one runs 5 steps; the other runs 2, hands its state to a fresh one, which runs 3.
        Config cfg = Config.sam(0.1f).withPolicy(new PerturbPolicy.LookSam(2, 0.7f));
        Config ae = Config.sam(0.1f).withPolicy(new PerturbPolicy.AdaptiveRule(0.9f, -1f, 1f, 5));
        for (Config c : new Config[] {cfg, ae}) {
            try (Diagonal a = new Diagonal(1, -2, 0.5); Diagonal b = new Diagonal(1, -2, 0.5)) {
                FlatOps ops = new FlatOps(KernelsProvider.get(), new Parallel(1));
                SharpnessAware straight = new SharpnessAware(a.store, ops, new Sgd(a.store, ops, 0.9f, false, 1e-3f), c);
                for (int t = 0; t < 5; t++) straight.step(a, 0.05f);
                SharpnessAware first = new SharpnessAware(b.store, ops, new Sgd(b.store, ops, 0.9f, false, 1e-3f), c);
                for (int t = 0; t < 2; t++) first.step(b, 0.05f);
                SharpnessAware resumed = new SharpnessAware(b.store, ops, new Sgd(b.store, ops, 0.9f, false, 1e-3f), c);
                Map<String, String> scalars = first.scalars();
                for (Map.Entry<String, java.lang.foreign.MemorySegment> e : first.stateBuffers().entrySet()) {
                    resumed.stateBuffers().get(e.getKey()).copyFrom(e.getValue());
                }
                resumed.restoreScalars(scalars);
                for (int t = 0; t < 3; t++) resumed.step(b, 0.05f);
                assertArrayEquals(a.weights(), b.weights(), 0.0, c.describe());
            }
        }
    }

    /** Per-example least squares l_i = (x_i . w - y_i)^2 / 2 on four examples, in micro-batches of {@code m}. */
    static final class LeastSquares implements MicroBatchLoss, AutoCloseable {
        final double[][] x = {{1, 0, 2}, {0, 1, 1}, {2, 1, 0}, {1, -1, 1}};
        final double[] y = {1, 0, 2, -1};
        final int m;
        final Diagonal holder = new Diagonal(0.5, -0.5, 0.25); // only its store

        LeastSquares(int m) {
            this.m = m;
        }

        @Override
        public int count() {
            return 4 / m;
        }

        @Override
        public double weight(int k) {
            return (double) m / 4;
        }

        @Override
        public double lossAndGrad(Mode mode, int k) {
            double[] w = holder.weights(), g = new double[3];
            double loss = 0;
            for (int i = k * m; i < (k + 1) * m; i++) {
                double r = x[i][0] * w[0] + x[i][1] * w[1] + x[i][2] * w[2] - y[i];
                loss += r * r / 2 / m;
                for (int j = 0; j < 3; j++) g[j] += r * x[i][j] / m;
            }
            for (int j = 0; j < 3; j++) holder.store.grads().setAtIndex(JAVA_FLOAT, j, (float) g[j]);
            return loss;
        }

        @Override
        public void close() {
            holder.close();
        }
    }

    @Test
    void mSharpnessWorkedExample() {
        // rho 0.1, SGD lr 1 without momentum or decay: w1 = w0 - d.
        double[][] expectedD = {{-0.252436, -1.094516, 0.423514}, {-0.201283, -1.070293, 0.553753}}; // m = 2, m = 4
        int[] ms = {2, 4};
        for (int c = 0; c < 2; c++) {
            try (LeastSquares ls = new LeastSquares(ms[c])) {
                SharpnessAware opt = plainSgd(ls.holder.store, KernelsProvider.get(), Config.sam(0.1f));
                assertTrue(opt.stepPerMicroBatch(ls, 1f).sharpnessStep());
                double[] w = ls.holder.weights();
                double[] w0 = {0.5, -0.5, 0.25};
                for (int j = 0; j < 3; j++) assertEquals(expectedD[c][j], w0[j] - w[j], 2e-6, "m = " + ms[c] + " d[" + j + "]");
            }
        }
    }

    @Test
    void oneMicroBatchIsTheWholeBatchSamStepBitForBit() {
        try (LeastSquares ls = new LeastSquares(4); LeastSquares whole = new LeastSquares(4)) {
            FlatOps ops = new FlatOps(KernelsProvider.get(), new Parallel(1));
            Config cfg = Config.sam(0.1f).withDescent(new Descent.Gsam(0.2f));
            SharpnessAware a = new SharpnessAware(ls.holder.store, ops, new Sgd(ls.holder.store, ops, 0.9f, false, 5e-4f), cfg);
            SharpnessAware b = new SharpnessAware(whole.holder.store, ops, new Sgd(whole.holder.store, ops, 0.9f, false, 5e-4f), cfg);
            for (int t = 0; t < 3; t++) {
                a.stepPerMicroBatch(ls, 0.1f);
                b.step(pass -> whole.lossAndGrad(pass, 0), 0.1f);
            }
            assertArrayEquals(whole.holder.weights(), ls.holder.weights(), 0.0, "bit for bit");
        }
    }

    @Test
    void accumulationAveragesTheMicroBatchGradients() {
        // SGD through Accumulated (2 micro-batches) equals SGD on the full-batch gradient up to float rounding.
        try (LeastSquares two = new LeastSquares(2); LeastSquares one = new LeastSquares(4)) {
            FlatOps ops = new FlatOps(KernelsProvider.get(), new Parallel(1));
            Plain a = new Plain(two.holder.store, ops, new Sgd(two.holder.store, ops, 0.9f, false, 5e-4f), 0f);
            Plain b = new Plain(one.holder.store, ops, new Sgd(one.holder.store, ops, 0.9f, false, 5e-4f), 0f);
            LossFunction accumulated = new Accumulated(two, two.holder.store, ops);
            for (int t = 0; t < 3; t++) {
                double la = a.step(accumulated, 0.1f).loss();
                double lb = b.step(pass -> one.lossAndGrad(pass, 0), 0.1f).loss();
                assertEquals(lb, la, 1e-6, "the loss is the batch mean");
            }
            assertArrayEquals(one.holder.weights(), two.holder.weights(), 1e-6);
            assertFalse(java.util.Arrays.equals(new double[] {0.5, -0.5, 0.25}, two.holder.weights()), "it moved");
        }
    }

    /** The ESAM worked example: per-example least squares, each coordinate its own tensor. */
    static final class PerExample implements ExampleLossFunction, AutoCloseable {
        final double[][] x = {{1, 0, 2}, {0, 1, 1}, {2, 1, 0}, {1, -1, 1}};
        final double[] y = {1, 0, 2, -1};
        final ParameterStore store;
        final long[] off = new long[3];
        final double[] last = new double[4];
        int grads, forwards;
        int[] lastSubset;

        PerExample() {
            ParameterStore.Builder sb = ParameterStore.builder();
            sb.param("a.weight", 1);
            sb.param("b.weight", 1);
            sb.param("c.weight", 1);
            store = sb.build();
            for (int j = 0; j < 3; j++) off[j] = store.paramTensors().get(j).offset();
        }

        void set(double... w) {
            for (int j = 0; j < 3; j++) store.params().setAtIndex(JAVA_FLOAT, off[j], (float) w[j]);
        }

        double[] weights() {
            double[] w = new double[3];
            for (int j = 0; j < 3; j++) w[j] = store.params().getAtIndex(JAVA_FLOAT, off[j]);
            return w;
        }

        private double eval(int[] subset, int count, boolean grad) {
            double[] w = weights(), g = new double[3];
            double loss = 0;
            for (int c = 0; c < count; c++) {
                int i = subset[c];
                double r = x[i][0] * w[0] + x[i][1] * w[1] + x[i][2] * w[2] - y[i];
                last[i] = r * r / 2;
                loss += last[i] / count;
                for (int j = 0; j < 3; j++) g[j] += r * x[i][j] / count;
            }
            if (grad) for (int j = 0; j < 3; j++) store.grads().setAtIndex(JAVA_FLOAT, off[j], (float) g[j]);
            return loss;
        }

        @Override
        public double lossAndGrad(Mode mode) {
            grads++;
            return eval(new int[] {0, 1, 2, 3}, 4, true);
        }

        @Override
        public int batchSize() {
            return 4;
        }

        @Override
        public double exampleLoss(int i) {
            return last[i];
        }

        @Override
        public double lossOnly(Mode mode) {
            forwards++;
            return eval(new int[] {0, 1, 2, 3}, 4, false);
        }

        @Override
        public double lossAndGradOn(Mode mode, int[] subset, int count) {
            grads++;
            lastSubset = java.util.Arrays.copyOf(subset, count);
            return eval(subset, count, true);
        }

        @Override
        public void close() {
            store.close();
        }
    }

    @Test
    void esamWorkedExample() {
        // rho 0.1, beta 0.5, gamma 0.5, tensor mask (1, 0, 1) at step 1, plain SGD lr 0.1.
        long seed = 0;
        while (!(keeps(seed, 0) && !keeps(seed, 1) && keeps(seed, 2))) seed++;
        for (Kernels k : kernels()) {
            try (PerExample f = new PerExample()) {
                SharpnessAware opt = plainSgd(f.store, k, Config.sam(0.1f).withEsam(new Esam.On(0.5f, 0.5f, seed)));
                f.set(0.5, -0.5, 0.25);
                opt.step(f, 0.1f); // step 0 perturbs every tensor
                f.set(0.5, -0.5, 0.25);
                f.grads = f.forwards = 0;
                StepStats s = opt.step(f, 0.1f);
                assertEquals(2, f.grads, "pass 1 on B and pass 2 on S");
                assertEquals(1, f.forwards, "one forward-only pass at w + e");
                assertArrayEquals(new int[] {3}, f.lastSubset, "strictly above the 2nd largest rise: one example");
                assertArrayEquals(new double[] {0.263296, -0.263296, 0.013296}, f.weights(), 2e-6, k.name());
                assertEquals(0.2, s.perturbNorm(), 1e-6, "||e|| = rho/beta over the kept tensors");
                assertEquals(1 + 1.0 / 3 + 1.0 / 4, s.gradEvaluations(), 1e-12,
                        "pass 1, the selection forward (1/3 of an evaluation), pass 2 on 1 of 4 examples");
            }
        }
    }

    private static boolean keeps(long seed, int tensor) {
        return new Esam.On(0.5f, 0.5f, seed).keeps(1, tensor);
    }

    @Test
    void esamWithBetaAndGammaOneIsSamUpToItsEpsilon() {
        try (PerExample a = new PerExample(); PerExample b = new PerExample()) {
            a.set(0.5, -0.5, 0.25);
            b.set(0.5, -0.5, 0.25);
            plainSgd(a.store, KernelsProvider.get(), Config.sam(0.1f)).step(a, 0.1f);
            StepStats s = plainSgd(b.store, KernelsProvider.get(), Config.sam(0.1f).withEsam(new Esam.On(1f, 1f, 3))).step(b, 0.1f);
            assertArrayEquals(a.weights(), b.weights(), 1e-6);
            assertEquals(2, s.gradEvaluations(), "gamma 1: two whole passes, like SAM");
            assertEquals(0, b.forwards, "gamma 1: no selection forward");
        }
    }
}
