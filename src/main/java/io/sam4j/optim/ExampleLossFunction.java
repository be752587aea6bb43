package io.sam4j.optim;

import io.sam4j.nn.Mode;

/**
 * A {@link LossFunction} that also exposes the per-example losses (which the softmax computes anyway) and
 * evaluates a subset of its batch: what ESAM's sharpness-sensitive data selection needs.
 */
public interface ExampleLossFunction extends LossFunction {
    /** Examples in the batch. */
    int batchSize();

    /** Example i's loss in the last whole-batch evaluation ({@link #lossAndGrad} or {@link #lossOnly}). */
    double exampleLoss(int i);

    /** A forward pass only, at the current weights: the mean loss, per-example losses kept, no gradient. */
    double lossOnly(Mode mode);

    /** The mean loss over examples {@code subset[0..count)} and its gradient in the store's gradient buffer. */
    double lossAndGradOn(Mode mode, int[] subset, int count);
}
