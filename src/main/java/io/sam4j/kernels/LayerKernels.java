package io.sam4j.kernels;

import java.lang.foreign.MemorySegment;

/**
 * The loops of the normalisation and pooling layers, over plain (NCHW) planes and over blocked
 * (nChw8c, nChw16c) channel lanes. Same conventions as {@link MathKernels}: float32 segments, ranges in floats,
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

    // ---- BatchNorm + ReLU fused: the ReLU's gate is open where z = a*x + b > 0, z computed exactly as
    // affine (affineLanes) computes it, so that a backward recomputing the gate from x matches the forward's
    // output bit for bit. Gated sums and maps equal the unfused kernels applied to the gated dy (0 where shut).

    /** y[i] = max(a*x[i] + b, 0), with relu's rule for max (y may be x). */
    void affineRelu(MemorySegment x, MemorySegment y, float a, float b, long from, long to);

    /** Sum of dy[i] where the gate a*x[i] + b is open. */
    double sumRelu(MemorySegment dy, MemorySegment x, float a, float b, long from, long to);

    /** Sum of dy[i] * (x[i] - c) where the gate a*x[i] + b is open, the difference taken in float. */
    double dotDeviationRelu(MemorySegment dy, MemorySegment x, float c, float a, float b, long from, long to);

    /** dx[i] = p*g + q*x[i] + r, g = dy[i] where the gate a*x[i] + b is open, else 0. */
    void affine2Relu(MemorySegment dy, MemorySegment x, MemorySegment dx, float p, float q, float r, float a, float b,
                     long from, long to);

    // ---- pooling (one plane per call; offsets in floats) -------------------------------------

    /**
     * Max pooling with 2x2 windows at stride 2 (floor mode) of one h x w plane at x[in..]: writes the
     * (h/2) x (w/2) maxima to y[out..] and, as int32, each maximum's index within the plane to
     * argmax[out..]. Each window is read in row-major order, a value replacing the maximum so far when
     * it is greater or NaN: ties keep the first maximum, NaN wins (PyTorch's rule).
     */
    void maxPool2x2(MemorySegment x, long in, int h, int w, MemorySegment y, MemorySegment argmax, long out);

    // ---- blocked channels (nChw8c or nChw16c: the 8 or 16 channels of a block interleaved per pixel) ----
    // {@code lanes} is the block width, 8 or 16 (see {@link #checkLanes}). Lane l of [from, to) is every element
    // from + lanes*j + l; (to - from) must be a multiple of lanes. Per-lane arrays (c, a, b, acc, v) are read or
    // added at [at, at + lanes), so a layer keeps one array over all its padded channels and a call for channel
    // block cb uses at = lanes * cb.

    /** The block widths the lane kernels take: oneDNN's nChw8c (AVX2) and nChw16c (AVX-512). */
    int MIN_LANES = 8, MAX_LANES = 16;

    /** Rejects a block width other than 8 or 16, or a range that is not whole pixels of a channel block. */
    static void checkLanes(int lanes, long from, long to) {
        if (lanes != MIN_LANES && lanes != MAX_LANES) {
            throw new IllegalArgumentException("block width must be 8 or 16, got " + lanes);
        }
        if ((to - from) % lanes != 0 || to < from) {
            throw new IllegalArgumentException("[" + from + ", " + to + ") is not a whole number of " + lanes + "-lane pixels");
        }
    }

    /** acc[at + l] += sum of the lane-l elements. */
    void sumLanes(int lanes, MemorySegment x, long from, long to, double[] acc, int at);

    /** acc[at + l] += sum of (x - c[at + l])^2 over lane l, the difference taken in float. */
    void sumSquaredDeviationLanes(int lanes, MemorySegment x, float[] c, long from, long to, double[] acc, int at);

    /** acc[at + l] += sum of y * (x - c[at + l]) over lane l, the difference taken in float. */
    void dotDeviationLanes(int lanes, MemorySegment y, MemorySegment x, float[] c, long from, long to, double[] acc, int at);

    /** y = a[at + l]*x + b[at + l] on lane l (y may be x). */
    void affineLanes(int lanes, MemorySegment x, MemorySegment y, float[] a, float[] b, int at, long from, long to);

    /** dx = a[at + l]*dy + b[at + l]*x + c[at + l] on lane l. */
    void affine2Lanes(int lanes, MemorySegment dy, MemorySegment x, MemorySegment dx, float[] a, float[] b, float[] c, int at,
                      long from, long to);

    /** {@link #affineRelu} per lane: y = max(a[at + l]*x + b[at + l], 0) on lane l (y may be x). */
    void affineReluLanes(int lanes, MemorySegment x, MemorySegment y, float[] a, float[] b, int at, long from, long to);

    /**
     * The backward sums of a fused BatchNorm-ReLU in one pass over dy and x: sums[at + l] += sum of dy and
     * dots[at + l] += sum of dy * (x - c[at + l]) over lane l where the gate a[at + l]*x + b[at + l] is open. Each
     * sum in the order of {@link #sumLanes} and {@link #dotDeviationLanes} (the same numbers with the gate open).
     */
    void sumAndDotDeviationReluLanes(int lanes, MemorySegment dy, MemorySegment x, float[] c, float[] a, float[] b, long from,
                                     long to, double[] sums, double[] dots, int at);

    /** {@link #affine2Relu} per lane: dx = p[at + l]*g + q[at + l]*x + r[at + l], g gated by a[at + l]*x + b[at + l]. */
    void affine2ReluLanes(int lanes, MemorySegment dy, MemorySegment x, MemorySegment dx, float[] p, float[] q, float[] r,
                          float[] a, float[] b, int at, long from, long to);

    /** x = v[at + l] on lane l. */
    void fillLanes(int lanes, float[] v, int at, MemorySegment x, long from, long to);

    /**
     * {@link #maxPool2x2} of one blocked plane: h x w pixels of {@code lanes} channels at x[in..], (h/2) x (w/2)
     * pixels out at y[out..]; argmax[out + lanes q + l] (int32) is the input pixel (row-major index within
     * the plane) that channel l of output pixel q came from. Same tie and NaN rule.
     */
    void maxPool2x2Lanes(int lanes, MemorySegment x, long in, int h, int w, MemorySegment y, MemorySegment argmax, long out);

    /**
     * The backward of {@link #maxPool2x2Lanes}: writes the whole h x w blocked plane dx[in..], dy[out + lanes q + l]
     * at its argmax pixel and 0 elsewhere (2x2 windows at stride 2 do not overlap).
     */
    void maxPool2x2LanesBackward(int lanes, MemorySegment dy, MemorySegment argmax, long out, int h, int w, MemorySegment dx,
                                 long in);

}
