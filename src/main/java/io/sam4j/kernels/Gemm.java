package io.sam4j.kernels;

import java.lang.foreign.MemorySegment;

/**
 * Row-major single-precision GEMM: C = alpha * op(A) * op(B) + beta * C, op(X) = X or X^T,
 * op(A) is m x k, op(B) is k x n, C is m x n. Offsets and leading dimensions are in floats.
 * When beta == 0, C is overwritten (its old contents, even NaN, are ignored), as in BLAS.
 * TODO(helper): Vector-API packed, cache-blocked implementation split across {@code par}.
 */
public final class Gemm {
    private Gemm() {}

    public static void sgemm(Parallel par, boolean transA, boolean transB, int m, int n, int k, float alpha,
                             MemorySegment a, long aOff, int lda, MemorySegment b, long bOff, int ldb,
                             float beta, MemorySegment c, long cOff, int ldc) {
        GemmReference.sgemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
    }
}
