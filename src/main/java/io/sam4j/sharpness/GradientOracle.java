package io.sam4j.sharpness;

/**
 * The model side of a sharpness measurement: the loss and its full gradient on a FIXED evaluation set
 * at the store's current parameters.
 *
 * <p>{@link #lossAndGrad()} must be a deterministic function of the parameters (same examples every
 * call, no augmentation, no dropout, BatchNorm in a mode that does not update its running statistics),
 * must write the gradient of the mean loss into {@code store.grads()} (every real entry; the padding
 * between tensors stays zero) and must leave the parameters unchanged. The diagnostics move the
 * parameters themselves and restore them by copy.
 */
@FunctionalInterface
public interface GradientOracle {
    /** Mean loss at the current parameters; writes its gradient into the store's gradient buffer. */
    double lossAndGrad();

    /**
     * Mean loss only. The default evaluates the gradient too (and so overwrites the gradient buffer);
     * implementations with a cheaper forward-only path override it.
     */
    default double loss() {
        return lossAndGrad();
    }
}
