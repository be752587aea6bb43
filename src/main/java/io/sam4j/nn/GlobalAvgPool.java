package io.sam4j.nn;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * [N, C, H, W] to [N, C]: the mean of each plane (PyTorch's adaptive_avg_pool2d(1) + flatten). Planes
 * are independent: blocks of them go across the team, each plane one kernel call. With
 * {@link Context#blocked()} a plane is one image's block of 8 or 16 channels (per-lane kernels); the output is
 * plain [N, C] either way, and the blocked input gradient has zero padded lanes.
 */
public final class GlobalAvgPool implements Layer {
    private Context ctx;
    private int channels, plane, blocks, lanes; // blocks and lanes: of the blocked layout at the last forward
    private boolean blocked;
    private MemorySegment y, ry, rdx;
    /** What the plane bodies read and write: (x, y) or (R{x}, R{y}) forward, (dy, dx) or (R{dy}, R{dx}) backward. */
    private MemorySegment x, out, dy, into;
    /** Per-lane sums and fill values of the blocked path: entries [lanes p, lanes p + lanes) belong to block plane p. */
    private double[] laneSums = new double[0];
    private float[] laneValues = new float[0];
    private final PlaneBlocks forwardPlanes = new PlaneBlocks(this::forwardPlane);
    private final PlaneBlocks backwardPlanes = new PlaneBlocks(this::backwardPlane);
    private final PlaneBlocks forwardBlockPlanes = new PlaneBlocks(this::forwardBlockPlane);
    private final PlaneBlocks backwardBlockPlanes = new PlaneBlocks(this::backwardBlockPlane);

    @Override
    public int[] declare(int[] in, String prefix, ParameterStore.Builder b, Context ctx) {
        if (in.length != 3) throw new IllegalArgumentException(prefix + ": GlobalAvgPool needs {C, H, W}, got " + Arrays.toString(in));
        this.ctx = ctx;
        channels = in[0];
        plane = in[1] * in[2];
        return new int[] {channels};
    }

    @Override
    public MemorySegment forward(MemorySegment x, int n, Mode mode) {
        y = ctx.ensure(y, n * channels);
        blocked = ctx.blocked();
        lanes = ctx.lanes();
        if (blocked) blocks = BlockedLayout.paddedChannels(channels, lanes) / lanes;
        pool(x, y, n);
        return y;
    }

    private void pool(MemorySegment from, MemorySegment to, int n) {
        x = from;
        out = to;
        if (blocked) {
            if (laneSums.length < n * blocks * lanes) laneSums = new double[n * blocks * lanes];
            forwardBlockPlanes.run(ctx.parallel(), n * blocks, (long) plane * lanes);
        } else {
            forwardPlanes.run(ctx.parallel(), n * channels, plane);
        }
    }

    private void forwardPlane(int p) {
        long base = (long) p * plane;
        out.setAtIndex(JAVA_FLOAT, p, (float) (ctx.kernels().sum(x, base, base + plane) / plane));
    }

    @Override
    public MemorySegment backward(MemorySegment dy, int n, boolean needInputGrad) {
        MemorySegment dx = null;
        if (needInputGrad) {
            dx = ctx.gradients().acquire(this, inputLength(n));
            spread(dy, dx, n);
        }
        ctx.gradients().release(dy);
        return dx;
    }

    private long inputLength(int n) {
        return blocked ? (long) n * blocks * lanes * plane : (long) n * channels * plane;
    }

    private void spread(MemorySegment from, MemorySegment to, int n) {
        dy = from;
        into = to;
        if (blocked) {
            if (laneValues.length < n * blocks * lanes) laneValues = new float[n * blocks * lanes];
            backwardBlockPlanes.run(ctx.parallel(), n * blocks, (long) plane * lanes);
        } else {
            backwardPlanes.run(ctx.parallel(), n * channels, plane);
        }
    }

    /** Linear and parameterless: the R-passes are the passes themselves, into the R-buffers. */
    @Override
    public MemorySegment rForward(MemorySegment rx, int n) {
        if (rx == null) return null;
        ry = ctx.ensure(ry, n * channels);
        pool(rx, ry, n);
        return ry;
    }

    @Override
    public MemorySegment rBackward(MemorySegment rdy, int n, boolean needInputGrad, boolean gaussNewton) {
        if (!needInputGrad) return null;
        rdx = ctx.ensure(rdx, inputLength(n));
        spread(rdy, rdx, n);
        return rdx;
    }

    private void backwardPlane(int p) {
        long base = (long) p * plane;
        ctx.kernels().fill(dy.getAtIndex(JAVA_FLOAT, p) / plane, into, base, base + plane);
    }

    /** Block plane p = image * blocks + block: channels [8 block, 8 block + 8) of that image. */
    private void forwardBlockPlane(int p) {
        int at = p * lanes, image = p / blocks, first = (p % blocks) * lanes;
        long base = (long) p * plane * lanes;
        for (int l = 0; l < lanes; l++) laneSums[at + l] = 0;
        ctx.kernels().sumLanes(lanes, x, base, base + (long) plane * lanes, laneSums, at);
        for (int l = 0; l < lanes && first + l < channels; l++) {
            out.setAtIndex(JAVA_FLOAT, (long) image * channels + first + l, (float) (laneSums[at + l] / plane));
        }
    }

    private void backwardBlockPlane(int p) {
        int at = p * lanes, image = p / blocks, first = (p % blocks) * lanes;
        for (int l = 0; l < lanes; l++) {
            laneValues[at + l] = first + l < channels ? dy.getAtIndex(JAVA_FLOAT, (long) image * channels + first + l) / plane : 0f;
        }
        long base = (long) p * plane * lanes;
        ctx.kernels().fillLanes(lanes, laneValues, at, into, base, base + (long) plane * lanes);
    }
}
