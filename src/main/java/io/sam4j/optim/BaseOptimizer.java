package io.sam4j.optim;

import java.lang.foreign.MemorySegment;
import java.util.Map;

/**
 * The update rule that consumes the final gradient (SGD, AdamW). Each implementation runs its whole
 * update as ONE fused pass over the flat buffers: restore the weights (from the sharpness-aware
 * optimizer's saved copy, if any), scale the gradient, add weight decay, update moments, step.
 */
public interface BaseOptimizer {
    /**
     * One step on {@code gScale * grads}: if {@code saved} is non-null the weights are first restored
     * from it (the restore of a SAM step, fused into the same pass).
     */
    void step(MemorySegment saved, float gScale, float lr);

    /** Steps taken so far. */
    long steps();

    void setSteps(long steps);

    /** "sgd" or "adamw". */
    String name();

    /** State buffers in the parameter layout, by name, for checkpoints. */
    Map<String, MemorySegment> stateBuffers();
}
