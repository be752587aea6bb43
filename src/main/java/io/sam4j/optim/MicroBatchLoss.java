package io.sam4j.optim;

import io.sam4j.nn.Mode;

/**
 * A batch split into micro-batches, for gradient accumulation and in-process m-sharpness: the loss of
 * micro-batch k alone (the mean over its examples) with its gradient written into the store's gradient
 * buffer, as {@link LossFunction} does for the whole batch.
 */
public interface MicroBatchLoss {
    int count();

    /** The share of the batch's examples in micro-batch k (the shares sum to 1). */
    double weight(int k);

    double lossAndGrad(Mode mode, int k);
}
