package io.sam4j.nn;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import io.sam4j.kernels.LayerKernels;
import io.sam4j.kernels.Parallel;
import java.lang.foreign.MemorySegment;

/**
 * oneDNN's blocked activation layouts nChw8c and nChw16c, {@code [N][ceil(C/L)][H][W][L]} for the block width
 * L = {@code lanes}: the L channels of a block sit next to each other at every pixel, channels are padded to a
 * multiple of L and the padded lanes are always zero. With {@link Context#blocked()} every 4-D activation of a
 * model is stored so, at the width oneDNN's convolutions compute in ({@link Context#lanes()}: 8 on AVX2, 16 on
 * AVX-512), which lets consecutive oneDNN convolutions skip their NCHW reorders.
 */
public final class BlockedLayout {
    private BlockedLayout() {}

    /** The widest block: per-channel arrays sized for it fit either width. */
    public static final int MAX_LANES = LayerKernels.MAX_LANES;

    /** c rounded up to whole blocks of {@code lanes}. */
    public static int paddedChannels(int c, int lanes) {
        return (c + lanes - 1) / lanes * lanes;
    }

    /** Floats per example of an activation of per-example shape {@code shape} when stored blocked. */
    public static long size(int[] shape, int lanes) {
        if (shape.length != 3) return Layer.numel(shape);
        return (long) paddedChannels(shape[0], lanes) * shape[1] * shape[2];
    }

    /** NCHW {@code [n, c, plane]} into the blocked layout, padded lanes zero; images across the team. */
    public static void toBlocked(Parallel par, MemorySegment src, MemorySegment dst, int n, int c, int plane, int lanes) {
        int cp = paddedChannels(c, lanes);
        par.forEach(n, i -> {
            long in = (long) i * c * plane, out = (long) i * cp * plane;
            for (int ch = 0; ch < cp; ch++) {
                long to = out + (long) (ch / lanes) * plane * lanes + ch % lanes;
                if (ch >= c) {
                    for (int p = 0; p < plane; p++) dst.setAtIndex(JAVA_FLOAT, to + (long) p * lanes, 0f);
                    continue;
                }
                long from = in + (long) ch * plane;
                for (int p = 0; p < plane; p++) {
                    dst.setAtIndex(JAVA_FLOAT, to + (long) p * lanes, src.getAtIndex(JAVA_FLOAT, from + p));
                }
            }
        });
    }

    /** The blocked layout into NCHW {@code [n, c, plane]} (PyTorch's order), dropping the padded lanes. */
    public static void toPlain(Parallel par, MemorySegment src, MemorySegment dst, int n, int c, int plane, int lanes) {
        int cp = paddedChannels(c, lanes);
        par.forEach(n, i -> {
            long in = (long) i * cp * plane, out = (long) i * c * plane;
            for (int ch = 0; ch < c; ch++) {
                long from = in + (long) (ch / lanes) * plane * lanes + ch % lanes, to = out + (long) ch * plane;
                for (int p = 0; p < plane; p++) {
                    dst.setAtIndex(JAVA_FLOAT, to + p, src.getAtIndex(JAVA_FLOAT, from + (long) p * lanes));
                }
            }
        });
    }
}
