package io.sam4j.sharpness;

import io.sam4j.kernels.FlatOps;
import java.lang.foreign.MemorySegment;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Tr(H) by Hutchinson's estimator, as PyHessian's {@code hessian.trace}: Rademacher probes z (+-1 on
 * every real parameter, zero on the padding), {@code Tr ~ mean z^T H z}, stopping when the running mean
 * changes by less than {@code tol} relative ({@code |mean_n - mean_{n-1}| / (|mean_{n-1}| + 1e-6)},
 * default 1e-3) once at least {@code minSamples} (default 10) probes are in, or after
 * {@code maxSamples} (default 100). The products difference along z/||z|| = z/sqrt(D), so
 * {@code z^T H z = D * z^^T FD(z^)}.
 *
 * <p>The standard error is the sample standard deviation of the {@code z^T H z} values over sqrt of
 * their count (for Rademacher probes the variance is {@code 2 sum_{i != j} H_ij^2}). Running sums are in
 * double (Welford). Seeded; no allocation per sample.
 */
public final class Hutchinson {
    public static final int DEFAULT_MAX_SAMPLES = 100;
    public static final int DEFAULT_MIN_SAMPLES = 10;
    public static final double DEFAULT_TOL = 1e-3;

    /**
     * The estimate, its standard error, the probes used, whether the tolerance stopped it, the number
     * of real parameters D and the trace per parameter Tr/D.
     */
    public record Estimate(double trace, double stdError, int samples, boolean converged, long dimension,
                           double tracePerParam) {}

    private final CurvatureOperator hvp;
    private final FlatOps ops;
    private final long n;
    private final MemorySegment z;
    private final MemorySegment hz;
    private int maxSamples = DEFAULT_MAX_SAMPLES;
    private int minSamples = DEFAULT_MIN_SAMPLES;
    private double tol = DEFAULT_TOL;
    private long seed = 0;
    private IterationListener listener = IterationListener.NONE;

    public Hutchinson(CurvatureOperator hvp) {
        this.hvp = Objects.requireNonNull(hvp);
        this.ops = hvp.ops();
        this.n = hvp.length();
        this.z = hvp.newBuffer();
        this.hz = hvp.newBuffer();
    }

    public Hutchinson maxSamples(int max) {
        if (max < 1) throw new IllegalArgumentException("maxSamples must be >= 1, got " + max);
        this.maxSamples = max;
        return this;
    }

    /** Probes taken before the tolerance may stop the estimate (at least 2, for a standard error). */
    public Hutchinson minSamples(int min) {
        if (min < 2) throw new IllegalArgumentException("minSamples must be >= 2, got " + min);
        this.minSamples = min;
        return this;
    }

    public Hutchinson tol(double tol) {
        if (!(tol >= 0)) throw new IllegalArgumentException("tol must be >= 0, got " + tol);
        this.tol = tol;
        return this;
    }

    public Hutchinson seed(long seed) {
        this.seed = seed;
        return this;
    }

    public Hutchinson listener(IterationListener l) {
        this.listener = Objects.requireNonNull(l);
        return this;
    }

    public Estimate estimate() {
        SplittableRandom rng = new SplittableRandom(seed);
        long dim = hvp.store().paramCount();
        double mean = 0, m2 = 0;
        int count = 0;
        boolean converged = false;
        while (count < maxSamples) {
            RandomVectors.rademacher(hvp.store(), ops, z, rng);
            hvp.apply(z, hz);
            double q = ops.dot(z, hz, n);
            if (!Double.isFinite(q)) {
                throw new IllegalStateException("z^T H z is not finite at sample " + (count + 1)
                        + " (does the loss overflow at w +- r z^?)");
            }
            double prev = mean;
            count++;
            double d = q - mean;
            mean += d / count;
            m2 += d * (q - mean);
            listener.onIteration(count, maxSamples, mean);
            if (count >= Math.max(2, minSamples) && Math.abs(mean - prev) / (Math.abs(prev) + 1e-6) < tol) {
                converged = true;
                break;
            }
        }
        double se = count > 1 ? Math.sqrt(m2 / (count - 1) / count) : Double.NaN;
        return new Estimate(mean, se, count, converged, dim, mean / dim);
    }
}
