package io.sam4j.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;

/** The naive triple loop (double accumulation) that {@link Gemm} is tested against. Same contract. */
public final class GemmReference {
    private GemmReference() {}

    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                             MemorySegment a, long aOff, int lda, MemorySegment b, long bOff, int ldb,
                             float beta, MemorySegment c, long cOff, int ldc) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    float av = a.getAtIndex(JAVA_FLOAT, aOff + (transA ? (long) p * lda + i : (long) i * lda + p));
                    float bv = b.getAtIndex(JAVA_FLOAT, bOff + (transB ? (long) j * ldb + p : (long) p * ldb + j));
                    s += (double) av * bv;
                }
                long ci = cOff + (long) i * ldc + j;
                float old = beta == 0f ? 0f : beta * c.getAtIndex(JAVA_FLOAT, ci);
                c.setAtIndex(JAVA_FLOAT, ci, (float) (alpha * s) + old);
            }
        }
    }
}
