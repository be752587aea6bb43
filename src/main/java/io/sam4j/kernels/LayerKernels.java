package io.sam4j.kernels;

import java.lang.foreign.MemorySegment;

/**
 * The loops of the normalisation and pooling layers, over plain (NCHW) planes and over blocked
 * (nChw8c) channel lanes. Same conventions as {@link MathKernels}: float32 segments, ranges in floats,
 * no threading, reductions added into double accumulators, float partial sums folded at least every
 * {@link MathKernels#FOLD_BLOCK} elements. {@link ScalarLayerKernels} is the reference.
 */
public interface LayerKernels {
    // ---- normalisation (BatchNorm's per-channel statistics and affine maps) --------------------
    /** Sum of x[i]. */
    double sum(MemorySegment x, long from, long to);

    /** Sum of (x[i] - c)^2, the difference taken in float (c is a mean: no cancellation in the sum). */
    double sumSquaredDeviation(MemorySegment x, float c, long from, long to);

    /** Sum of y[i] * (x[i] - c), the difference taken in float. */
    double dotDeviation(MemorySegment y, MemorySegment x, float c, long from, long to);

    /** y[i] = a*x[i] + b (y may be x). */
    void affine(MemorySegment x, MemorySegment y, float a, float b, long from, long to);

    /** dx[i] = a*dy[i] + b*x[i] + c. */
    void affine2(MemorySegment dy, MemorySegment x, MemorySegment dx, float a, float b, float c, long from, long to);

    // ---- pooling (one plane per call; offsets in floats) -------------------------------------

    /**
     * Max pooling with 2x2 windows at stride 2 (floor mode) of one h x w plane at x[in..]: writes the
     * (h/2) x (w/2) maxima to y[out..] and, as int32, each maximum's index within the plane to
     * argmax[out..]. Each window is read in row-major order, a value replacing the maximum so far when
     * it is greater or NaN: ties keep the first maximum, NaN wins (PyTorch's rule).
     */
    void maxPool2x2(MemorySegment x, long in, int h, int w, MemorySegment y, MemorySegment argmax, long out);

    // ---- blocked channels (nChw8c: the 8 channels of a block interleaved per pixel) ----------------
    // Lane l of [from, to) is every element from + 8j + l; (to - from) must be a multiple of LANES. Per-lane
    // arrays (c, a, b, acc, v) are read or added at [at, at + 8), so a layer keeps one array over all
    // its padded channels and a call for channel block cb uses at = 8 cb.

    /** Channels per block of the blocked activation layout, one 256-bit vector of floats. */
    int LANES = 8;

    /** acc[at + l] += sum of the lane-l elements. */
    void sumLanes(MemorySegment x, long from, long to, double[] acc, int at);

    /** acc[at + l] += sum of (x - c[at + l])^2 over lane l, the difference taken in float. */
    void sumSquaredDeviationLanes(MemorySegment x, float[] c, long from, long to, double[] acc, int at);

    /** acc[at + l] += sum of y * (x - c[at + l]) over lane l, the difference taken in float. */
    void dotDeviationLanes(MemorySegment y, MemorySegment x, float[] c, long from, long to, double[] acc, int at);

    /** y = a[at + l]*x + b[at + l] on lane l (y may be x). */
    void affineLanes(MemorySegment x, MemorySegment y, float[] a, float[] b, int at, long from, long to);

    /** dx = a[at + l]*dy + b[at + l]*x + c[at + l] on lane l. */
    void affine2Lanes(MemorySegment dy, MemorySegment x, MemorySegment dx, float[] a, float[] b, float[] c, int at,
                      long from, long to);

    /** x = v[at + l] on lane l. */
    void fillLanes(float[] v, int at, MemorySegment x, long from, long to);

    /**
     * {@link #maxPool2x2} of one blocked plane: h x w pixels of 8 channels at x[in..], (h/2) x (w/2)
     * pixels out at y[out..]; argmax[out + 8 q + l] (int32) is the input pixel (row-major index within
     * the plane) that channel l of output pixel q came from. Same tie and NaN rule.
     */
    void maxPool2x2Lanes(MemorySegment x, long in, int h, int w, MemorySegment y, MemorySegment argmax, long out);

    /**
     * The backward of {@link #maxPool2x2Lanes}: writes the whole h x w blocked plane dx[in..], dy[out + 8q + l]
     * at its argmax pixel and 0 elsewhere (2x2 windows at stride 2 do not overlap).
     */
    void maxPool2x2LanesBackward(MemorySegment dy, MemorySegment argmax, long out, int h, int w, MemorySegment dx,
                                 long in);

}
