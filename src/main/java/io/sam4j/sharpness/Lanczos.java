package io.sam4j.sharpness;

import io.sam4j.kernels.FlatOps;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;
import org.apache.commons.math3.linear.EigenDecomposition;

/**
 * Lanczos with full reorthogonalisation (twice, against every basis vector) for the top eigenpairs of a
 * symmetric {@link CurvatureOperator}: {@code q_1} Gaussian and unit; per step {@code u = A q_j},
 * {@code alpha_j = q_j^T u}, {@code u -= alpha_j q_j + beta_{j-1} q_{j-1}}, Gram-Schmidt twice,
 * {@code beta_j = ||u||}, {@code q_{j+1} = u / beta_j}. After each step the tridiagonal T is diagonalised
 * (in double); Ritz pair i has residual {@code ||A y_i - theta_i y_i|| = beta_j |s_i[last]|}, and the run stops
 * when the k largest Ritz values all have residual <= tol |theta_i| (PyHessian's tol, 1e-3; the eigenvalue
 * error is then of order residual^2 / gap, far below it), at an invariant subspace
 * ({@code beta_j < 1e-5 max |alpha|}, float32 basis), or after {@code maxSteps} products.
 *
 * <p>"Top" means algebraically largest (Hessians of trained nets have a few large positive outliers); the
 * smallest Ritz value estimates lambda_min for free. Memory: one buffer of the store's layout per step,
 * kept for the Ritz vectors and reused by later runs. Seeded.
 */
public final class Lanczos {
    public static final int DEFAULT_MAX_STEPS = 100;
    public static final double DEFAULT_TOL = 1e-3;
    /**
     * beta below this times max |alpha| means an invariant subspace. The basis is float32, so what is left
     * of u after reorthogonalisation is rounding noise of order 1e-7 (the 1e-10 of a double Lanczos would
     * never trigger; continuing would restart on a noise vector, harmless but useless).
     */
    static final double INVARIANT = 1e-5;

    /** A Ritz pair: value, residual norm, whether it met the tolerance, and the unit vector (store layout). */
    public record Ritz(double value, double residual, boolean converged, MemorySegment vector) {}

    /** The top k Ritz pairs (largest first), the smallest Ritz value, the steps taken, whether all k converged. */
    public record Result(List<Ritz> top, double smallest, int steps, boolean converged) {}

    /** The tridiagonal of a fixed-length run: diagonal {@code alpha}, off-diagonal {@code beta} (one shorter). */
    public record Tridiagonal(double[] alpha, double[] beta) {
        /** Eigenvalues (ascending) and the squared first components of the eigenvectors (quadrature weights). */
        public double[][] nodesAndWeights() {
            EigenDecomposition e = new EigenDecomposition(alpha, beta);
            int m = alpha.length;
            double[][] out = new double[2][m];
            Integer[] order = ascending(e.getRealEigenvalues());
            for (int i = 0; i < m; i++) {
                out[0][i] = e.getRealEigenvalue(order[i]);
                double s = e.getEigenvector(order[i]).getEntry(0);
                out[1][i] = s * s;
            }
            return out;
        }
    }

    private final CurvatureOperator op;
    private final FlatOps ops;
    private final long n;
    private final List<MemorySegment> basis = new ArrayList<>();
    private final MemorySegment u;
    private int maxSteps = DEFAULT_MAX_STEPS;
    private double tol = DEFAULT_TOL;
    private long seed;
    private IterationListener listener = IterationListener.NONE;

    public Lanczos(CurvatureOperator op) {
        this.op = Objects.requireNonNull(op);
        this.ops = op.ops();
        this.n = op.length();
        this.u = op.newBuffer();
    }

    public Lanczos maxSteps(int m) {
        if (m < 1) throw new IllegalArgumentException("Lanczos steps must be >= 1, got " + m);
        this.maxSteps = m;
        return this;
    }

    public Lanczos tol(double tol) {
        if (!(tol >= 0)) throw new IllegalArgumentException("tol must be >= 0, got " + tol);
        this.tol = tol;
        return this;
    }

    public Lanczos seed(long seed) {
        this.seed = seed;
        return this;
    }

    public Lanczos listener(IterationListener l) {
        this.listener = Objects.requireNonNull(l);
        return this;
    }

