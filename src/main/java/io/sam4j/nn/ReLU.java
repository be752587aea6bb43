package io.sam4j.nn;

import io.sam4j.kernels.FlatOps;
import java.lang.foreign.MemorySegment;

/**
 * max(x, 0); the backward pass reads the saved output (y > 0 iff x > 0). Element-wise, so the blocked
 * layout only changes the size (padded lanes stay 0 both ways).
 *
 * <p>{@link #inPlace()} writes y over x (PyTorch's {@code inplace=True}): one activation buffer less. Only
 * where nothing reads x after this forward: the layer before must not read its own output in backward or
 * in the R-passes (BatchNorm2d, Linear, Conv2d and a residual block's sum do not), and x must have no
 * other consumer (not a block input that also feeds a shortcut).
 */
public final class ReLU implements Layer {
    private final boolean inPlace;
    private Context ctx;
    private FlatOps ops;
    private int[] shape;
    private MemorySegment y, ry, rdx;

    public ReLU() {
        this(false);
    }

    private ReLU(boolean inPlace) {
        this.inPlace = inPlace;
    }

    /** A ReLU that overwrites its input with its output (see the class comment for where that is safe). */
    public static ReLU inPlace() {
        return new ReLU(true);
    }

    @Override
    public int[] declare(int[] in, String prefix, ParameterStore.Builder b, Context ctx) {
        this.ctx = ctx;
        this.ops = new FlatOps(ctx.kernels(), ctx.parallel());
        this.shape = in.clone();
        return in.clone();
    }

    @Override
    public MemorySegment forward(MemorySegment x, int n, Mode mode) {
        long len = n * ctx.activationSize(shape);
        y = inPlace ? x : ctx.ensure(y, len);
        MemorySegment out = y;
        ops.forChunks(len, (c, from, to) -> ops.kernels().relu(x, out, from, to));
        return y;
    }

    @Override
    public MemorySegment backward(MemorySegment dy, int n, boolean needInputGrad) {
        MemorySegment dx = null;
        if (needInputGrad) {
            long len = n * ctx.activationSize(shape);
            MemorySegment out = dx = ctx.gradients().acquire(this, len), saved = y;
            ops.forChunks(len, (c, from, to) -> ops.kernels().reluBackward(saved, dy, out, from, to));
        }
        ctx.gradients().release(dy);
        return dx;
    }

    /** R{y} = 1[y > 0] R{x}: the mask of the last forward (relu'' is 0 almost everywhere), backward's kernel. */
    @Override
    public MemorySegment rForward(MemorySegment rx, int n) {
        if (rx == null) return null;
        ry = masked(rx, ry, n);
        return ry;
    }

    @Override
    public MemorySegment rBackward(MemorySegment rdy, int n, boolean needInputGrad, boolean gaussNewton) {
        if (!needInputGrad) return null;
        rdx = masked(rdy, rdx, n);
        return rdx;
    }

    /** out = 1[y > 0] in, into {@code out} (grown as needed). */
    private MemorySegment masked(MemorySegment in, MemorySegment out, int n) {
        long len = n * ctx.activationSize(shape);
        MemorySegment o = ctx.ensure(out, len), saved = y;
        ops.forChunks(len, (c, from, to) -> ops.kernels().reluBackward(saved, in, o, from, to));
        return o;
    }
}
