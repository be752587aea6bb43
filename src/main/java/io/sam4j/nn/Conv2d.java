package io.sam4j.nn;

import io.sam4j.conv.ConvShape;
import io.sam4j.conv.Convolution;
import io.sam4j.kernels.FlatOps;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * 2-D convolution, NCHW (or nChw8c/nChw16c when {@link Context#blocked()}), square kernel/stride, symmetric zero
 * padding; PyTorch's names ({@code weight} [k, c, r, s], optional {@code bias} [k]). The compute comes from
 * {@link Context#convBackend()}: one {@link Convolution} per batch size, created on first use and kept (a
 * step uses one or two sizes).
 */
public final class Conv2d implements Layer {
    private final int outChannels, kernel, stride, padding;
    private final boolean hasBias;
    private Context ctx;
    /** The problem for one example; convolutions are made for {@code perExample.withBatch(n)}. */
    private ConvShape perExample;
    private int[] inShape, outShape;
    private ParameterStore.Tensor wT, bT;
    private MemorySegment w, b, dw, db;
    private final Map<Integer, Convolution> convolutions = new HashMap<>();
    /** The convolution of the last forward, reused by its backward. */
    private Convolution current;
    private int currentN;
    /** The last forward's input and output, and the last backward's dy (re-read by rBackward). */
    private MemorySegment x, y, dy;
    /** Curvature products: slices of the direction and of Hv, the R-buffers and one scratch per tensor kind. */
    private MemorySegment vw, vb, hw, hb, rx, ry, rdx, scratchY, scratchW, scratchX;
    private FlatOps ops;
    /** The model's first layer on a few-channel input: x and dx stay NCHW under blocked activations. */
    private boolean plainInput;

    public Conv2d(int outChannels, int kernel, int stride, int padding, boolean bias) {
        if (outChannels < 1 || kernel < 1 || stride < 1 || padding < 0) {
            throw new IllegalArgumentException("bad Conv2d(" + outChannels + ", " + kernel + ", " + stride + ", " + padding + ")");
        }
        this.outChannels = outChannels;
        this.kernel = kernel;
        this.stride = stride;
        this.padding = padding;
        this.hasBias = bias;
    }

    @Override
    public int[] declare(int[] in, String prefix, ParameterStore.Builder builder, Context ctx) {
        if (in.length != 3) throw new IllegalArgumentException(prefix + ": Conv2d needs a {C, H, W} input, got " + Arrays.toString(in));
        this.ctx = ctx;
        this.ops = new FlatOps(ctx.kernels(), ctx.parallel());
        perExample = new ConvShape(1, in[0], in[1], in[2], outChannels, kernel, kernel, stride, padding);
        wT = builder.param(prefix + "weight", outChannels, in[0], kernel, kernel);
        if (hasBias) bT = builder.param(prefix + "bias", outChannels);
        inShape = in.clone();
        outShape = new int[] {outChannels, perExample.outH(), perExample.outW()};
        return outShape.clone();
    }

    @Override
    public void bind(ParameterStore store) {
        w = store.slice(wT);
        dw = store.gradSlice(wT);
        if (hasBias) {
            b = store.slice(bT);
            db = store.gradSlice(bT);
        }
    }

    /** PyTorch: kaiming_uniform_(a=sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = c*r*s; bias the same. */
    @Override
    public void initialize(ParameterStore store, SplittableRandom rng) {
        float bound = (float) (1.0 / Math.sqrt((double) perExample.c() * kernel * kernel));
        Init.uniform(w, -bound, bound, rng);
        if (hasBias) Init.uniform(b, -bound, bound, rng);
    }

    @Override
    public MemorySegment forward(MemorySegment x, int n, Mode mode) {
        this.x = x;
        if (current == null || currentN != n) {
            current = convolutions.computeIfAbsent(n, batch -> ctx.convolution(perExample.withBatch(batch), hasBias, inputLanes(), ctx.lanes()));
            currentN = n;
        }
        y = ctx.ensure(y, n * ctx.activationSize(outShape));
        current.forward(x, w, b, y);
        return y;
    }

    @Override
    public MemorySegment backward(MemorySegment dy, int n, boolean needInputGrad) {
        if (n != currentN) throw new IllegalStateException("backward for batch " + n + " after forward for " + currentN);
        this.dy = dy;
        current.backwardWeights(x, dy, dw, db);
        MemorySegment dx = null;
        if (needInputGrad) {
            dx = ctx.gradients().acquire(this, n * inputSize());
            current.backwardData(dy, w, dx);
        }
        ctx.gradients().release(dy);
        return dx;
    }

    /**
     * Makes this layer read its input NCHW although activations are blocked ({@link Model} does so for a first
     * convolution whose input channels do not fill a block): the input needs no padded blocked copy. Before the first
     * forward.
     */
    void readPlainInput() {
        if (current != null) throw new IllegalStateException("readPlainInput after the first forward");
        plainInput = true;
    }

    private int inputLanes() {
        return plainInput ? 0 : ctx.lanes();
    }

    /** Floats of one example's x (and dx) in this layer's input layout. */
    private long inputSize() {
        return plainInput ? Layer.numel(inShape) : ctx.activationSize(inShape);
    }

    /** The convolution implementation in use (after the first forward), for logs. */
    public String implementation() {
        return current == null ? ctx.convBackend().name() : current.implementation();
    }

    @Override
    public void bindCurvature(ParameterStore store, MemorySegment v, MemorySegment hv) {
        vw = store.stateSlice(v, wT);
        hw = store.stateSlice(hv, wT);
        if (hasBias) {
            vb = store.stateSlice(v, bT);
            hb = store.stateSlice(hv, bT);
        }
    }

    /**
     * Each primitive is bilinear in its two tensors, so R{y} = Fwd(R{x}, W) + Fwd(x, V, v_b): the same
     * kernel with other buffers (the kernels overwrite their outputs, hence a scratch and an add).
     */
    @Override
    public MemorySegment rForward(MemorySegment rx, int n) {
        if (n != currentN) throw new IllegalStateException("rForward for batch " + n + " after forward for " + currentN);
        this.rx = rx;
        long len = n * ctx.activationSize(outShape);
        ry = ctx.ensure(ry, len);
        current.forward(x, vw, vb, ry);
        if (rx != null) {
            scratchY = ctx.ensure(scratchY, len);
            current.forward(rx, w, null, scratchY);
            ops.axpy(1f, scratchY, ry, len);
        }
        return ry;
    }

    /**
     * (hW, hb) = BwdWeights(x, R{dy}) + (BwdWeights(R{x}, dy), bias part discarded);
     * R{dx} = BwdData(R{dy}, W) + BwdData(dy, V). Gauss-Newton drops the two dy terms.
     */
    @Override
    public MemorySegment rBackward(MemorySegment rdy, int n, boolean needInputGrad, boolean gaussNewton) {
        if (n != currentN) throw new IllegalStateException("rBackward for batch " + n + " after forward for " + currentN);
        current.backwardWeights(x, rdy, hw, hb);
        if (rx != null && !gaussNewton) {
            long weights = perExample.weightSize();
            scratchW = ctx.ensure(scratchW, weights);
            current.backwardWeights(rx, dy, scratchW, null);
            ops.axpy(1f, scratchW, hw, weights);
        }
        if (!needInputGrad) return null;
        long len = n * inputSize();
        rdx = ctx.ensure(rdx, len);
        current.backwardData(rdy, w, rdx);
        if (!gaussNewton) {
            scratchX = ctx.ensure(scratchX, len);
            current.backwardData(dy, vw, scratchX);
            ops.axpy(1f, scratchX, rdx, len);
        }
        return rdx;
    }
}
