package io.sam4j.sharpness;

import io.sam4j.kernels.FlatOps;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * The top Hessian eigenvalue by power iteration, as PyHessian's {@code hessian.eigenvalues}: a Gaussian
 * start, normalised; then repeatedly {@code Hv}, {@code lambda = v^T H v}, {@code v <- Hv / ||Hv||},
 * stopping when the relative change {@code |lambda - lambda_prev| / (|lambda_prev| + 1e-6)} falls below
 * {@code tol} (default 1e-3) or after {@code maxIter} products (default 100).
 *
 * <p>The result is the eigenvalue of largest MAGNITUDE; a negative one can be followed by a run with
 * {@link #shift(double)} set to it, which iterates on {@code H - shift I} and adds the shift back.
 *
 * <p>{@link #top(int)} finds k eigenpairs one after another: each run re-orthonormalises its vector
 * against the pairs already found (Gram-Schmidt, then normalisation) before every product, so it
 * converges to the largest-magnitude eigenvalue of H restricted to their orthogonal complement.
 * Relative stopping error: with eigenvalue ratio q = (lambda_2/lambda_1)^2 per step, the error at the
 * stop is about {@code tol / (1 - q)}; use a smaller tol for tightly clustered spectra.
 *
 * <p>Seeded ({@link #seed(long)}): the same seed, weights and oracle give the same result bit for bit
 * for a fixed thread count and kernel choice. Buffers come from the product's arena: two per estimator,
 * one per returned eigenvector; nothing is allocated per iteration.
 */
public final class PowerIteration {
    public static final int DEFAULT_MAX_ITER = 100;
    public static final double DEFAULT_TOL = 1e-3;

    /**
     * One eigenpair: the eigenvalue, the products its run took, whether it met the tolerance before
     * {@code maxIter}, and the unit eigenvector (a buffer of the store's layout, zero on the padding,
     * valid until the product's {@link HessianVectorProduct#close()}).
     */
    public record Eigenpair(double value, int iterations, boolean converged, MemorySegment vector) {}

    private final CurvatureOperator hvp;
    private final FlatOps ops;
    private final long n;
    private final MemorySegment v;
    private final MemorySegment hv;
    private int maxIter = DEFAULT_MAX_ITER;
    private double tol = DEFAULT_TOL;
    private long seed = 0;
    private double shift = 0;
    private IterationListener listener = IterationListener.NONE;

    public PowerIteration(CurvatureOperator hvp) {
        this.hvp = Objects.requireNonNull(hvp);
        this.ops = hvp.ops();
        this.n = hvp.length();
        this.v = hvp.newBuffer();
        this.hv = hvp.newBuffer();
    }

    public PowerIteration maxIter(int maxIter) {
        if (maxIter < 1) throw new IllegalArgumentException("maxIter must be >= 1, got " + maxIter);
        this.maxIter = maxIter;
        return this;
    }

    public PowerIteration tol(double tol) {
        if (!(tol >= 0)) throw new IllegalArgumentException("tol must be >= 0, got " + tol);
        this.tol = tol;
        return this;
    }

    public PowerIteration seed(long seed) {
        this.seed = seed;
        return this;
    }

    /** Iterate on {@code H - shift I} and report eigenvalues of H (default 0). */
    public PowerIteration shift(double shift) {
        if (!Double.isFinite(shift)) throw new IllegalArgumentException("shift must be finite, got " + shift);
        this.shift = shift;
        return this;
    }

    public PowerIteration listener(IterationListener l) {
        this.listener = Objects.requireNonNull(l);
        return this;
    }

    /** The largest-magnitude eigenvalue (of {@code H - shift I}, shifted back). */
    public Eigenpair largest() {
        return top(1).get(0);
    }

    /** The k largest-magnitude eigenpairs, in the order found (largest first up to estimation error). */
    public List<Eigenpair> top(int k) {
        long dim = hvp.store().paramCount();
        if (k < 1 || k > dim) throw new IllegalArgumentException("k must be in [1, " + dim + "], got " + k);
        SplittableRandom rng = new SplittableRandom(seed);
        List<Eigenpair> found = new ArrayList<>(k);
        for (int j = 0; j < k; j++) found.add(run(rng, found));
        return found;
    }

    private Eigenpair run(SplittableRandom rng, List<Eigenpair> found) {
        RandomVectors.gaussian(hvp.store(), ops, v, rng);
        double lambda = Double.NaN;
        int it = 0;
        boolean converged = false;
        while (it < maxIter) {
            if (orthonormalise(v, found) == 0) {       // the start (or the iterate) lies in the span found
                RandomVectors.gaussian(hvp.store(), ops, v, rng);
                continue;
            }
            hvp.apply(v, hv);
            if (shift != 0) ops.axpy((float) -shift, v, hv, n);
            it++;
            double cur = ops.dot(v, hv, n);            // v^T (H - shift I) v, v unit
            double norm = Math.sqrt(ops.sumSquares(hv, n));
            if (!Double.isFinite(cur) || !Double.isFinite(norm)) {
                throw new IllegalStateException("Hessian-vector product is not finite at iteration " + it
                        + " (does the loss overflow at w +- r v?)");
            }
            listener.onIteration(it, maxIter, cur + shift);
            if (norm == 0) {                           // v is in the null space: eigenvalue exactly 0
                lambda = cur;
                converged = true;
                break;
            }
            ops.copy(hv, v, n);
            ops.scale((float) (1 / norm), v, n);
            boolean done = !Double.isNaN(lambda) && Math.abs(cur - lambda) / (Math.abs(lambda) + 1e-6) < tol;
            lambda = cur;
            if (done) {
                converged = true;
                break;
            }
        }
        MemorySegment vec = hvp.newBuffer();
        ops.copy(v, vec, n);
        orthonormalise(vec, found);                    // keep the returned basis orthonormal
        return new Eigenpair(lambda + shift, it, converged, vec);
    }

    /** Gram-Schmidt of x against the found vectors (unit, orthogonal), then x <- x/||x||; returns ||x|| before. */
    private double orthonormalise(MemorySegment x, List<Eigenpair> found) {
        for (Eigenpair e : found) ops.axpy((float) -ops.dot(x, e.vector(), n), e.vector(), x, n);
        double norm = Math.sqrt(ops.sumSquares(x, n));
        if (norm > 0) ops.scale((float) (1 / norm), x, n);
        return norm;
    }
}
