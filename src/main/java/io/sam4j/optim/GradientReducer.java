package io.sam4j.optim;

/**
 * Averages the gradient buffer across data-parallel workers (one all-reduce over the flat buffer, then a
 * 1/size scale); the average replaces the buffer's contents. Single-process training has none.
 */
@FunctionalInterface
public interface GradientReducer {
    /** Replaces the gradient buffer by its average over the ranks; returns when every rank's contribution is in. */
    void reduce();

    /**
     * Says that the next loss-and-gradient call's gradient goes to {@link #reduce()} right after it, as it
     * is: the reducer may start reducing parts of it in place during that call's backward (overlap).
     */
    default void expectGradient() {}

    /**
     * Says that the next loss-and-gradient call's gradient goes to {@link #reduce()} unchanged, but that the
     * optimizer first READS this rank's own gradient in the buffer (per-rank statistics): the reducer may
     * sum parts of it during backward into a buffer of its own, and must leave the gradient buffer as
     * computed until {@link #reduce()}. The optimizer must not write the buffer in between.
     */
    default void expectGradientKeepingLocal() {}
}
