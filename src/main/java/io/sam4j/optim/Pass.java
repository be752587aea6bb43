package io.sam4j.optim;

/** Which forward/backward of a step a gradient is for (BatchNorm and dropout masks depend on it). */
public enum Pass {
    /** At w: batch statistics, running statistics updated, fresh random masks. */
    FIRST,
    /** At w + e: batch statistics, running statistics frozen, the first pass's masks reused. */
    SECOND
}
