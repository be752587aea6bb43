package io.sam4j.optim;

import io.sam4j.nn.Mode;

/**
 * The model side of a step as the optimizer sees it: evaluate the loss on the current batch at the
 * current weights and write its local gradient (no weight decay) into the store's gradient buffer.
 * The optimizer calls it with {@link Mode#TRAIN} for the gradient at w and, in a sharpness-aware step,
 * with {@link Mode#TRAIN_FROZEN_STATS} for the gradient at w + e. Data-parallel averaging is not done
 * here: the optimizer calls its {@link GradientReducer} after the callback returns.
 */
@FunctionalInterface
public interface LossFunction {
    double lossAndGrad(Mode mode);

    /**
     * True when the gradient comes out of ONE backward pass, whose layers' gradients are final as the pass
     * reports them (so an all-reduce may start on them during it); false for a sum of several backwards
     * ({@link Accumulated}).
     */
    default boolean singleBackward() {
        return true;
    }
}
