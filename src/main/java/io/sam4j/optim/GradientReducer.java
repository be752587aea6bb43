package io.sam4j.optim;

/**
 * Averages the gradient buffer across data-parallel workers, in place (one all-reduce over the flat
 * buffer, then a 1/size scale). Single-process training has none.
 */
@FunctionalInterface
public interface GradientReducer {
    void reduce();
}
