package io.sam4j.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sam4j.nn.Mode;
import io.sam4j.kernels.FlatOps;
import io.sam4j.kernels.Kernels;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import io.sam4j.optim.SharpnessAware.Adaptive;
import io.sam4j.optim.SharpnessAware.Config;
import io.sam4j.optim.SharpnessAware.Direction;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

/**
 * Three steps of every optimizer variant on a quadratic against the formulas of
 * sam-family.md, evaluated here independently in double precision.
 */
class OptimizerStepTest {
    static final float LR = 0.1f, MU = 0.9f, WD = 0.01f, RHO = 0.2f, SIGMA = 0.7f, LAMBDA = 0.6f, ETA = 0.01f;

    /** Independent double-precision model of one SAM-family + SGD/AdamW run. */
    static final class Reference {
        final Quadratic q;
        final Config cfg; // null: plain base optimizer
        final String base;
        final boolean nesterov;
        double[] w, buf, m1, v, ema;
        long t;

        Reference(Quadratic q, Config cfg, String base, boolean nesterov) {
            this.q = q;
            this.cfg = cfg;
            this.base = base;
            this.nesterov = nesterov;
            w = q.weights();
            buf = new double[q.n];
            m1 = new double[q.n];
            v = new double[q.n];
            ema = null;
        }

        double tOf(int i, double wi) {
            if (cfg == null || cfg.adaptive() == Adaptive.NONE) return 1;
            if (cfg.adaptive() == Adaptive.ELEMENTWISE) return Math.abs(wi);
            return q.isWeight(i) ? Math.abs(wi) + cfg.eta() : 1;
        }

        void step(double lr) {
            t++;
            int n = q.n;
            double[] g = q.grad(w);
            double[] fin;
            if (cfg == null) {
                fin = g;
            } else {
                double[] d = g.clone();
                boolean friendly = cfg.direction() == Direction.FRIENDLY;
                if (friendly && ema != null) for (int i = 0; i < n; i++) d[i] = g[i] - cfg.sigma() * ema[i];
                if (friendly) {
                    if (ema == null) ema = g.clone();
                    else for (int i = 0; i < n; i++) ema[i] = cfg.lambda() * ema[i] + (1 - cfg.lambda()) * g[i];
                }
                double n1 = 0, nd = 0;
                for (int i = 0; i < n; i++) {
                    double ti = tOf(i, w[i]);
                    n1 += ti * g[i] * ti * g[i];
                    nd += ti * d[i] * ti * d[i];
                }
                n1 = Math.sqrt(n1);
                nd = Math.sqrt(nd);
                double eps = cfg.adaptive() == Adaptive.OFFICIAL ? 1e-16 : 1e-12;
                double s = cfg.normalized() ? cfg.rho() / (nd + eps) : cfg.rho();
                double[] wp = new double[n];
                for (int i = 0; i < n; i++) {
                    double ti = tOf(i, w[i]);
                    wp[i] = w[i] + s * ti * ti * d[i];
                }
                double[] ga = q.grad(wp);
                double scale = 1;
                if (cfg.stable()) {
                    double n2 = 0;
                    for (int i = 0; i < n; i++) {
                        double ti = tOf(i, wp[i]);
                        n2 += ti * ga[i] * ti * ga[i];
                    }
                    scale = n1 / (Math.sqrt(n2) + 1e-12);
                }
                fin = new double[n];
                for (int i = 0; i < n; i++) fin[i] = ga[i] * scale;
            }
            if (base.equals("sgd")) {
                for (int i = 0; i < n; i++) {
                    double gg = fin[i] + WD * w[i];
                    buf[i] = t == 1 ? gg : MU * buf[i] + gg;
                    double st = nesterov ? gg + MU * buf[i] : buf[i];
                    w[i] -= lr * st;
                }
            } else {
                double b1 = 0.9, b2 = 0.999, eps = 1e-8;
                double bc1 = 1 - Math.pow(b1, t), bc2 = 1 - Math.pow(b2, t);
                for (int i = 0; i < n; i++) {
                    w[i] *= 1 - lr * WD;
                    m1[i] = b1 * m1[i] + (1 - b1) * fin[i];
                    v[i] = b2 * v[i] + (1 - b2) * fin[i] * fin[i];
                    w[i] -= lr / bc1 * m1[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps);
                }
            }
        }
    }

