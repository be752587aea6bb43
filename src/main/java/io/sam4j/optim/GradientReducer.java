package io.sam4j.optim;

/**
 * Averages the gradient buffer across data-parallel workers, in place (one all-reduce over the flat
 * buffer, then a 1/size scale). Single-process training has none.
 */
@FunctionalInterface
public interface GradientReducer {
    /** Averages the gradient buffer in place; returns when every rank's contribution is in. */
    void reduce();

    /**
     * Says that the next loss-and-gradient call's gradient goes to {@link #reduce()} right after it, as it
     * is: the reducer may start reducing parts of it during that call's backward (overlap).
     */
    default void expectGradient() {}
}
