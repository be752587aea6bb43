package io.sam4j.nn;

import io.sam4j.kernels.FlatOps;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

/**
 * The ResNet-18/34 residual block of kuangliu/pytorch-cifar:
 * {@code out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))} with 3x3 convolutions (the first
 * strided), and a shortcut that is the identity, or a 1x1 strided convolution + BatchNorm
 * ({@code shortcut.0}, {@code shortcut.1}) when the stride or the channel count changes.
 */
public final class BasicBlock implements Layer {
    private final int planes, stride;
    private final Sequential main;
    /** Null for the identity shortcut (known after declare). */
    private Sequential shortcut;
    /** Over the sum in place: bn2's output, which nothing else reads (see forward). */
    private final ReLU outRelu = ReLU.inPlace();
    private Context ctx;
    private FlatOps ops;
    private int[] inShape, outShape;
    private MemorySegment rSum, rdx;

    public BasicBlock(int planes, int stride) {
        this(planes, stride, Models.fuseBnRelu());
    }

    /** {@code fused}: bn1 and its ReLU as one layer ({@link BatchNorm2d#withRelu}). */
    BasicBlock(int planes, int stride, boolean fused) {
        this.planes = planes;
        this.stride = stride;
        this.main = Models.addBnRelu(new Sequential().add("conv1", new Conv2d(planes, 3, stride, 1, false)), "bn1", planes, fused)
                .add("conv2", new Conv2d(planes, 3, 1, 1, false))
                .add("bn2", new BatchNorm2d(planes));
    }

    @Override
    public int[] declare(int[] in, String prefix, ParameterStore.Builder b, Context ctx) {
        this.ctx = ctx;
        this.ops = new FlatOps(ctx.kernels(), ctx.parallel());
        int[] out = main.declare(in, prefix, b, ctx);
        if (stride != 1 || in[0] != planes) {
            shortcut = new Sequential()
                    .add("0", new Conv2d(planes, 1, stride, 0, false))
                    .add("1", new BatchNorm2d(planes));
            shortcut.declare(in, prefix + "shortcut.", b, ctx);
        }
        outRelu.declare(out, prefix, b, ctx);
        inShape = in.clone();
        outShape = out.clone();
        return out;
    }

    /** True when the shortcut is a projection (1x1 conv + BN) rather than the identity. */
    public boolean hasProjection() {
        return shortcut != null;
    }

    @Override
    public void bind(ParameterStore store) {
        main.bind(store);
        if (shortcut != null) shortcut.bind(store);
    }

    @Override
    public void initialize(ParameterStore store, SplittableRandom rng) {
        main.initialize(store, rng);
        if (shortcut != null) shortcut.initialize(store, rng);
    }

    @Override
    public MemorySegment forward(MemorySegment x, int n, Mode mode) {
        MemorySegment residual = main.forward(x, n, mode);
        MemorySegment skip = shortcut == null ? x : shortcut.forward(x, n, mode);
        // The sum and its ReLU overwrite bn2's output: BatchNorm2d reads only its input afterwards.
        add(residual, skip, residual, n * ctx.activationSize(outShape));
        return outRelu.forward(residual, n, mode);
    }

    @Override
    public MemorySegment backward(MemorySegment dy, int n, boolean needInputGrad) {
        // d(sum) flows unchanged into both branches, so it lives until both have returned.
        GradientPool gradients = ctx.gradients();
        MemorySegment dSum = outRelu.backward(dy, n, true);
        gradients.retain(dSum);
        MemorySegment dMain = main.backward(dSum, n, needInputGrad);
        MemorySegment dSkip = shortcut == null ? dSum : shortcut.backward(dSum, n, needInputGrad);
        MemorySegment dx = null;
        if (needInputGrad) {
            long len = n * ctx.activationSize(inShape);
            dx = gradients.acquire(this, len);
            add(dMain, dSkip, dx, len);
        }
        gradients.release(dMain);
        gradients.release(dSkip); // the identity shortcut's dSum: its second reference
        return dx;
    }

    @Override
    public void bindCurvature(ParameterStore store, MemorySegment v, MemorySegment hv) {
        main.bindCurvature(store, v, hv);
        if (shortcut != null) shortcut.bindCurvature(store, v, hv);
    }

    /** R(a + b) = R{a} + R{b}; the identity shortcut carries R{x}. */
    @Override
    public MemorySegment rForward(MemorySegment rx, int n) {
        MemorySegment residual = main.rForward(rx, n);
        MemorySegment skip = shortcut == null ? rx : shortcut.rForward(rx, n);
        long len = n * ctx.activationSize(outShape);
        if (residual == null || skip == null) return outRelu.rForward(residual == null ? skip : residual, n);
        rSum = ctx.ensure(rSum, len);
        add(residual, skip, rSum, len);
        return outRelu.rForward(rSum, n);
    }

    @Override
    public MemorySegment rBackward(MemorySegment rdy, int n, boolean needInputGrad, boolean gaussNewton) {
        MemorySegment rdSum = outRelu.rBackward(rdy, n, true, gaussNewton);
        MemorySegment rdMain = main.rBackward(rdSum, n, needInputGrad, gaussNewton);
        MemorySegment rdSkip = shortcut == null ? rdSum : shortcut.rBackward(rdSum, n, needInputGrad, gaussNewton);
        if (!needInputGrad) return null;
        rdx = ctx.ensure(rdx, n * ctx.activationSize(inShape));
        add(rdMain, rdSkip, rdx, n * ctx.activationSize(inShape));
        return rdx;
    }

    /** out = a + b, vectorised and across the team (a triad with s = 1); any layout, padded lanes stay 0. */
    private void add(MemorySegment a, MemorySegment b, MemorySegment out, long len) {
        ops.forChunks(len, (c, from, to) -> ops.kernels().triad(a, 1f, b, out, from, to));
    }
}
