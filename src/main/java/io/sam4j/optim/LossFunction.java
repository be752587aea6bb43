package io.sam4j.optim;

/**
 * The model side of a step as the optimizer sees it: evaluate the loss on the current batch at the
 * current weights and write its gradient (no weight decay) into the store's gradient buffer.
 * Data-parallel training all-reduces inside this callback.
 */
@FunctionalInterface
public interface LossFunction {
    double lossAndGrad(Pass pass);
}
