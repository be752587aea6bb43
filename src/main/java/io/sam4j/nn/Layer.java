package io.sam4j.nn;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

/**
 * One differentiable block. Activations are float32 NCHW (or N x features) off-heap buffers owned by
 * the layer that produced them and valid until that layer's next call; with {@link Context#blocked()},
 * {C, H, W} activations are nChw8c instead ({@link BlockedLayout}), sized by {@link Context#activationSize}.
 *
 * <p>Life cycle: {@link #declare} (shapes and named tensors, once), the store is allocated,
 * {@link #bind} (take slices), {@link #initialize} (PyTorch default init), then any number of
 * forward/backward pairs. {@code backward} must follow the {@code forward} of the same batch; it
 * OVERWRITES this layer's parameter gradients (a step computes each gradient once).
 */
public interface Layer {
    /**
     * Declares this layer's tensors under {@code prefix} (e.g. "fc1.") and returns the output shape
     * for an input of shape {@code in} (per example: {C, H, W} or {features}).
     */
    int[] declare(int[] in, String prefix, ParameterStore.Builder b, Context ctx);

    /** Takes this layer's slices of the allocated store. */
    default void bind(ParameterStore store) {}

    /** Default initialisation of this layer's parameters and buffers, as PyTorch's for the type. */
    default void initialize(ParameterStore store, SplittableRandom rng) {}

    MemorySegment forward(MemorySegment x, int n, Mode mode);

    /**
     * Writes parameter gradients for the last forward and returns dL/dx, or null when
     * {@code needInputGrad} is false (the first layer of a model).
     */
    MemorySegment backward(MemorySegment dy, int n, boolean needInputGrad);

    /** Per-example output size in floats. */
    static long numel(int[] shape) {
        long n = 1;
        for (int d : shape) n *= d;
        return n;
    }
}
