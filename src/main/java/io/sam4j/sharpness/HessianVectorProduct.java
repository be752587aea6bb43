package io.sam4j.sharpness;

import io.sam4j.kernels.FlatOps;
import io.sam4j.nn.ParameterStore;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * Hessian-vector products of a {@link GradientOracle} by central finite differences of its gradient:
 *
 * <pre>  Hv ~ ||v|| (grad L(w + r v^) - grad L(w - r v^)) / (2r),   v^ = v / ||v||  </pre>
 *
 * (error O(r^2) from the third derivative, two gradient evaluations per product). The difference is
 * always taken along the UNIT vector, so the step in parameter space is r whatever the probe's norm
 * (Hutchinson's Rademacher probes have norm sqrt(D)).
 *
 * <p><b>Step.</b> By default {@code r = relativeStep * max(1, ||w||)} with {@code relativeStep = 1e-3},
 * recomputed from the current weights at every product. Why relative: along a direction spread like the
 * weights, coordinate i moves by about {@code r/sqrt(D)} while {@code |w_i|} is about
 * {@code ||w||/sqrt(D)}, so every coordinate moves by about {@code relativeStep} of itself whatever the
 * model's size; float32 then rounds {@code w_i + r v^_i} with relative error ~6e-8/1e-3 = 6e-5 of the
 * step. The usual float32 advice is a step of 1e-2 to 1e-3 for weights of order one (the float64 range,
 * 1e-4 to 1e-5, loses to float32 rounding of the gradients: their ~1e-7 relative error is amplified
 * by ||grad||/r); the {@code max(1, .)} keeps that absolute floor for tiny weight vectors (and w = 0).
 * {@link #absoluteStep(double)} fixes r instead.
 *
 * <p><b>ReLU and max-pool kinks.</b> Autograd's Hessian (PyHessian's) ignores the kinks; a finite
 * difference of the gradient does not: every pre-activation whose sign flips between {@code w - r v^} and
 * {@code w + r v^} adds its gradient jump divided by 2r. On a real network some always flip (1000 examples
 * of the {@code mlp}: hundreds of flips per probe at the default step), so each product carries kink noise,
 * and large steps bias the result towards the curvature of the loss smoothed over the step. Measured on the
 * mlp after 300 SGD steps, 1000 examples: {@code v1^T H v1} is flat (16.6 to 17.2) for relative steps
 * 1e-5 to 3e-3 and falls to 13.7 at 1e-2; the Hutchinson trace (60 probes) is 87 +- 50 at 1e-4,
 * 117 +- 28 at 1e-3 and 339 +- 12 at 1e-2, against an exact autograd trace of 137 (the Gauss-Newton
 * trace, equal to it for a ReLU MLP). Hence the default 1e-3: inside the eigenvalue plateau, unbiased
 * for the trace within its (kink-inflated, honestly reported) standard error. {@link #sweep} computes
 * {@code v^T H v / ||v||^2} over a range of steps so a model's plateau can be checked once.
 *
 * <p><b>State.</b> The weights are saved to a private buffer before the first move and restored BY COPY
 * afterwards, so they come back bit for bit. The store's gradient buffer is overwritten (it holds the
 * gradient at {@code w - r v^} afterwards). All vector work runs through {@link FlatOps} over the
 * store's flat layout (padding included: probes are zero on the padding, and so are the gradients), on
 * buffers allocated once in this object's arena; {@link #newBuffer()} hands out more of them for the
 * estimators (valid until {@link #close()}). Reductions (norms, dot products) accumulate in double; the
 * gradient difference is one float operation per element (exact when the two gradients are within a
 * factor of two of each other) followed by one scaling.
 *
 * <p>Not thread-safe: one product at a time.
 */
public final class HessianVectorProduct implements CurvatureOperator {
    /** Default step relative to {@code max(1, ||w||)}. */
    public static final double DEFAULT_RELATIVE_STEP = 1e-3;

    private final ParameterStore store;
    private final GradientOracle oracle;
    private final FlatOps ops;
    private final long n;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment w0;
    private final MemorySegment gPlus;
    private double relativeStep = DEFAULT_RELATIVE_STEP;
    private double absoluteStep = Double.NaN;
    private long products;
    private long evaluations;
    private double lastStep = Double.NaN;

    public HessianVectorProduct(ParameterStore store, GradientOracle oracle, FlatOps ops) {
        this.store = Objects.requireNonNull(store);
        this.oracle = Objects.requireNonNull(oracle);
        this.ops = Objects.requireNonNull(ops);
        this.n = store.paramLength();
        this.w0 = newBuffer();
        this.gPlus = newBuffer();
    }

    /** Uses {@code r = s * max(1, ||w||)} (the default, s = {@value #DEFAULT_RELATIVE_STEP}). */
    public HessianVectorProduct relativeStep(double s) {
        if (!(s > 0) || Double.isInfinite(s)) throw new IllegalArgumentException("relative step must be > 0, got " + s);
        this.relativeStep = s;
        this.absoluteStep = Double.NaN;
        return this;
    }

    /** Uses a fixed step r in parameter space, whatever the weights. */
    public HessianVectorProduct absoluteStep(double r) {
        if (!(r > 0) || Double.isInfinite(r)) throw new IllegalArgumentException("step must be > 0, got " + r);
        this.absoluteStep = r;
        return this;
    }

    /** The relative step in use, or NaN when an absolute step is fixed. */
    public double relativeStep() {
        return Double.isNaN(absoluteStep) ? relativeStep : Double.NaN;
    }

    /** The step r a product at the current weights uses. */
    public double step() {
        if (!Double.isNaN(absoluteStep)) return absoluteStep;
        return relativeStep * Math.max(1.0, Math.sqrt(ops.sumSquares(store.params(), n)));
    }

    /** The step r of the last product (NaN before the first). */
    public double lastStep() {
        return lastStep;
    }

    /**
     * Writes H v into {@code out} (may be {@code v} itself) and returns ||v||; v must be zero on the
     * store's padding. A zero v gives a zero product without evaluating anything.
     */
    @Override
    public double apply(MemorySegment v, MemorySegment out) {
        double r = step();
        return apply(v, out, r);
    }

    private double apply(MemorySegment v, MemorySegment out, double r) {
        double norm = Math.sqrt(ops.sumSquares(v, n));
        if (!Double.isFinite(norm)) throw new IllegalArgumentException("probe vector is not finite (norm " + norm + ")");
        if (norm == 0) {
            ops.fill(0f, out, n);
            return 0;
        }
        MemorySegment w = store.params();
        float s = (float) (r / norm);
        ops.copy(w, w0, n);
        try {
            ops.axpy(s, v, w, n);                 // w0 + r v^
            oracle.lossAndGrad();
            ops.copy(store.grads(), gPlus, n);
            ops.copy(w0, w, n);
            ops.axpy(-s, v, w, n);                // w0 - r v^  (last read of v: out may alias it)
            oracle.lossAndGrad();
        } finally {
            ops.copy(w0, w, n);                   // bitwise restore, also when the oracle throws
        }
        evaluations += 2;
        products++;
        lastStep = r;
        ops.copy(gPlus, out, n);
        ops.axpy(-1f, store.grads(), out, n);     // g+ - g-
        ops.scale((float) (norm / (2 * r)), out, n);
        return norm;
    }

    /**
     * v^T H v / ||v||^2 (the curvature along v) for each relative step in {@code relativeSteps}
     * ({@code r = s * max(1, ||w||)}), to find the plateau where neither truncation (large r, kinks)
     * nor float32 rounding (small r) dominates. Uses {@code scratch} (a buffer of the store's layout)
     * for the products.
     */
    public double[] sweep(MemorySegment v, MemorySegment scratch, double... relativeSteps) {
        double base = Math.max(1.0, Math.sqrt(ops.sumSquares(store.params(), n)));
        double vv = ops.sumSquares(v, n);
        double[] out = new double[relativeSteps.length];
        for (int i = 0; i < relativeSteps.length; i++) {
            if (!(relativeSteps[i] > 0)) throw new IllegalArgumentException("steps must be > 0");
            apply(v, scratch, relativeSteps[i] * base);
            out[i] = ops.dot(v, scratch, n) / vv;
        }
        return out;
    }

    /** A zeroed buffer of the store's parameter layout, freed by {@link #close()}. */
    @Override
    public MemorySegment newBuffer() {
        return arena.allocate(4L * n, 64);
    }

    @Override
    public ParameterStore store() {
        return store;
    }

    public GradientOracle oracle() {
        return oracle;
    }

    @Override
    public FlatOps ops() {
        return ops;
    }

    /** Floats in the flat layout (padding included): the range every vector operation runs over. */
    @Override
    public long length() {
        return n;
    }

    /** Products computed so far. */
    @Override
    public long products() {
        return products;
    }

    /** Gradient evaluations made by the products so far (two per product). */
    @Override
    public long gradientEvaluations() {
        return evaluations;
    }

    @Override
    public String kind() {
        return "fd";
    }

    /** Frees every buffer this object and {@link #newBuffer()} allocated. */
    @Override
    public void close() {
        arena.close();
    }
}
