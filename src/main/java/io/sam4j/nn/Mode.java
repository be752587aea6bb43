package io.sam4j.nn;

/** How layers with batch statistics (BatchNorm) behave in a forward pass. */
public enum Mode {
    /** Training: normalise with batch statistics and update the running statistics. */
    TRAIN,
    /**
     * Second pass of a sharpness-aware step: normalise with the batch statistics but leave the running
     * statistics alone (as davda54/sam's bypass_bn sets momentum 0), and reuse the first pass's random masks.
     */
    TRAIN_FROZEN_STATS,
    /** Evaluation: normalise with the running statistics. */
    EVAL;

    public boolean training() {
        return this != EVAL;
    }
}
