package io.sam4j.nn;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/** [N, C, H, W] to [N, C]: the mean of each plane (PyTorch's adaptive_avg_pool2d(1) + flatten). */
public final class GlobalAvgPool implements Layer {
    private Context ctx;
    private int channels, plane;
    private MemorySegment y, dx;

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
        int planes = n * channels;
        y = ctx.ensure(y, planes);
        for (int p = 0; p < planes; p++) {
            long base = (long) p * plane;
            double sum = 0;
            for (int i = 0; i < plane; i++) sum += x.getAtIndex(JAVA_FLOAT, base + i);
            y.setAtIndex(JAVA_FLOAT, p, (float) (sum / plane));
        }
        return y;
    }

    @Override
    public MemorySegment backward(MemorySegment dy, int n, boolean needInputGrad) {
        if (!needInputGrad) return null;
        int planes = n * channels;
        dx = ctx.ensure(dx, (long) planes * plane);
        for (int p = 0; p < planes; p++) {
            long base = (long) p * plane;
            float g = dy.getAtIndex(JAVA_FLOAT, p) / plane;
            for (int i = 0; i < plane; i++) dx.setAtIndex(JAVA_FLOAT, base + i, g);
        }
        return dx;
    }
}
