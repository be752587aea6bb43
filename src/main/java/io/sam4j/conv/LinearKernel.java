package io.sam4j.conv;

import java.lang.foreign.MemorySegment;

/**
 * The three products of a fully-connected layer for one batch size, from a backend that has faster ones
 * ({@link ConvBackend#linear}: oneDNN's matmul, fp32 or bf16); without one the layer uses the Java GEMM.
 * Tensors are fp32 and row-major: x [n][in], w [out][in] (PyTorch's layout), y and dy [n][out]. Outputs are
 * overwritten. The bias stays with the layer (fp32). Must be called from one thread at a time.
 */
public interface LinearKernel extends AutoCloseable {
    /** y = x w^T. */
    void forward(MemorySegment x, MemorySegment w, MemorySegment y);

    /** dx = dy w. */
    void backwardData(MemorySegment dy, MemorySegment w, MemorySegment dx);

    /** dw = dy^T x. */
    void backwardWeights(MemorySegment x, MemorySegment dy, MemorySegment dw);

    /** For logs, e.g. "onednn-bf16:brg_matmul:avx10_1_512_amx". */
    String implementation();

    @Override
    default void close() {}
}
