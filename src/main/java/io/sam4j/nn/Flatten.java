package io.sam4j.nn;

import java.lang.foreign.MemorySegment;

/**
 * [N, C, H, W] to [N, C*H*W] in PyTorch's (C, H, W) order. NCHW is already contiguous per example, so no
 * data moves; a blocked input ({@link Context#blocked()}) is reordered to that order, so the weights of
 * the Linear after it mean the same in both layouts, and its gradient is re-blocked with zero padded lanes.
 */
public final class Flatten implements Layer {
    private Context ctx;
    private int[] in;
    private MemorySegment y, ry, rdx;

    @Override
    public int[] declare(int[] in, String prefix, ParameterStore.Builder b, Context ctx) {
        this.ctx = ctx;
        this.in = in.clone();
        return new int[] {(int) Layer.numel(in)};
    }

    private boolean reorders() {
        return ctx.blocked() && in.length == 3;
    }

    @Override
    public MemorySegment forward(MemorySegment x, int n, Mode mode) {
        if (!reorders()) return x;
        y = ctx.ensure(y, n * Layer.numel(in));
        BlockedLayout.toPlain(ctx.parallel(), x, y, n, in[0], in[1] * in[2], ctx.lanes());
        return y;
    }

    @Override
    public MemorySegment backward(MemorySegment dy, int n, boolean needInputGrad) {
        if (needInputGrad && !reorders()) return dy; // handed on: its reader releases it
        MemorySegment dx = null;
        if (needInputGrad) {
            dx = ctx.gradients().acquire(this, n * BlockedLayout.size(in, ctx.lanes()));
            BlockedLayout.toBlocked(ctx.parallel(), dy, dx, n, in[0], in[1] * in[2], ctx.lanes());
        }
        ctx.gradients().release(dy);
        return dx;
    }

    /** Linear and parameterless: the R-passes are the passes themselves, into the R-buffers. */
    @Override
    public MemorySegment rForward(MemorySegment rx, int n) {
        if (rx == null || !reorders()) return rx;
        ry = ctx.ensure(ry, n * Layer.numel(in));
        BlockedLayout.toPlain(ctx.parallel(), rx, ry, n, in[0], in[1] * in[2], ctx.lanes());
        return ry;
    }

    @Override
    public MemorySegment rBackward(MemorySegment rdy, int n, boolean needInputGrad, boolean gaussNewton) {
        if (!needInputGrad) return null;
        if (!reorders()) return rdy;
        rdx = ctx.ensure(rdx, n * BlockedLayout.size(in, ctx.lanes()));
        BlockedLayout.toBlocked(ctx.parallel(), rdy, rdx, n, in[0], in[1] * in[2], ctx.lanes());
        return rdx;
    }
}