    static Stream<Arguments> variants() {
        Stream.Builder<Arguments> s = Stream.builder();
        for (String base : new String[] {"sgd", "adamw"}) {
            s.add(Arguments.of("plain", null, base, false));
            if (base.equals("sgd")) s.add(Arguments.of("plain nesterov", null, base, true));
            for (Direction dir : Direction.values()) {
                for (Adaptive ad : Adaptive.values()) {
                    for (boolean normalized : new boolean[] {true, false}) {
                        if (dir == Direction.FRIENDLY && !normalized) continue;
                        for (boolean stable : new boolean[] {false, true}) {
                            Config c = new Config(dir, ad, normalized, stable, RHO, SIGMA, LAMBDA, ETA, 0f);
                            s.add(Arguments.of(c.describe(), c, base, base.equals("sgd") && stable));
                        }
                    }
                }
            }
        }
        return s.build();
    }

    static Optimizer build(Quadratic q, Config cfg, String base, boolean nesterov, Kernels k) {
        FlatOps ops = new FlatOps(k, new Parallel(1));
        BaseOptimizer b = base.equals("sgd") ? new Sgd(q.store, ops, MU, nesterov, WD)
                : new AdamW(q.store, ops, 0.9f, 0.999f, 1e-8f, WD);
        return cfg == null ? new Plain(q.store, ops, b, 0f) : new SharpnessAware(q.store, ops, b, cfg);
    }

    @ParameterizedTest(name = "{0} + {2}")
    @MethodSource("variants")
    void threeStepsMatchTheFormulas(String name, Config cfg, String base, boolean nesterov) {
        for (Kernels k : new Kernels[] {KernelsProvider.scalar(), KernelsProvider.get()}) {
            Quadratic q = new Quadratic(7);
            Reference ref = new Reference(q, cfg, base, nesterov);
            Optimizer opt = build(q, cfg, base, nesterov, k);
            for (int step = 1; step <= 3; step++) {
                float lr = LR * step; // a changing lr, as a schedule gives
                opt.step(q, lr);
                ref.step(lr);
                double[] got = q.weights();
                for (int i = 0; i < q.n; i++) {
                    assertEquals(ref.w[i], got[i], 2e-5 * (1 + Math.abs(ref.w[i])),
                            name + " (" + k.name() + ") step " + step + " w[" + i + "]");
                }
            }
            q.store.close();
        }
    }

    private static double norm(double[] x) {
        double s = 0;
        for (double v : x) s += v * v;
        return Math.sqrt(s);
    }

