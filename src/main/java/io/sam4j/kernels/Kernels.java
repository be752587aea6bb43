package io.sam4j.kernels;

import java.lang.foreign.MemorySegment;

/**
 * Element loops over flat float buffers. Every buffer passed here is a float32 off-heap segment that
 * shares the parameter store's layout, so one index range {@code [from, to)} (in floats, not bytes)
 * addresses the same parameters in all of them.
 *
 * <p>Two implementations sit behind this interface (Lucene's pattern): {@link ScalarKernels}, the
 * plain reference, and {@code VectorKernels}, the Vector-API version that must agree with it up to
 * FMA rounding. Neither splits work across threads: {@link FlatOps} and the optimizers chunk ranges
 * and call these on each chunk. Reductions add into {@code acc} (double) so callers can combine
 * chunks in a fixed order; each implementation folds float partial sums into double at least every
 * {@link #FOLD_BLOCK} elements (a float sum over 11 M elements is off by ~2 %).
 */
public interface Kernels {
    int FOLD_BLOCK = 4096;

    /** "vector" or "scalar", for logs. */
    String name();

    // ---- basic BLAS-1 --------------------------------------------------------------------
    /** Sum of x[i]^2. */
    double sumSquares(MemorySegment x, long from, long to);

    /** Sum of x[i]*y[i]. */
    double dot(MemorySegment x, MemorySegment y, long from, long to);

    /** y[i] += a*x[i]. */
    void axpy(float a, MemorySegment x, MemorySegment y, long from, long to);

    /** a[i] = b[i] + s*c[i]: STREAM's triad, the memory-bandwidth yardstick of {@code sam4j bench --kernels}. */
    void triad(MemorySegment b, float s, MemorySegment c, MemorySegment a, long from, long to);

    /** x[i] *= a. */
    void scale(float a, MemorySegment x, long from, long to);

    /** dst[i] = src[i]. */
    void copy(MemorySegment src, MemorySegment dst, long from, long to);

    /** x[i] = v. */
    void fill(float v, MemorySegment x, long from, long to);

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

    // ---- activations (x, y, dy, dx share one index range) -------------------------------------

    /** y[i] = max(x[i], 0). */
    void relu(MemorySegment x, MemorySegment y, long from, long to);

    /** dx[i] = y[i] > 0 ? dy[i] : 0, from the saved ReLU output y. */
    void reluBackward(MemorySegment y, MemorySegment dy, MemorySegment dx, long from, long to);

    // ---- SAM-family fused passes -----------------------------------------------------------
    // T is ASAM's element-wise scaling (see Scaling): the identity, or T_i = |w_i| + eta.

    /**
     * Read-only pass before the ascent. d = friendly ? g - sigma*m : g.
     * acc[0] += sum (T g)^2,  acc[1] += sum (T d)^2.
     */
    void directionStats(MemorySegment g, MemorySegment m, MemorySegment w, long from, long to,
                        boolean friendly, float sigma, Scaling t, double[] acc);

    /**
     * Save and perturb. d = friendly ? g - sigma*m : g;  e = s * T^2 d;  w0 = w;  w = w + e.
     * EMA (F-SAM): as {@code ema} says (KEEP, SET m = g, or BLEND m = lambda*m + (1-lambda)*g
     * computed from the OLD m, after d was formed).
     * acc[0] += sum e^2,  acc[1] += sum e*g.
     */
    void perturb(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment m, long from, long to,
                 float s, boolean friendly, float sigma, EmaUpdate ema, float lambda, Scaling t, double[] acc);

    /**
     * Read-only pass over the adversarial gradient at w (= w0 + e).
     * acc[0] += sum g^2,  acc[1] += sum (T g)^2 (T from the current, perturbed w),
     * acc[2] += sum (w - w0)*g.
     */
    void adversarialStats(MemorySegment w, MemorySegment w0, MemorySegment g, long from, long to,
                          Scaling t, double[] acc);

    /**
     * Restore (w = w0 when w0 != null), then one PyTorch SGD step on gg = gScale*g + wd*w:
     * b = first ? gg : mu*b + gg (skipped when mu == 0, then step = gg);
     * step = nesterov ? gg + mu*b : b;  w = w - lr*step.
     */
    void sgdStep(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment b, long from, long to,
                 float gScale, float lr, float wd, float mu, boolean nesterov, boolean first);

    /**
     * Restore (w = w0 when w0 != null), then one PyTorch AdamW step on gg = gScale*g:
     * w *= 1 - lr*wd;  m = b1*m + (1-b1)*gg;  v = b2*v + (1-b2)*gg^2;
     * w -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps)   with bc1 = 1-b1^t, bc2 = 1-b2^t given.
     */
    void adamwStep(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment m, MemorySegment v,
                   long from, long to, float gScale, float lr, float wd, float b1, float b2, float eps,
                   float bc1, float bc2);
}
