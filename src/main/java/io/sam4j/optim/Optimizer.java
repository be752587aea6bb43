package io.sam4j.optim;

import java.lang.foreign.MemorySegment;
import java.util.Map;

/** A training step: evaluates the loss (once or twice) through the callback and updates the store. */
public interface Optimizer {
    StepStats step(LossFunction f, float lr);

    /** Optimizer steps taken (the base optimizer counts them). */
    default long steps() {
        return base().steps();
    }

    /** Restores the step counter (checkpoint resume). */
    default void setSteps(long steps) {
        base().setSteps(steps);
    }

    /** Whether this optimizer can run a second, perturbed pass (the SAM family); plain ones never do. */
    default boolean perturbs() {
        return false;
    }

    /** The base update rule (SGD or AdamW). */
    BaseOptimizer base();

    /** All state buffers (base moments, F-SAM EMA, LookSAM's component), named for checkpoints. */
    Map<String, MemorySegment> stateBuffers();

    /**
     * The state buffers that follow each worker's own gradient under local perturbations (F-SAM's EMA,
     * LookSAM's stored component): a data-parallel checkpoint keeps every worker's copy. A subset of
     * {@link #stateBuffers()}.
     */
    default Map<String, MemorySegment> perWorkerState() {
        return Map.of();
    }

    /** Scalar state for checkpoints (step counter, F-SAM's EMA flag, AE-SAM's moments), as strings. */
    default Map<String, String> scalars() {
        return Map.of("steps", Long.toString(steps()));
    }

    /** Restores what {@link #scalars()} saved. */
    default void restoreScalars(Map<String, String> s) {
        setSteps(Long.parseLong(s.getOrDefault("steps", "0")));
    }

    /**
     * Data parallelism: {@code reducer} averages gradients across workers. {@code globalPerturbation}
     * false (the SAM paper's m-sharpness, default): each worker perturbs along its own gradient and
     * only the final gradient is averaged. true: the first-pass gradient is averaged too, so N workers
     * equal one process on the global batch. Plain optimizers average their one gradient either way.
     */
    void setReducer(GradientReducer reducer, boolean globalPerturbation);

    /** A short description for logs, e.g. "sam(rho=0.05) + sgd". */
    String describe();
}
