package io.sam4j.nn;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * [N, C, H, W] to [N, C]: the mean of each plane (PyTorch's adaptive_avg_pool2d(1) + flatten). Planes
 * are independent: blocks of them go across the team, each plane one kernel call.
 */
public final class GlobalAvgPool implements Layer {
    private Context ctx;
    private int channels, plane;
    private MemorySegment x, y, dy, dx;
    private final PlaneBlocks forwardPlanes = new PlaneBlocks(this::forwardPlane);
    private final PlaneBlocks backwardPlanes = new PlaneBlocks(this::backwardPlane);

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
        forwardPlanes.run(ctx.parallel(), n * channels, plane);
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
        dx = ctx.ensure(dx, (long) n * channels * plane);
        backwardPlanes.run(ctx.parallel(), n * channels, plane);
        return dx;
    }

    private void backwardPlane(int p) {
        long base = (long) p * plane;
        ctx.kernels().fill(dy.getAtIndex(JAVA_FLOAT, p) / plane, dx, base, base + plane);
    }
}
