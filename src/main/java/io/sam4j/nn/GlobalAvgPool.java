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
    private int channels, plane, blocks, lanes;
    private boolean blocked;
    private MemorySegment x, y, dy, dx;
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
        this.x = x;
        y = ctx.ensure(y, n * channels);
        blocked = ctx.blocked();
        if (blocked) {
            lanes = ctx.lanes();
            blocks = BlockedLayout.paddedChannels(channels, lanes) / lanes;
            if (laneSums.length < n * blocks * lanes) laneSums = new double[n * blocks * lanes];
            forwardBlockPlanes.run(ctx.parallel(), n * blocks, (long) plane * lanes);
        } else {
            forwardPlanes.run(ctx.parallel(), n * channels, plane);
        }
        return y;
    }

    private void forwardPlane(int p) {
        long base = (long) p * plane;
        y.setAtIndex(JAVA_FLOAT, p, (float) (ctx.kernels().sum(x, base, base + plane) / plane));
    }

    @Override
    public MemorySegment backward(MemorySegment dy, int n, boolean needInputGrad) {
        if (!needInputGrad) return null;
        this.dy = dy;
        if (blocked) {
            dx = ctx.ensure(dx, (long) n * blocks * lanes * plane);
            if (laneValues.length < n * blocks * lanes) laneValues = new float[n * blocks * lanes];
            backwardBlockPlanes.run(ctx.parallel(), n * blocks, (long) plane * lanes);
        } else {
            dx = ctx.ensure(dx, (long) n * channels * plane);
            backwardPlanes.run(ctx.parallel(), n * channels, plane);
        }
        return dx;
    }

    private void backwardPlane(int p) {
        long base = (long) p * plane;
        ctx.kernels().fill(dy.getAtIndex(JAVA_FLOAT, p) / plane, dx, base, base + plane);
    }

    /** Block plane p = image * blocks + block: channels [lanes block, lanes (block + 1)) of that image. */
    private void forwardBlockPlane(int p) {
        int at = p * lanes, image = p / blocks, first = (p % blocks) * lanes;
        long base = (long) p * plane * lanes;
        for (int l = 0; l < lanes; l++) laneSums[at + l] = 0;
        ctx.kernels().sumLanes(lanes, x, base, base + (long) plane * lanes, laneSums, at);
        for (int l = 0; l < lanes && first + l < channels; l++) {
            y.setAtIndex(JAVA_FLOAT, (long) image * channels + first + l, (float) (laneSums[at + l] / plane));
        }
    }

    private void backwardBlockPlane(int p) {
        int at = p * lanes, image = p / blocks, first = (p % blocks) * lanes;
        for (int l = 0; l < lanes; l++) {
            laneValues[at + l] = first + l < channels ? dy.getAtIndex(JAVA_FLOAT, (long) image * channels + first + l) / plane : 0f;
        }
        long base = (long) p * plane * lanes;
        ctx.kernels().fillLanes(lanes, laneValues, at, dx, base, base + (long) plane * lanes);
    }
}
