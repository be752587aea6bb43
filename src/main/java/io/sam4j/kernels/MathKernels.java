package io.sam4j.kernels;

import java.lang.foreign.MemorySegment;

/**
 * Vector math over flat float buffers: BLAS-1 and element-wise activations. Every buffer is a float32
 * off-heap segment and {@code [from, to)} is in floats, not bytes. Implementations do not split work
 * across threads: {@link FlatOps} and the layers chunk ranges and call these on each chunk. Reductions
 * return a double so callers can combine chunks in a fixed order; an implementation folds float partial
 * sums into double at least every {@link #FOLD_BLOCK} elements (a float sum over 11 M elements is off by ~2 %).
 * {@link ScalarMathKernels} is the reference; the Vector-API version must agree with it up to FMA rounding.
 */
public interface MathKernels {
    int FOLD_BLOCK = 4096;

    // ---- BLAS-1 --------------------------------------------------------------------------
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

    /** dst[i] = src[i] * a: {@link #scale} into another buffer, the same float product. */
    void scaleTo(float a, MemorySegment src, MemorySegment dst, long from, long to);

    /** dst[i] = src[i]. */
    void copy(MemorySegment src, MemorySegment dst, long from, long to);

    /** x[i] = v. */
    void fill(float v, MemorySegment x, long from, long to);

    // ---- activations (x, y, dy, dx share one index range) -------------------------------------

    /** y[i] = max(x[i], 0). */
    void relu(MemorySegment x, MemorySegment y, long from, long to);

    /** dx[i] = y[i] > 0 ? dy[i] : 0, from the saved ReLU output y. */
    void reluBackward(MemorySegment y, MemorySegment dy, MemorySegment dx, long from, long to);

}
