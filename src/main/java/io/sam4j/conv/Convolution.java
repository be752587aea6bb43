package io.sam4j.conv;

import java.lang.foreign.MemorySegment;

/**
 * The compute of one {@link ConvShape}, created once and reused every step (oneDNN primitives are
 * expensive to create). All tensors are float32 in the user layout: x and y NCHW (or nChw8c, padded lanes
 * zero, for a convolution made blocked), w OIHW, bias [k]. Outputs are overwritten, not accumulated. Must be
 * called from one thread at a time.
 */
public interface Convolution extends AutoCloseable {
    /** y = conv(x, w) + bias (bias may be null). */
    void forward(MemorySegment x, MemorySegment w, MemorySegment bias, MemorySegment y);

    /** dx = conv_transpose(dy, w). */
    void backwardData(MemorySegment dy, MemorySegment w, MemorySegment dx);

    /** dw = correlation of x and dy; dbias = sum of dy over n, h, w (dbias may be null). */
    void backwardWeights(MemorySegment x, MemorySegment dy, MemorySegment dw, MemorySegment dbias);

    /** Implementation name for logs, e.g. "java:im2col+gemm" or "onednn:jit:avx2". */
    String implementation();

    @Override
    default void close() {}
}
