package io.sam4j.sharpness;

import io.sam4j.kernels.FlatOps;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Tr(A) by Hutch++ (Meyer, Musco, Musco and Woodruff, SOSA 2021, Algorithm 1) with a budget of m products,
 * m a multiple of 3: Y = A S for m/3 Rademacher probes S; Q an orthonormal basis of Y (Gram-Schmidt twice);
 * {@code t1 = sum_i q_i^T A q_i} exactly on span(Q) (m/3 products); then Hutchinson on the rest,
 * {@code t2 = (3/m) sum_i g'_i^T A g'_i} with {@code g' = (I - Q Q^T) g} for m/3 more Rademacher probes g.
 * Unbiased for any symmetric A; its O(1/eps) guarantee needs A PSD (the Gauss-Newton matrix, not H), and on
 * Hessians with a few large outliers it cuts Hutchinson's variance several-fold at equal budget.
 *
 * <p>The standard error is that of t2 given Q (sample sd of the deflated quadratic forms over sqrt(m/3)),
 * since t1 is exact for its subspace. Keeps m/3 + 2 buffers. Seeded.
 */
public final class HutchPlusPlus {
    /** The estimate, its standard error, the products used, the dimension D and Tr/D. */
    public record Estimate(double trace, double stdError, int products, double subspaceTrace, double residualTrace, long dimension) {}

    private final CurvatureOperator op;
    private final FlatOps ops;
    private final long n;
    private long seed;
    private IterationListener listener = IterationListener.NONE;

    public HutchPlusPlus(CurvatureOperator op) {
        this.op = Objects.requireNonNull(op);
        this.ops = op.ops();
        this.n = op.length();
    }

    public HutchPlusPlus seed(long seed) {
        this.seed = seed;
        return this;
    }

    public HutchPlusPlus listener(IterationListener l) {
        this.listener = Objects.requireNonNull(l);
        return this;
    }

    /** With a budget of {@code products} (rounded down to a multiple of 3, at least 6). */
    public Estimate estimate(int products) {
        int third = products / 3;
        if (third < 2) throw new IllegalArgumentException("Hutch++ needs a budget of at least 6 products, got " + products);
        SplittableRandom rng = new SplittableRandom(seed);
        List<MemorySegment> q = new ArrayList<>(third);
        MemorySegment probe = op.newBuffer(), image = op.newBuffer();
        int done = 0;
        for (int i = 0; i < third; i++) {                    // Y = A S, orthonormalised column by column
            RandomVectors.rademacher(op.store(), ops, probe, rng);
            MemorySegment y = op.newBuffer();
            op.apply(probe, y);
            listener.onIteration(++done, 3 * third, Double.NaN);
            if (orthonormalise(y, q) > 0) q.add(y);
        }
        double t1 = 0;
        for (MemorySegment qi : q) {
            op.apply(qi, image);
            t1 += ops.dot(qi, image, n);
            listener.onIteration(++done, 3 * third, t1);
        }
        double mean = 0, m2 = 0;
        for (int i = 0; i < third; i++) {
            RandomVectors.rademacher(op.store(), ops, probe, rng);
            for (MemorySegment qi : q) ops.axpy((float) -ops.dot(qi, probe, n), qi, probe, n);
            op.apply(probe, image);
            double s = ops.dot(probe, image, n), d = s - mean;
            mean += d / (i + 1);
            m2 += d * (s - mean);
            listener.onIteration(++done, 3 * third, t1 + mean);
        }
        double se = Math.sqrt(m2 / (third - 1) / third);
        long dim = op.store().paramCount();
        return new Estimate(t1 + mean, se, done, t1, mean, dim);
    }

    /** Gram-Schmidt of x against the unit, orthogonal vectors in q, twice, then x <- x/||x||; returns ||x||. */
    private double orthonormalise(MemorySegment x, List<MemorySegment> q) {
        for (int pass = 0; pass < 2; pass++) for (MemorySegment qi : q) ops.axpy((float) -ops.dot(qi, x, n), qi, x, n);
        double norm = Math.sqrt(ops.sumSquares(x, n));
        if (norm > 1e-12) ops.scale((float) (1 / norm), x, n);
        return norm > 1e-12 ? norm : 0;
    }
}