    private static double[] diff(double[] a, double[] b) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i] - b[i];
        return d;
    }

    /** A loss function that records the weights of the second pass. */
    static final class Recorder implements LossFunction {
        final Quadratic q;
        double[] atFirst, atSecond;

        Recorder(Quadratic q) {
            this.q = q;
        }

        @Override
        public double lossAndGrad(Mode mode) {
            double l = q.lossAndGrad(mode);
            if (mode == Mode.TRAIN) atFirst = q.lastSeen;
            else atSecond = q.lastSeen;
            return l;
        }
    }

    @Test
    void perturbationExcludesWeightDecayAndCoversBiases() {
        Quadratic q = new Quadratic(3);
        Optimizer opt = new SharpnessAware(q.store, new FlatOps(KernelsProvider.get(), new Parallel(1)),
                new Sgd(q.store, new FlatOps(KernelsProvider.get(), new Parallel(1)), 0.9f, false, 5f), Config.sam(RHO));
        Recorder r = new Recorder(q);
        double[] g = q.grad(q.weights());
        opt.step(r, 0.1f);
        double[] e = diff(r.atSecond, r.atFirst);
        double gn = norm(g);
        for (int i = 0; i < q.n; i++) {
            assertEquals(RHO * g[i] / gn, e[i], 1e-6, "e[" + i + "] = rho g/||g||, no weight decay (wd = 5 here)");
            assertNotEquals(0.0, e[i], "every parameter, biases included, is perturbed");
        }
    }

    @Test
    void restoreIsBitwise() {
        Quadratic q = new Quadratic(4);
        float[] before = io.sam4j.TestUtil.toArray(q.store.params(), q.store.paramLength());
        FlatOps ops = new FlatOps(KernelsProvider.get(), new Parallel(1));
        Optimizer opt = new SharpnessAware(q.store, ops, new Sgd(q.store, ops, 0f, false, 0f),
                new Config(Direction.FRIENDLY, Adaptive.OFFICIAL, true, true, 0.3f, 1f, 0.9f, 0.01f, 0f));
        opt.step(q, 0f); // lr 0: the step must leave w exactly as the restore put it
        assertArrayEquals(before, io.sam4j.TestUtil.toArray(q.store.params(), q.store.paramLength()));
    }

    @Test
    void usamPerturbationNormIsRhoTimesGradNorm() {
        Quadratic q = new Quadratic(5);
        FlatOps ops = new FlatOps(KernelsProvider.get(), new Parallel(1));
        Optimizer opt = new SharpnessAware(q.store, ops, new Sgd(q.store, ops, 0.9f, false, 0f),
                new Config(Direction.GRADIENT, Adaptive.NONE, false, false, RHO, 1, 0.9f, 0.01f, 0f));
        Recorder r = new Recorder(q);
        double gn = norm(q.grad(q.weights()));
        StepStats s = opt.step(r, 0.1f);
        assertEquals(RHO * gn, norm(diff(r.atSecond, r.atFirst)), 1e-5 * RHO * gn);
        assertEquals(RHO * gn, s.perturbNorm(), 1e-5 * RHO * gn);
    }

    @Test
    void stableSamFinalGradientHasTheFirstPassNorm() {
        // SGD without momentum or decay at lr 1: w_new = w - g_final, so ||w - w_new|| = ||g_final||.
        for (boolean normalized : new boolean[] {true, false}) {
            Quadratic q = new Quadratic(6);
            FlatOps ops = new FlatOps(KernelsProvider.get(), new Parallel(1));
            Optimizer opt = new SharpnessAware(q.store, ops, new Sgd(q.store, ops, 0f, false, 0f),
                    new Config(Direction.GRADIENT, Adaptive.NONE, normalized, true, 0.5f, 1, 0.9f, 0.01f, 0f));
            double[] w = q.weights();
            double gn = norm(q.grad(w));
            StepStats s = opt.step(q, 1f);
            assertEquals(gn, norm(diff(w, q.weights())), 1e-5 * gn);
            assertNotEquals(1.0, s.gradScale(), 1e-3, "the rescale did something");
        }
    }

    @Test
    void friendlyFirstStepEqualsSam() {
        Quadratic a = new Quadratic(8), b = new Quadratic(8);
        FlatOps ops = new FlatOps(KernelsProvider.get(), new Parallel(1));
        new SharpnessAware(a.store, ops, new Sgd(a.store, ops, MU, false, WD), Config.sam(RHO)).step(a, LR);
        new SharpnessAware(b.store, ops, new Sgd(b.store, ops, MU, false, WD),
                new Config(Direction.FRIENDLY, Adaptive.NONE, true, false, RHO, SIGMA, LAMBDA, ETA, 0f)).step(b, LR);
        assertArrayEquals(a.weights(), b.weights(), 0.0);
    }

    @Test
    void clippingScalesOnlyTheFinalGradient() {
        Quadratic q = new Quadratic(9);
        FlatOps ops = new FlatOps(KernelsProvider.get(), new Parallel(1));
        Optimizer opt = new SharpnessAware(q.store, ops, new Sgd(q.store, ops, 0f, false, 0f),
                new Config(Direction.GRADIENT, Adaptive.NONE, true, false, RHO, 1, 0.9f, 0.01f, 0.01f));
        double[] w = q.weights();
        opt.step(q, 1f);
        assertEquals(0.01, norm(diff(w, q.weights())), 1e-6);
    }

    @Test
    void friendlyUsamIsRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Config(Direction.FRIENDLY, Adaptive.NONE, false, false, RHO, 1, 0.9f, 0.01f, 0f));
        assertTrue(e.getMessage().contains("F-SAM"));
    }
}
