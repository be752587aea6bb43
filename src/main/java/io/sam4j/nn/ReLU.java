package io.sam4j.nn;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;

/** max(x, 0); the backward pass reads the saved output (y > 0 iff x > 0). */
public final class ReLU implements Layer {
    private Context ctx;
    private long size;
    private MemorySegment y, dx;

    @Override
    public int[] declare(int[] in, String prefix, ParameterStore.Builder b, Context ctx) {
        this.ctx = ctx;
        this.size = Layer.numel(in);
        return in.clone();
    }

    @Override
    public MemorySegment forward(MemorySegment x, int n, Mode mode) {
        long len = n * size;
        y = ctx.ensure(y, len);
        for (long i = 0; i < len; i++) y.setAtIndex(JAVA_FLOAT, i, Math.max(x.getAtIndex(JAVA_FLOAT, i), 0f));
        return y;
    }

    @Override
    public MemorySegment backward(MemorySegment dy, int n, boolean needInputGrad) {
        if (!needInputGrad) return null;
        long len = n * size;
        dx = ctx.ensure(dx, len);
        for (long i = 0; i < len; i++) {
            dx.setAtIndex(JAVA_FLOAT, i, y.getAtIndex(JAVA_FLOAT, i) > 0f ? dy.getAtIndex(JAVA_FLOAT, i) : 0f);
        }
        return dx;
    }
}
