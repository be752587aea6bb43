package io.sam4j.sharpness;

import io.sam4j.kernels.FlatOps;
import io.sam4j.nn.ParameterStore;
import java.lang.foreign.MemorySegment;

/**
 * Alignment of the full-batch gradient with the top Hessian eigenvector (Wen, Ma and Li):
 * {@code cos theta = |<g, v1>| / ||g||} for a unit v1. Tends to 1 late in full-batch SAM; no such
 * guarantee for mini-batch training.
 */
public final class Alignment {
    private Alignment() {}

    /**
     * {@code |<g, v>| / (||g|| ||v||)} over the first n floats, in double; NaN when g or v is zero.
     * Dividing by ||v|| as well makes it exact for a v that is only unit up to float rounding.
     */
    public static double cosine(FlatOps ops, long n, MemorySegment g, MemorySegment v) {
        double gg = ops.sumSquares(g, n), vv = ops.sumSquares(v, n);
        if (gg == 0 || vv == 0) return Double.NaN;
        return Math.abs(ops.dot(g, v, n)) / Math.sqrt(gg * vv);
    }

    /**
     * Evaluates the gradient at the store's current weights with {@code oracle} (overwriting the store's
     * gradient buffer) and returns its alignment with {@code v1}.
     */
    public static double measure(ParameterStore store, GradientOracle oracle, FlatOps ops, MemorySegment v1) {
        oracle.lossAndGrad();
        return cosine(ops, store.paramLength(), store.grads(), v1);
    }
}
