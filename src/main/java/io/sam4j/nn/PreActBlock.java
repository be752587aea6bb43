package io.sam4j.nn;

import io.sam4j.kernels.FlatOps;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The pre-activation residual block of xternalz/WideResNet-pytorch's WideResNet (dropout 0):
 * {@code a = relu(bn1(x))}, {@code out = conv2(relu(bn2(conv1(a)))) + shortcut} with 3x3 convolutions
 * without bias (the first strided). The shortcut is the identity on {@code x} when the channel count
 * and the size stay, else {@code convShortcut}, a 1x1 strided convolution without bias applied to the
 * PRE-ACTIVATED input {@code a}, which then feeds both paths. Names in PyTorch's state_dict order:
 * {@code bn1.*}, {@code conv1.weight}, {@code bn2.*}, {@code conv2.weight}, {@code convShortcut.weight}.
 * (xternalz keys the projection on the channel count alone; in a WideResNet the size changes only
 * with it.)
 */
public final class PreActBlock implements Layer {
    private final int planes, stride;
    private final boolean fused;
    /** bn1 + ReLU, made in declare (bn1 has the input's channels): the pre-activation {@code a}. */
    private Sequential pre;
    private final Sequential main;
    /** Null for the identity shortcut (known after declare). */
    private Conv2d shortcut;
    private Context ctx;
    private FlatOps ops;
    private int[] inShape, outShape;
    private MemorySegment rSum, rdA, rdx;
    /** Owner of the gradient at {@code a} (this block's second gradient buffer) in the {@link GradientPool}. */
    private final Object dAOwner = new Object();

    public PreActBlock(int planes, int stride) {
        this(planes, stride, Models.fuseBnRelu());
    }

    /** {@code fused}: each BatchNorm and its ReLU as one layer ({@link BatchNorm2d#withRelu}). */
    PreActBlock(int planes, int stride, boolean fused) {
        this.planes = planes;
        this.stride = stride;
        this.fused = fused;
        this.main = Models.addBnRelu(new Sequential().add("conv1", new Conv2d(planes, 3, stride, 1, false)), "bn2", planes, fused)
                .add("conv2", new Conv2d(planes, 3, 1, 1, false));
    }

    @Override
    public int[] declare(int[] in, String prefix, ParameterStore.Builder b, Context ctx) {
        if (in.length != 3) throw new IllegalArgumentException(prefix + ": PreActBlock needs a {C, H, W} input, got " + Arrays.toString(in));
        this.ctx = ctx;
        this.ops = new FlatOps(ctx.kernels(), ctx.parallel());
        // In place (or fused): bn1's output feeds only the ReLU (the identity shortcut takes x, not bn1's output).
        pre = Models.addBnRelu(new Sequential(), "bn1", in[0], fused);
        int[] a = pre.declare(in, prefix, b, ctx);
        int[] out = main.declare(a, prefix, b, ctx);
        if (stride != 1 || in[0] != planes) {
            shortcut = new Conv2d(planes, 1, stride, 0, false);
            shortcut.declare(a, prefix + "convShortcut.", b, ctx);
        }
        inShape = in.clone();
        outShape = out.clone();
        return out;
    }

    /** True when the shortcut is a projection (convShortcut on the pre-activation) rather than the identity. */
    public boolean hasProjection() {
        return shortcut != null;
    }

    @Override
    public void bind(ParameterStore store) {
        pre.bind(store);
        main.bind(store);
        if (shortcut != null) shortcut.bind(store);
    }

    @Override
    public void initialize(ParameterStore store, SplittableRandom rng) {
        pre.initialize(store, rng);
        main.initialize(store, rng);
        if (shortcut != null) shortcut.initialize(store, rng);
    }

    @Override
    public MemorySegment forward(MemorySegment x, int n, Mode mode) {
        MemorySegment a = pre.forward(x, n, mode);
        MemorySegment residual = main.forward(a, n, mode);
        MemorySegment skip = shortcut == null ? x : shortcut.forward(a, n, mode);
        // The sum overwrites conv2's output, which Conv2d never reads again.
        add(residual, skip, residual, n * ctx.activationSize(outShape));
        return residual;
    }

    @Override
    public MemorySegment backward(MemorySegment dy, int n, boolean needInputGrad) {
        // dy flows unchanged into both paths (so it lives until both have read it); with a projection both
        // meet again at a = relu(bn1(x)).
        GradientPool gradients = ctx.gradients();
        gradients.retain(dy);
        MemorySegment dMain = main.backward(dy, n, true);
        long len = n * ctx.activationSize(inShape);
        if (shortcut != null) {
            MemorySegment dSkip = shortcut.backward(dy, n, true);
            MemorySegment dA = gradients.acquire(dAOwner, len);
            add(dMain, dSkip, dA, len);
            gradients.release(dMain);
            gradients.release(dSkip);
            return pre.backward(dA, n, needInputGrad);
        }
        // bn1's gradients are needed even when dx is not.
        MemorySegment dPre = pre.backward(dMain, n, needInputGrad);
        MemorySegment dx = null;
        if (needInputGrad) {
            dx = gradients.acquire(this, len);
            add(dPre, dy, dx, len);
        }
        gradients.release(dPre);
        gradients.release(dy);
        return dx;
    }

    @Override
    public void bindCurvature(ParameterStore store, MemorySegment v, MemorySegment hv) {
        pre.bindCurvature(store, v, hv);
        main.bindCurvature(store, v, hv);
        if (shortcut != null) shortcut.bindCurvature(store, v, hv);
    }

    /** The forward's routing with R-values; an identity shortcut carries R{x}. */
    @Override
    public MemorySegment rForward(MemorySegment rx, int n) {
        MemorySegment ra = pre.rForward(rx, n);
        MemorySegment residual = main.rForward(ra, n);
        MemorySegment skip = shortcut == null ? rx : shortcut.rForward(ra, n);
        if (residual == null || skip == null) return residual == null ? skip : residual;
        long len = n * ctx.activationSize(outShape);
        rSum = ctx.ensure(rSum, len);
        add(residual, skip, rSum, len);
        return rSum;
    }

    @Override
    public MemorySegment rBackward(MemorySegment rdy, int n, boolean needInputGrad, boolean gaussNewton) {
        MemorySegment rdMain = main.rBackward(rdy, n, true, gaussNewton);
        long len = n * ctx.activationSize(inShape);
        if (shortcut != null) {
            rdA = ctx.ensure(rdA, len);
            add(rdMain, shortcut.rBackward(rdy, n, true, gaussNewton), rdA, len);
            return pre.rBackward(rdA, n, needInputGrad, gaussNewton);
        }
        MemorySegment rdPre = pre.rBackward(rdMain, n, needInputGrad, gaussNewton);
        if (!needInputGrad) return null;
        rdx = ctx.ensure(rdx, len);
        add(rdPre, rdy, rdx, len);
        return rdx;
    }

    /** out = a + b, vectorised and across the team (a triad with s = 1), as in {@link BasicBlock}; any layout. */
    private void add(MemorySegment a, MemorySegment b, MemorySegment out, long len) {
        ops.forChunks(len, (c, from, to) -> ops.kernels().triad(a, 1f, b, out, from, to));
    }
}