    /** The k algebraically largest eigenpairs from a Gaussian start. */
    public Result top(int k) {
        long dim = op.store().paramCount();
        if (k < 1 || k > dim) throw new IllegalArgumentException("k must be in [1, " + dim + "], got " + k);
        RandomVectors.gaussian(op.store(), ops, basisVector(0), new SplittableRandom(seed));
        int limit = (int) Math.min(maxSteps, dim);
        double[] alpha = new double[limit], beta = new double[limit];
        int steps = 0;
        EigenDecomposition eig = null;
        Integer[] order = null;
        boolean converged = false;
        normalise(basisVector(0));
        while (steps < limit) {
            boolean invariant = step(steps, alpha, beta);
            steps++;
            eig = new EigenDecomposition(java.util.Arrays.copyOf(alpha, steps), java.util.Arrays.copyOf(beta, steps - 1));
            order = descending(eig.getRealEigenvalues());
            listener.onIteration(steps, limit, eig.getRealEigenvalue(order[0]));
            converged = steps >= k && allConverged(eig, order, k, beta[steps - 1], invariant);
            if (converged || invariant) break;
        }
        int found = Math.min(k, steps);
        List<Ritz> top = new ArrayList<>(found);
        for (int i = 0; i < found; i++) {
            double theta = eig.getRealEigenvalue(order[i]);
            double res = residual(eig, order[i], steps, beta[steps - 1]);
            top.add(new Ritz(theta, res, res <= tol * Math.abs(theta) || beta[steps - 1] == 0, ritzVector(eig, order[i], steps)));
        }
        return new Result(top, eig.getRealEigenvalue(order[steps - 1]), steps, converged && found == k);
    }

    /** {@code steps} Lanczos steps from the unit vector along {@code start} (no early stop but at an invariant subspace). */
    public Tridiagonal run(MemorySegment start, int steps) {
        ops.copy(start, basisVector(0), n);
        if (normalise(basisVector(0)) == 0) throw new IllegalArgumentException("zero start vector");
        int limit = (int) Math.min(steps, op.store().paramCount());
        double[] alpha = new double[limit], beta = new double[limit];
        int done = 0;
        while (done < limit) {
            boolean invariant = step(done, alpha, beta);
            done++;
            listener.onIteration(done, limit, alpha[done - 1]);
            if (invariant) break;
        }
        return new Tridiagonal(java.util.Arrays.copyOf(alpha, done), java.util.Arrays.copyOf(beta, done - 1));
    }

    /** Step j: fills alpha[j], beta[j] and basis j+1; true at an invariant subspace (beta[j] is then 0). */
    private boolean step(int j, double[] alpha, double[] beta) {
        MemorySegment q = basisVector(j);
        op.apply(q, u);
        alpha[j] = ops.dot(q, u, n);
        if (!Double.isFinite(alpha[j])) throw new IllegalStateException("curvature product is not finite at Lanczos step " + (j + 1));
        ops.axpy((float) -alpha[j], q, u, n);
        if (j > 0) ops.axpy((float) -beta[j - 1], basisVector(j - 1), u, n);
        for (int pass = 0; pass < 2; pass++) {
            for (int i = 0; i <= j; i++) ops.axpy((float) -ops.dot(basisVector(i), u, n), basisVector(i), u, n);
        }
        double b = Math.sqrt(ops.sumSquares(u, n)), maxAlpha = 0;
        for (int i = 0; i <= j; i++) maxAlpha = Math.max(maxAlpha, Math.abs(alpha[i]));
        if (b < INVARIANT * maxAlpha || b == 0) {
            beta[j] = 0;
            return true;
        }
        beta[j] = b;
        MemorySegment next = basisVector(j + 1);
        ops.copy(u, next, n);
        ops.scale((float) (1 / b), next, n);
        return false;
    }

    private boolean allConverged(EigenDecomposition eig, Integer[] order, int k, double lastBeta, boolean invariant) {
        if (invariant) return true;
        for (int i = 0; i < k; i++) {
            double theta = eig.getRealEigenvalue(order[i]);
            if (residual(eig, order[i], order.length, lastBeta) > tol * Math.abs(theta)) return false;
        }
        return true;
    }

    private static double residual(EigenDecomposition eig, int index, int steps, double lastBeta) {
        return Math.abs(lastBeta * eig.getEigenvector(index).getEntry(steps - 1));
    }

    private MemorySegment ritzVector(EigenDecomposition eig, int index, int steps) {
        MemorySegment y = op.newBuffer();
        for (int j = 0; j < steps; j++) ops.axpy((float) eig.getEigenvector(index).getEntry(j), basisVector(j), y, n);
        normalise(y);
        return y;
    }

    private MemorySegment basisVector(int j) {
        while (basis.size() <= j) basis.add(op.newBuffer());
        return basis.get(j);
    }

    private double normalise(MemorySegment x) {
        double norm = Math.sqrt(ops.sumSquares(x, n));
        if (norm > 0) ops.scale((float) (1 / norm), x, n);
        return norm;
    }

    private static Integer[] descending(double[] values) {
        Integer[] order = ascending(values);
        java.util.Collections.reverse(java.util.Arrays.asList(order));
        return order;
    }

    private static Integer[] ascending(double[] values) {
        Integer[] order = new Integer[values.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        java.util.Arrays.sort(order, (a, b) -> Double.compare(values[a], values[b]));
        return order;
    }
}
