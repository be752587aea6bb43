package io.sam4j.nn;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import io.sam4j.kernels.Kernels;
import io.sam4j.kernels.Parallel;
import java.lang.foreign.MemorySegment;

/**
 * oneDNN's nChw8c activation layout, {@code [N][ceil(C/8)][H][W][8]}: the 8 channels of a block sit
 * next to each other at every pixel, channels are padded to a multiple of 8 and the padded lanes are
 * always zero. With {@link Context#blocked()} every 4-D activation of a model is stored so, which lets
 * consecutive oneDNN convolutions skip their NCHW reorders.
 */
public final class BlockedLayout {
    private BlockedLayout() {}

    public static final int LANES = Kernels.LANES;

    /** c rounded up to whole blocks. */
    public static int paddedChannels(int c) {
        return (c + LANES - 1) / LANES * LANES;
    }

    /** Floats per example of an activation of per-example shape {@code shape} when stored blocked. */
    public static long size(int[] shape) {
        if (shape.length != 3) return Layer.numel(shape);
        return (long) paddedChannels(shape[0]) * shape[1] * shape[2];
    }

    /** NCHW {@code [n, c, plane]} into nChw8c, padded lanes zero; images across the team. */
    public static void toBlocked(Parallel par, MemorySegment src, MemorySegment dst, int n, int c, int plane) {
        int cp = paddedChannels(c);
        par.forEach(n, i -> {
            long in = (long) i * c * plane, out = (long) i * cp * plane;
            for (int ch = 0; ch < cp; ch++) {
                long to = out + (long) (ch / LANES) * plane * LANES + ch % LANES;
                if (ch >= c) {
                    for (int p = 0; p < plane; p++) dst.setAtIndex(JAVA_FLOAT, to + (long) p * LANES, 0f);
                    continue;
                }
                long from = in + (long) ch * plane;
                for (int p = 0; p < plane; p++) {
                    dst.setAtIndex(JAVA_FLOAT, to + (long) p * LANES, src.getAtIndex(JAVA_FLOAT, from + p));
                }
            }
        });
    }

    /** nChw8c into NCHW {@code [n, c, plane]} (PyTorch's order), dropping the padded lanes. */
    public static void toPlain(Parallel par, MemorySegment src, MemorySegment dst, int n, int c, int plane) {
        int cp = paddedChannels(c);
        par.forEach(n, i -> {
            long in = (long) i * cp * plane, out = (long) i * c * plane;
            for (int ch = 0; ch < c; ch++) {
                long from = in + (long) (ch / LANES) * plane * LANES + ch % LANES, to = out + (long) ch * plane;
                for (int p = 0; p < plane; p++) {
                    dst.setAtIndex(JAVA_FLOAT, to + p, src.getAtIndex(JAVA_FLOAT, from + (long) p * LANES));
                }
            }
        });
    }
}
