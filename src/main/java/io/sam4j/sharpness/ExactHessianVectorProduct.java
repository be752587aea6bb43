package io.sam4j.sharpness;

import io.sam4j.kernels.FlatOps;
import io.sam4j.nn.Model;
import io.sam4j.nn.ParameterStore;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * Exact Hessian-vector products of a {@link ModelOracle}'s mean loss by Pearlmutter's R-operator
 * (forward over reverse, {@link Model#curvatureProduct}): per batch one forward, one backward, one
 * R-forward and one R-backward, the batches' products weighted by {@code n_b / N} as the gradients are.
 * With {@code gaussNewton} the Gauss-Newton product G v instead (positive semi-definite, no ordinary backward).
 *
 * <p>Exact up to float32 rounding (about 1e-6 relative), with ReLU masks and max-pool argmaxes fixed as
 * autograd fixes them, so no step to tune and no kink noise. BatchNorm follows the oracle's mode: running
 * statistics in EVAL, each batch's own statistics (their R-derivatives included) in TRAIN_FROZEN_STATS.
 *
 * <p>The direction is copied into a bound buffer and each batch's product lands in a second one, so the layers
 * take their slices once and no product allocates. The store's gradient buffer is overwritten; the weights
 * are not touched.
 */
public final class ExactHessianVectorProduct implements CurvatureOperator {
    private final ModelOracle oracle;
    private final Model model;
    private final boolean gaussNewton;
    private final FlatOps ops;
    private final long n;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment direction, product, sum;
    private long products;

    public ExactHessianVectorProduct(ModelOracle oracle, boolean gaussNewton) {
        this.oracle = Objects.requireNonNull(oracle);
        this.model = oracle.model();
        this.gaussNewton = gaussNewton;
        this.ops = new FlatOps(model.context().kernels(), model.context().parallel());
        this.n = model.store().paramLength();
        this.direction = newBuffer();
        this.product = newBuffer();
        this.sum = oracle.batches().size() > 1 ? newBuffer() : null;
    }

    @Override
    public double apply(MemorySegment v, MemorySegment out) {
        double norm = Math.sqrt(ops.sumSquares(v, n));
        if (!Double.isFinite(norm)) throw new IllegalArgumentException("direction is not finite (norm " + norm + ")");
        ops.copy(v, direction, n);
        model.bindCurvature(direction, product);
        boolean first = true;
        for (ModelOracle.Batch b : oracle.batches()) {
            model.curvatureProduct(b.x(), b.labels(), b.n(), oracle.mode(), gaussNewton);
            if (sum == null) break;
            float w = (float) ((double) b.n() / oracle.examples());
            if (first) ops.fill(0f, sum, n);
            ops.axpy(w, product, sum, n);
            first = false;
        }
        ops.copy(sum == null ? product : sum, out, n);
        products++;
        return norm;
    }

    @Override
    public MemorySegment newBuffer() {
        return arena.allocate(4L * n, 64);
    }

    @Override
    public ParameterStore store() {
        return model.store();
    }

    @Override
    public FlatOps ops() {
        return ops;
    }

    @Override
    public long products() {
        return products;
    }

    /** One forward and backward per product (the R-passes cost about as much again, twice). */
    @Override
    public long gradientEvaluations() {
        return gaussNewton ? 0 : products;
    }

    @Override
    public String kind() {
        return gaussNewton ? "gauss-newton" : "exact";
    }

    @Override
    public void close() {
        arena.close();
    }
}
