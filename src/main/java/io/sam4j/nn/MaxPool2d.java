package io.sam4j.nn;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Max pooling without padding (PyTorch's MaxPool2d(kernel, stride), floor mode). The forward keeps
 * the argmax of each window (index within its input plane) for the backward. Ties go to the first
 * maximum in row-major window order and NaN wins, as in PyTorch. 2x2 windows at stride 2 (the
 * CNNs' pools) run as {@link io.sam4j.kernels.Kernels#maxPool2x2}; other shapes run the plain loop here.
 *
 * <p>With {@link Context#blocked()} a work item's plane is a block plane (8 or 16 channels per pixel) and the
 * argmax is the input pixel per channel: 2x2 at stride 2 runs as {@link io.sam4j.kernels.Kernels#maxPool2x2Lanes}
 * and its backward, other shapes a plain loop with blocked indexing. Padded lanes pool zeros into zeros.
 */
public final class MaxPool2d implements Layer {
    private final int kernel, stride;
    private Context ctx;
    private int channels, h, w, outH, outW;
    private boolean blocked;
    private int lanes; // of the blocked layout at the last forward
    private MemorySegment x, y, argmax, ry, rdx;
    /** The gradient being scattered and where to (dy into dx, or R{dy} into R{dx}), and the gather's R{x}. */
    private MemorySegment scatterFrom, scatterTo, gatherFrom;
    private final PlaneBlocks forwardPlanes = new PlaneBlocks(this::forwardPlane);
    private final PlaneBlocks backwardPlanes = new PlaneBlocks(this::backwardPlane);
    private final PlaneBlocks forwardBlockPlanes = new PlaneBlocks(this::forwardBlockPlane);
    private final PlaneBlocks backwardBlockPlanes = new PlaneBlocks(this::backwardBlockPlane);
    private final PlaneBlocks gatherPlanes = new PlaneBlocks(this::gatherPlane);

    /** Stride equal to the kernel, PyTorch's default. */
    public MaxPool2d(int kernel) {
        this(kernel, kernel);
    }

    public MaxPool2d(int kernel, int stride) {
        if (kernel < 1 || stride < 1) throw new IllegalArgumentException("bad MaxPool2d(" + kernel + ", " + stride + ")");
        this.kernel = kernel;
        this.stride = stride;
    }

    @Override
    public int[] declare(int[] in, String prefix, ParameterStore.Builder b, Context ctx) {
        if (in.length != 3 || in[1] < kernel || in[2] < kernel) {
            throw new IllegalArgumentException(prefix + ": MaxPool2d(" + kernel + ") cannot pool input " + Arrays.toString(in));
        }
        this.ctx = ctx;
        channels = in[0];
        h = in[1];
        w = in[2];
        outH = (h - kernel) / stride + 1;
        outW = (w - kernel) / stride + 1;
        return new int[] {channels, outH, outW};
    }

    @Override
    public MemorySegment forward(MemorySegment x, int n, Mode mode) {
        this.x = x;
        blocked = ctx.blocked();
        lanes = ctx.lanes();
        if (blocked) {
            int planes = n * (BlockedLayout.paddedChannels(channels, lanes) / lanes);
            long outLen = (long) planes * outH * outW * lanes;
            y = ctx.ensure(y, outLen);
            argmax = ctx.ensure(argmax, outLen);
            forwardBlockPlanes.run(ctx.parallel(), planes, (long) h * w * lanes);
            return y;
        }
        long outLen = (long) n * channels * outH * outW;
        y = ctx.ensure(y, outLen);
        argmax = ctx.ensure(argmax, outLen); // int32 indices: one float slot each, kept across steps
        forwardPlanes.run(ctx.parallel(), n * channels, (long) h * w);
        return y;
    }

    private void forwardPlane(int plane) {
        if (kernel == 2 && stride == 2) {
            ctx.kernels().maxPool2x2(x, (long) plane * h * w, h, w, y, argmax, (long) plane * outH * outW);
        } else {
            forwardPlaneGeneral(plane);
        }
    }

    private void forwardPlaneGeneral(int plane) {
        MemorySegment x = this.x, y = this.y, argmax = this.argmax;
        long in = (long) plane * h * w, out = (long) plane * outH * outW;
        for (int oh = 0; oh < outH; oh++) {
            for (int ow = 0; ow < outW; ow++) {
                int best = (oh * stride) * w + ow * stride;
                float max = x.getAtIndex(JAVA_FLOAT, in + best);
                for (int kr = 0; kr < kernel; kr++) {
                    for (int ks = 0; ks < kernel; ks++) {
                        int idx = (oh * stride + kr) * w + ow * stride + ks;
                        float v = x.getAtIndex(JAVA_FLOAT, in + idx);
                        if (v > max || Float.isNaN(v)) { // strict: the first maximum keeps ties
                            max = v;
                            best = idx;
                        }
                    }
                }
                long o = out + (long) oh * outW + ow;
                y.setAtIndex(JAVA_FLOAT, o, max);
                argmax.setAtIndex(JAVA_INT, o, best);
            }
        }
    }

    @Override
    public MemorySegment backward(MemorySegment dy, int n, boolean needInputGrad) {
        MemorySegment dx = null;
        if (needInputGrad) {
            dx = ctx.gradients().acquire(this, inputLength(n));
            scatter(dy, dx, n);
        }
        ctx.gradients().release(dy);
        return dx;
    }

    private long inputLength(int n) {
        return blocked ? (long) planes(n) * h * w * lanes : (long) n * channels * h * w;
    }

    private int planes(int n) {
        return blocked ? n * (BlockedLayout.paddedChannels(channels, lanes) / lanes) : n * channels;
    }

    /** {@code to} = the scatter-add of {@code from} to each window's argmax (the backward). */
    private void scatter(MemorySegment from, MemorySegment to, int n) {
        scatterFrom = from;
        scatterTo = to;
        if (blocked) backwardBlockPlanes.run(ctx.parallel(), planes(n), (long) h * w * lanes);
        else backwardPlanes.run(ctx.parallel(), planes(n), (long) h * w);
    }

    /** R{y} = R{x} at the argmax of the last forward (a gather: pooling R{x} would pick other elements). */
    @Override
    public MemorySegment rForward(MemorySegment rx, int n) {
        if (rx == null) return null;
        long plane = (long) outH * outW * (blocked ? lanes : 1);
        ry = ctx.ensure(ry, planes(n) * plane);
        gatherFrom = rx;
        gatherPlanes.run(ctx.parallel(), planes(n), plane);
        return ry;
    }

    private void gatherPlane(int plane) {
        int width = blocked ? lanes : 1;
        long in = (long) plane * h * w * width, out = (long) plane * outH * outW * width;
        MemorySegment rx = gatherFrom, ry = this.ry, argmax = this.argmax;
        for (long o = 0; o < (long) outH * outW * width; o++) {
            long source = in + (long) argmax.getAtIndex(JAVA_INT, out + o) * width + o % width;
            ry.setAtIndex(JAVA_FLOAT, out + o, rx.getAtIndex(JAVA_FLOAT, source));
        }
    }

    /** R{dx}: the backward's scatter of R{dy} (linear in dy for a fixed argmax), into the R-buffer. */
    @Override
    public MemorySegment rBackward(MemorySegment rdy, int n, boolean needInputGrad, boolean gaussNewton) {
        if (!needInputGrad) return null;
        rdx = ctx.ensure(rdx, inputLength(n));
        scatter(rdy, rdx, n);
        return rdx;
    }

    /**
     * dx is zero except at each window's argmax; overlapping windows (stride < kernel) add up. The
     * models' planes are a few KB, so the scatter after the fill hits L1.
     */
    private void backwardPlane(int plane) {
        MemorySegment dx = scatterTo, dy = scatterFrom, argmax = this.argmax;
        long in = (long) plane * h * w, out = (long) plane * outH * outW;
        ctx.kernels().fill(0f, dx, in, in + (long) h * w);
        for (int o = 0; o < outH * outW; o++) {
            long target = in + argmax.getAtIndex(JAVA_INT, out + o);
            dx.setAtIndex(JAVA_FLOAT, target, dx.getAtIndex(JAVA_FLOAT, target) + dy.getAtIndex(JAVA_FLOAT, out + o));
        }
    }

    // ---- blocked layout: a plane is one image's block of `lanes` channels, [h][w][lanes] ---------------------

    private void forwardBlockPlane(int plane) {
        long in = (long) plane * h * w * lanes, out = (long) plane * outH * outW * lanes;
        if (kernel == 2 && stride == 2) {
            ctx.kernels().maxPool2x2Lanes(lanes, x, in, h, w, y, argmax, out);
            return;
        }
        MemorySegment x = this.x, y = this.y, argmax = this.argmax;
        for (int oh = 0; oh < outH; oh++) {
            for (int ow = 0; ow < outW; ow++) {
                long o = out + (long) (oh * outW + ow) * lanes;
                for (int l = 0; l < lanes; l++) {
                    int best = (oh * stride) * w + ow * stride;
                    float max = x.getAtIndex(JAVA_FLOAT, in + (long) best * lanes + l);
                    for (int kr = 0; kr < kernel; kr++) {
                        for (int ks = 0; ks < kernel; ks++) {
                            int pixel = (oh * stride + kr) * w + ow * stride + ks;
                            float v = x.getAtIndex(JAVA_FLOAT, in + (long) pixel * lanes + l);
                            if (v > max || Float.isNaN(v)) { // strict: the first maximum keeps ties
                                max = v;
                                best = pixel;
                            }
                        }
                    }
                    y.setAtIndex(JAVA_FLOAT, o + l, max);
                    argmax.setAtIndex(JAVA_INT, o + l, best);
                }
            }
        }
    }

    private void backwardBlockPlane(int plane) {
        long in = (long) plane * h * w * lanes, out = (long) plane * outH * outW * lanes;
        MemorySegment dx = scatterTo, dy = scatterFrom, argmax = this.argmax;
        if (kernel == 2 && stride == 2) {
            ctx.kernels().maxPool2x2LanesBackward(lanes, dy, argmax, out, h, w, dx, in);
            return;
        }
        ctx.kernels().fill(0f, dx, in, in + (long) h * w * lanes);
        for (long o = 0; o < (long) outH * outW * lanes; o++) {
            long target = in + (long) argmax.getAtIndex(JAVA_INT, out + o) * lanes + o % lanes;
            dx.setAtIndex(JAVA_FLOAT, target, dx.getAtIndex(JAVA_FLOAT, target) + dy.getAtIndex(JAVA_FLOAT, out + o));
        }
    }
}
