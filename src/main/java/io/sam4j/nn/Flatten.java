package io.sam4j.nn;

import java.lang.foreign.MemorySegment;

/** [N, C, H, W] to [N, C*H*W]: NCHW is already contiguous per example, so no data moves. */
public final class Flatten implements Layer {
    @Override
    public int[] declare(int[] in, String prefix, ParameterStore.Builder b, Context ctx) {
        return new int[] {(int) Layer.numel(in)};
    }

    @Override
    public MemorySegment forward(MemorySegment x, int n, Mode mode) {
        return x;
    }

    @Override
    public MemorySegment backward(MemorySegment dy, int n, boolean needInputGrad) {
        return needInputGrad ? dy : null;
    }
}
