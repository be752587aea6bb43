package io.sam4j.sharpness;

import io.sam4j.config.ConfigException;
import io.sam4j.kernels.FlatOps;
import io.sam4j.nn.Mode;
import io.sam4j.nn.ParameterStore;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * One sharpness analysis of the weights in a store: the loss and gradient at w, the ascent sharpness
 * {@code L(w + rho g/||g||) - L(w)} (what SAM's ascent step sees; and its m-sharpness version per batch),
 * lambda_max by power iteration (optionally the top k), Tr(H) by Hutchinson with its standard error,
 * and the alignment of the gradient with the top eigenvector. See {@link HessianVectorProduct},
 * {@link PowerIteration}, {@link Hutchinson}.
 *
 * <p>The weights come back bit for bit (every move is undone by copying the saved weights back), and
 * {@link #analyse} leaves the oracle's gradient at w in the store's gradient buffer (the lower-level
 * pieces leave whatever they evaluated last). BatchNorm running statistics are the oracle's business
 * ({@link ModelOracle} never updates them). Cost: about {@code 2 * (iterations + samples) + 3} gradient
 * evaluations on the subset; run it every few epochs on 1-2k examples, not per step.
 */
public final class Sharpness {
    private Sharpness() {}

    /** How Hessian-vector products are computed: exact (R-operator, needs a {@link ModelOracle}) or by finite differences. */
    public enum Hvp { EXACT, FD }

    /** lambda_max (and the top k): Lanczos with full reorthogonalisation, or power iteration with deflation. */
    public enum EigenMethod { LANCZOS, POWER }

    /** Tr(H): Hutchinson (PyHessian) or Hutch++ (same budget of products). */
    public enum TraceMethod { HUTCHINSON, HUTCHPP }

    /** Parts of an analysis, for progress reports. */
    public enum Phase { LOSS, ASCENT, M_SHARPNESS, LAMBDA_MAX, TOP_K, TRACE, ALIGNMENT }

    /** Progress of a long analysis: {@code done} of at most {@code max} steps of {@code phase}, the running estimate. */
    @FunctionalInterface
    public interface Progress {
        Progress NONE = (phase, done, max, estimate) -> {};

        void update(Phase phase, int done, int max, double estimate);
    }

    /**
     * What to compute. {@code topK <= 1}: lambda_max only; {@code traceSamples = 0}: no trace;
     * {@code rho} NaN or 0: no ascent sharpness. {@code absoluteStep} NaN: the step is
     * {@code relativeStep * max(1, ||w||)}. Power iteration draws from {@code seed}, Hutchinson from {@code seed + 1}.
     */
    public record Options(int maxIter, double tol, int topK, int traceSamples, int traceMinSamples, double traceTol,
                          double rho, boolean mSharpness, double relativeStep, double absoluteStep, long seed,
                          Hvp hvp, EigenMethod eigenMethod, TraceMethod traceMethod) {
        public Options {
            Objects.requireNonNull(hvp);
            Objects.requireNonNull(eigenMethod);
            Objects.requireNonNull(traceMethod);
            if (maxIter < 1) throw ConfigException.mustBe("maxIter", ">= 1", maxIter);
            if (!(tol >= 0)) throw ConfigException.mustBe("tol", ">= 0", tol);
            if (topK < 0) throw ConfigException.mustBe("topK", ">= 0", topK);
            if (traceSamples < 0) throw ConfigException.mustBe("traceSamples", ">= 0", traceSamples);
            if (traceMinSamples < 2) throw ConfigException.mustBe("traceMinSamples", ">= 2", traceMinSamples);
            if (!(traceTol >= 0)) throw ConfigException.mustBe("traceTol", ">= 0", traceTol);
            if (rho < 0 || Double.isInfinite(rho)) throw ConfigException.mustBe("rho", ">= 0", rho);
            if (!(relativeStep > 0)) throw ConfigException.mustBe("relativeStep", "> 0", relativeStep);
            if (!Double.isNaN(absoluteStep) && !(absoluteStep > 0 && Double.isFinite(absoluteStep))) {
                throw ConfigException.mustBe("absoluteStep", "> 0", absoluteStep);
            }
        }

        public Options withHvp(Hvp v) {
            return new Options(maxIter, tol, topK, traceSamples, traceMinSamples, traceTol, rho, mSharpness, relativeStep, absoluteStep, seed, v, eigenMethod, traceMethod);
        }

        public Options withEigenMethod(EigenMethod v) {
            return new Options(maxIter, tol, topK, traceSamples, traceMinSamples, traceTol, rho, mSharpness, relativeStep, absoluteStep, seed, hvp, v, traceMethod);
        }

        public Options withTraceMethod(TraceMethod v) {
            return new Options(maxIter, tol, topK, traceSamples, traceMinSamples, traceTol, rho, mSharpness, relativeStep, absoluteStep, seed, hvp, eigenMethod, v);
        }

        /**
         * PyHessian's defaults: 100 iterations, tol 1e-3, 100 trace samples (at least 10), trace tol
         * 1e-3; no top-k; rho 0.05 (SAM's usual radius) with m-sharpness; relative step 1e-3 (for fd); seed 0;
         * exact products, Lanczos, Hutchinson.
         */
        public static Options defaults() {
            return new Options(PowerIteration.DEFAULT_MAX_ITER, PowerIteration.DEFAULT_TOL, 1,
                    Hutchinson.DEFAULT_MAX_SAMPLES, Hutchinson.DEFAULT_MIN_SAMPLES, Hutchinson.DEFAULT_TOL,
                    0.05, true, HessianVectorProduct.DEFAULT_RELATIVE_STEP, Double.NaN, 0L,
                    Hvp.EXACT, EigenMethod.LANCZOS, TraceMethod.HUTCHINSON);
        }

        public Options withMaxIter(int v) {
            return new Options(v, tol, topK, traceSamples, traceMinSamples, traceTol, rho, mSharpness, relativeStep, absoluteStep, seed, hvp, eigenMethod, traceMethod);
        }

        public Options withTol(double v) {
            return new Options(maxIter, v, topK, traceSamples, traceMinSamples, traceTol, rho, mSharpness, relativeStep, absoluteStep, seed, hvp, eigenMethod, traceMethod);
        }

        public Options withTopK(int v) {
            return new Options(maxIter, tol, v, traceSamples, traceMinSamples, traceTol, rho, mSharpness, relativeStep, absoluteStep, seed, hvp, eigenMethod, traceMethod);
        }

        public Options withTraceSamples(int v) {
            return new Options(maxIter, tol, topK, v, traceMinSamples, traceTol, rho, mSharpness, relativeStep, absoluteStep, seed, hvp, eigenMethod, traceMethod);
        }

        public Options withTraceMinSamples(int v) {
            return new Options(maxIter, tol, topK, traceSamples, v, traceTol, rho, mSharpness, relativeStep, absoluteStep, seed, hvp, eigenMethod, traceMethod);
        }

        public Options withTraceTol(double v) {
            return new Options(maxIter, tol, topK, traceSamples, traceMinSamples, v, rho, mSharpness, relativeStep, absoluteStep, seed, hvp, eigenMethod, traceMethod);
        }

        public Options withRho(double v) {
            return new Options(maxIter, tol, topK, traceSamples, traceMinSamples, traceTol, v, mSharpness, relativeStep, absoluteStep, seed, hvp, eigenMethod, traceMethod);
        }

        public Options withMSharpness(boolean v) {
            return new Options(maxIter, tol, topK, traceSamples, traceMinSamples, traceTol, rho, v, relativeStep, absoluteStep, seed, hvp, eigenMethod, traceMethod);
        }

        public Options withRelativeStep(double v) {
            return new Options(maxIter, tol, topK, traceSamples, traceMinSamples, traceTol, rho, mSharpness, v, Double.NaN, seed, hvp, eigenMethod, traceMethod);
        }

        public Options withAbsoluteStep(double v) {
            return new Options(maxIter, tol, topK, traceSamples, traceMinSamples, traceTol, rho, mSharpness, relativeStep, v, seed, hvp, eigenMethod, traceMethod);
        }

        public Options withSeed(long v) {
            return new Options(maxIter, tol, topK, traceSamples, traceMinSamples, traceTol, rho, mSharpness, relativeStep, absoluteStep, v, hvp, eigenMethod, traceMethod);
        }
    }

    /** {@code L(w)}, {@code L(w + rho g/||g||)} and ||g||; the sharpness is their difference. */
    public record Ascent(double loss, double lossAtAscent, double gradNorm, double rho) {
        /** {@code L(w + rho g/||g||) - L(w)}: NaN when the gradient is zero (no ascent direction). */
        public double sharpness() {
            return lossAtAscent - loss;
        }
    }

    /**
     * Ascent sharpness {@code L(w + rho g/||g||) - L(w)} with g the oracle's gradient at w; the weights
     * are saved into {@code w0} (a buffer of the store's layout) and restored from it by copy.
     */
    public static Ascent ascent(ParameterStore store, GradientOracle oracle, FlatOps ops, double rho, MemorySegment w0) {
        double l0 = oracle.lossAndGrad();
        return ascentFromGradient(store, oracle, ops, rho, l0, store.grads(), w0);
    }

    /** As {@link #ascent} with the loss and gradient at w already known ({@code g} may be the store's gradient buffer). */
    static Ascent ascentFromGradient(ParameterStore store, GradientOracle oracle, FlatOps ops, double rho, double l0,
                                     MemorySegment g, MemorySegment w0) {
        long n = store.paramLength();
        double gn = Math.sqrt(ops.sumSquares(g, n));
        if (gn == 0 || !Double.isFinite(gn)) return new Ascent(l0, Double.NaN, gn, rho);
        MemorySegment w = store.params();
        ops.copy(w, w0, n);
        double l1;
        try {
            ops.axpy((float) (rho / gn), g, w, n);
            l1 = oracle.loss();
        } finally {
            ops.copy(w0, w, n);
        }
        return new Ascent(l0, l1, gn, rho);
    }

    /**
     * m-sharpness: the mean over subsets (each its own oracle, weighted by {@code weights}, which are
     * normalised here) of each subset's ascent sharpness, every subset perturbed along its OWN gradient
     * as SAM does per worker. Subsets whose gradient is zero count as 0.
     */
    public static double mSharpness(ParameterStore store, List<? extends GradientOracle> subsets, double[] weights,
                                    FlatOps ops, double rho, MemorySegment w0, Progress progress) {
        if (subsets.size() != weights.length) throw new IllegalArgumentException("one weight per subset");
        double sum = 0, wsum = 0;
        for (int i = 0; i < subsets.size(); i++) {
            Ascent a = ascent(store, subsets.get(i), ops, rho, w0);
            double s = Double.isNaN(a.sharpness()) ? 0 : a.sharpness();
            sum += weights[i] * s;
            wsum += weights[i];
            progress.update(Phase.M_SHARPNESS, i + 1, subsets.size(), sum / wsum);
        }
        return sum / wsum;
    }

    /** Analysis through a {@link ModelOracle}: records the model, subset size and BN mode, and m-sharpness per batch. */
    public static SharpnessReport analyse(ModelOracle oracle, Options o, Progress progress) {
        String bn = oracle.mode() == Mode.EVAL ? "eval" : "batch";
        List<GradientOracle> subsets = o.mSharpness() && oracle.batches().size() > 1 ? oracle.perBatch() : null;
        double[] weights = new double[oracle.batches().size()];
        int m = 0;
        for (int i = 0; i < weights.length; i++) {
            weights[i] = oracle.batches().get(i).n();
            m = Math.max(m, oracle.batches().get(i).n());
        }
        return analyse(oracle.model().store(), oracle, new FlatOps(oracle.model().context().kernels(),
                oracle.model().context().parallel()), o, progress, oracle.model().name(), oracle.examples(), bn,
                subsets, weights, m);
    }

    /** Analysis through any oracle (no m-sharpness: the oracle has no subsets); exact products need a {@link ModelOracle}. */
    public static SharpnessReport analyse(ParameterStore store, GradientOracle oracle, FlatOps ops, Options o,
                                          Progress progress) {
        return analyse(store, oracle, ops, o, progress, null, null, null, null, null, 0);
    }

    /** The Hessian operator the options ask for: exact (R-operator) through a {@link ModelOracle}, or finite differences. */
    public static CurvatureOperator operator(ParameterStore store, GradientOracle oracle, FlatOps ops, Options o) {
        if (o.hvp() == Hvp.EXACT) {
            if (!(oracle instanceof ModelOracle mo)) throw new IllegalArgumentException("exact Hessian-vector products need a model (ModelOracle); use --hvp fd");
            return new ExactHessianVectorProduct(mo, false);
        }
        HessianVectorProduct fd = new HessianVectorProduct(store, oracle, ops);
        if (Double.isNaN(o.absoluteStep())) fd.relativeStep(o.relativeStep());
        else fd.absoluteStep(o.absoluteStep());
        return fd;
    }

    /** The top eigenpairs found: values, products each took, convergence, the top vector, lambda_min if known. */
    private record Eigen(List<Double> values, List<Integer> iterations, List<Boolean> converged, MemorySegment top, Double lambdaMin) {}

    private static Eigen eigen(CurvatureOperator op, Options o, Progress progress) {
        int k = Math.max(1, o.topK());
        Phase phase = k == 1 ? Phase.LAMBDA_MAX : Phase.TOP_K;
        IterationListener l = (it, max, est) -> progress.update(phase, it, max, est);
        List<Double> values = new ArrayList<>();
        List<Integer> iterations = new ArrayList<>();
        List<Boolean> converged = new ArrayList<>();
        if (o.eigenMethod() == EigenMethod.LANCZOS) {
            Lanczos.Result r = new Lanczos(op).maxSteps(o.maxIter()).tol(o.tol()).seed(o.seed()).listener(l).top(k);
            for (Lanczos.Ritz p : r.top()) {
                values.add(p.value());
                iterations.add(r.steps());
                converged.add(p.converged());
            }
            return new Eigen(values, iterations, converged, r.top().get(0).vector(), r.smallest());
        }
        List<PowerIteration.Eigenpair> pairs = new PowerIteration(op).maxIter(o.maxIter()).tol(o.tol()).seed(o.seed()).listener(l).top(k);
        for (PowerIteration.Eigenpair p : pairs) {
            values.add(p.value());
            iterations.add(p.iterations());
            converged.add(p.converged());
        }
        return new Eigen(values, iterations, converged, pairs.get(0).vector(), null);
    }

    private record Trace(double trace, double stdError, int samples, boolean converged, double perParam) {}

    private static Trace trace(CurvatureOperator op, Options o, Progress progress) {
        IterationListener l = (it, max, est) -> progress.update(Phase.TRACE, it, max, est);
        if (o.traceMethod() == TraceMethod.HUTCHPP) {
            HutchPlusPlus.Estimate e = new HutchPlusPlus(op).seed(o.seed() + 1).listener(l).estimate(Math.max(6, o.traceSamples()));
            return new Trace(e.trace(), e.stdError(), e.products(), true, e.trace() / e.dimension());
        }
        Hutchinson.Estimate e = new Hutchinson(op).maxSamples(o.traceSamples()).minSamples(o.traceMinSamples()).tol(o.traceTol())
                .seed(o.seed() + 1).listener(l).estimate();
        return new Trace(e.trace(), e.stdError(), e.samples(), e.converged(), e.tracePerParam());
    }

    private static SharpnessReport analyse(ParameterStore store, GradientOracle oracle, FlatOps ops, Options o,
                                           Progress progress, String model, Integer examples, String bn,
                                           List<GradientOracle> subsets, double[] weights, int m) {
        Objects.requireNonNull(progress);
        long t0 = System.nanoTime();
        long n = store.paramLength();
        long extraEvaluations = 0; // full-subset gradient evaluations outside the products
        try (CurvatureOperator op = operator(store, oracle, ops, o)) {
            double weightNorm = Math.sqrt(ops.sumSquares(store.params(), n));
            Double step = op instanceof HessianVectorProduct fd ? fd.step() : null;

            // Loss and gradient at w (kept for the alignment and the ascent).
            MemorySegment g = op.newBuffer();
            MemorySegment w0 = op.newBuffer();
            double loss = oracle.lossAndGrad();
            extraEvaluations++;
            ops.copy(store.grads(), g, n);
            double gradNorm = Math.sqrt(ops.sumSquares(g, n));
            progress.update(Phase.LOSS, 1, 1, loss);

            Ascent asc = null;
            Double mSharp = null;
            boolean doAscent = o.rho() > 0;
            if (doAscent) {
                asc = ascentFromGradient(store, oracle, ops, o.rho(), loss, g, w0); // one forward-only pass
                progress.update(Phase.ASCENT, 1, 1, asc.sharpness());
                if (subsets != null) {
                    mSharp = mSharpness(store, subsets, weights, ops, o.rho(), w0, progress);
                    extraEvaluations++; // the batches' gradients add up to one pass over the subset
                }
            }

            long tl = System.nanoTime();
            Eigen eig = eigen(op, o, progress);
            double lambdaSeconds = (System.nanoTime() - tl) / 1e9;
            double alignment = Alignment.cosine(ops, n, g, eig.top());
            progress.update(Phase.ALIGNMENT, 1, 1, alignment);

            Trace tr = null;
            double traceSeconds = Double.NaN;
            if (o.traceSamples() > 0) {
                long tt = System.nanoTime();
                tr = trace(op, o, progress);
                traceSeconds = (System.nanoTime() - tt) / 1e9;
            }
            boolean topK = Math.max(1, o.topK()) > 1;
            ops.copy(g, store.grads(), n); // leave the gradient at w behind, as a plain evaluation would
            long evaluations = op.gradientEvaluations() + extraEvaluations;
            return new SharpnessReport(model, store.paramCount(), examples, bn, o.seed(),
                    step, step != null && Double.isNaN(o.absoluteStep()) ? o.relativeStep() : null, weightNorm,
                    loss, gradNorm,
                    eig.values().get(0), eig.iterations().get(0), eig.converged().get(0),
                    topK ? eig.values() : null, topK ? eig.iterations() : null, topK ? eig.converged() : null,
                    tr == null ? null : tr.trace(), tr == null ? null : finite(tr.stdError()),
                    tr == null ? null : tr.samples(), tr == null ? null : tr.converged(),
                    tr == null ? null : tr.perParam(),
                    finite(alignment),
                    doAscent ? o.rho() : null, asc == null ? null : finite(asc.lossAtAscent()),
                    asc == null ? null : finite(asc.sharpness()), mSharp == null ? null : m, mSharp,
                    o.tol(), o.maxIter(), tr == null || o.traceMethod() == TraceMethod.HUTCHPP ? null : o.traceTol(),
                    evaluations, lambdaSeconds, tr == null ? null : traceSeconds, (System.nanoTime() - t0) / 1e9,
                    op.kind(), o.eigenMethod().name().toLowerCase(java.util.Locale.ROOT),
                    tr == null ? null : o.traceMethod().name().toLowerCase(java.util.Locale.ROOT), eig.lambdaMin(), op.products());
        }
    }

    private static Double finite(double v) {
        return Double.isFinite(v) ? v : null;
    }
}
