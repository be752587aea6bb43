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
     * {@code needInputGrad} is false (the first layer of a model). dx comes from the context's
     * {@link GradientPool} ({@code acquire}), and {@code dy} goes back to it ({@code release}) once this layer
     * no longer reads it, so that a backward pass holds only the gradients still needed.
     */
    MemorySegment backward(MemorySegment dy, int n, boolean needInputGrad);

    // ---- exact curvature products (Pearlmutter's R-operator, forward over reverse) -----------------
    // R{t} = d/dt t(w + t v) at t = 0. A product runs forward, backward, rForward, rBackward on one batch;
    // R-buffers are the layer's own (never the ordinary ones, which the R-passes still read).

    /**
     * Takes this layer's slices of a direction {@code v} (read by {@link #rForward}) and of the product
     * {@code hv} (written by {@link #rBackward}), both buffers of the store's parameter layout. Once.
     */
    default void bindCurvature(ParameterStore store, MemorySegment v, MemorySegment hv) {}

    /**
     * R{y} of the last forward along the bound direction, given R{x} ({@code null}: zero, as for the data).
     * Returns null when R{y} is zero (a parameterless layer fed a zero R{x}).
     */
    default MemorySegment rForward(MemorySegment rx, int n) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " has no R-operator");
    }

    /**
     * R-backward after {@link #backward} and {@link #rForward} of the same batch: writes this layer's slices
     * of Hv and returns R{dx} (null when {@code needInputGrad} is false). With {@code gaussNewton} the terms
     * where dy meets an R-forward quantity are dropped, which gives the Gauss-Newton product Gv (and then
     * no ordinary backward is needed).
     */
    default MemorySegment rBackward(MemorySegment rdy, int n, boolean needInputGrad, boolean gaussNewton) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " has no R-operator");
    }

    /** Per-example output size in floats. */
    static long numel(int[] shape) {
        long n = 1;
        for (int d : shape) n *= d;
        return n;
    }
}
