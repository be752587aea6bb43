package io.sam4j.nn;

/**
 * How layers with batch statistics (BatchNorm) behave in a forward pass; also which pass of an optimizer
 * step a gradient is for (the optimizer asks for {@link #TRAIN} at w and {@link #TRAIN_FROZEN_STATS} at
 * w + e), so one type names both and no caller maps one onto the other.
 */
public enum Mode {
    /** Training: normalise with batch statistics and update the running statistics. */
    TRAIN,
    /**
     * Second pass of a sharpness-aware step: normalise with the batch statistics but leave the running
     * statistics alone (as davda54/sam's bypass_bn sets momentum 0).
     */
    TRAIN_FROZEN_STATS,
    /** Evaluation: normalise with the running statistics. */
    EVAL;

    public boolean training() {
        return this != EVAL;
    }
}
