package io.sam4j.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Row-major single-precision GEMM: C = alpha * op(A) * op(B) + beta * C, op(X) = X or X^T,
 * op(A) is m x k, op(B) is k x n, C is m x n. Offsets and leading dimensions are in floats.
 * When beta == 0, C is overwritten (its old contents, even NaN, are ignored), as in BLAS.
 * When alpha == 0 or k == 0, A and B are not read: C = beta * C (BLAS semantics).
 *
 * <h2>Blocking (GotoBLAS / BLIS)</h2>
 * <pre>
 * for jc in N step NC            B block: KC x NC floats, packed once, reused by every MC block
 *   for pc in K step KC          KC: k cut into equal blocks of at most KC_MAX
 *     pack op(B)[pc:+KC, jc:+NC] into NR-column panels, k-major: panel[p*NR + j]
 *     for ic in M step MC        A block: MC x KC (L2-resident)
 *       pack op(A)[ic:+MC, pc:+KC] into AP-row panels, k-major: panel[p*AP + i]
 *       for jr in NC step NR     one B micro-panel (KC x NR, L1-resident) ...
 *         for ir in MC step MR   ... meets every MR-row slice of the A block:
 *           micro-kernel: MR x NR accumulators in registers, broadcast A, FMA with NR/VL B vectors
 * </pre>
 * Packing turns all four transpose cases into the same two k-major streams: a straight vector
 * copy when the packed direction is contiguous in memory (op(A) = A^T, op(B) = B), otherwise 8x8
 * register transposes (op(A) = A, op(B) = B^T). Panels are zero-padded at the m/n edges so the
 * micro-kernel always runs full size; only the write-back to C is clipped. A panels are AP = VL
 * rows tall (8 transposed rows fill whole vectors of a panel p-row) while one kernel call uses
 * MR = 4 of those rows, at row offset 0, 4, ... inside the panel.
 *
 * <p>Measured on 2 Zen3 cores (AVX2): the kernel alone runs at ~90-95 GFLOP/s per core from L1;
 * the MLP shapes of batch 128 reach ~75 GFLOP/s on one thread and ~120-145 on two (GemmBench).
 *
 * <h2>Threads and determinism</h2>
 * C is cut into a grid of tiles (multiples of AP x NR); each tile runs the whole loop nest above on
 * its own rows/columns with the claiming thread's packing buffers. Every element of C sees exactly
 * the same operations wherever it sits (an FMA chain over p inside each KC block starting from 0,
 * then one write-back per KC block with the same float ops on vector and scalar paths), and KC
 * depends only on k, so results are bit-identical for any thread count and any tiling.
 */
public final class Gemm {
    private Gemm() {}

    /** The kernels' vector width ({@link VectorWidth}): the micro-kernel is written for any width. */
    private static final VectorSpecies<Float> S = VectorSupport.S;
    private static final int VL = S.length();
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    /**
     * Micro-tile rows. 4 rows x 2 vectors = 8 accumulators (enough to cover FMA latency 4 x 2 ports)
     * + 2 B vectors + 4 broadcasts = 14 of the 16 AVX2 registers. C2 hoists all broadcasts of an
     * iteration to its top, so 6x16 or 5x16 spill an accumulator to the stack and run at half speed.
     */
    static final int MR = 4;
    /** Micro-tile columns: two vectors (16 floats on AVX2). */
    static final int NR = 2 * VL;
    /** Rows of a packed A panel: one vector, so a whole p-row of it comes from one transpose. */
    static final int AP = Math.max(VL, MR);
    /**
     * Upper bound of the k block: the B micro-panel (KC_MAX*NR*4 = 24 KB on AVX2) plus the A slice
     * in use stay in a 32 KB L1. 256..512 measure the same within noise on the MLP shapes.
     */
    static final int KC_MAX = 384;
    /** Rows of A packed per block (multiple of AP): MC*KC_MAX*4 = 288 KB sits in a 512 KB L2. */
    static final int MC = 192;
    /** Columns of B packed per block (multiple of NR): KC_MAX*NC*4 = 3 MB per thread, in L3. */
    static final int NC = 128 * NR;
    /** Below this m*n*k the call runs on the caller thread only: a hand-off costs more than it saves. */
    static final long SMALL = 1L << 16;

    /** Species of the 8x8 transposes used by packing (any AVX2 machine has 256-bit vectors). */
    private static final VectorSpecies<Float> T = FloatVector.SPECIES_256;
    private static final int TL = T.length();
    /** Vector transposes need whole T vectors in a panel row; else packing falls back to scalars. */
    private static final boolean VECTOR_TRANSPOSE = TL == 8 && VL >= TL && AP % TL == 0 && NR % TL == 0;
    // Lane j <- lane j - d (mod 8) for d = 1, 2, 4, and the other direction for d = 1, 2 (rotation
    // by 4 is its own inverse); masks select the lanes whose bit d is set.
    private static final VectorShuffle<Float> UP1 = VectorShuffle.fromOp(T, j -> (j + TL - 1) % TL);
    private static final VectorShuffle<Float> DN1 = VectorShuffle.fromOp(T, j -> (j + 1) % TL);
    private static final VectorShuffle<Float> UP2 = VectorShuffle.fromOp(T, j -> (j + TL - 2) % TL);
    private static final VectorShuffle<Float> DN2 = VectorShuffle.fromOp(T, j -> (j + 2) % TL);
    private static final VectorShuffle<Float> ROT4 = VectorShuffle.fromOp(T, j -> (j + 4) % TL);
    private static final VectorMask<Float> BIT1 = VectorMask.fromLong(T, 0b10101010);
    private static final VectorMask<Float> BIT2 = VectorMask.fromLong(T, 0b11001100);
    private static final VectorMask<Float> BIT4 = VectorMask.fromLong(T, 0b11110000);

    /** Per-thread packing buffers, grown on demand and reused: no allocation in the steady state. */
    private static final class Work {
        float[] a = new float[0];
        float[] b = new float[0];
        final float[] acc = new float[MR * NR];

        float[] a(int size) {
            if (a.length < size) a = new float[size];
            return a;
        }

        float[] b(int size) {
            if (b.length < size) b = new float[size];
            return b;
        }
    }

    private static final ThreadLocal<Work> WORK = ThreadLocal.withInitial(Work::new);

    public static void sgemm(Parallel par, boolean transA, boolean transB, int m, int n, int k, float alpha,
                             MemorySegment a, long aOff, int lda, MemorySegment b, long bOff, int ldb,
                             float beta, MemorySegment c, long cOff, int ldc) {
        if (m < 0 || n < 0 || k < 0) throw new IllegalArgumentException("negative dimension " + m + "x" + n + "x" + k);
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0f) {
            if (beta != 1f) scaleC(m, n, beta, c, cOff, ldc);
            return;
        }
        int threads = par == null ? 1 : par.threads();
        if (threads == 1 || (long) m * n * k < SMALL) {
            tile(transA, transB, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, 0, m, 0, n);
            return;
        }
        // Choose the tile grid: gm x gn tiles, threads..4*threads of them (fewer only when there are
        // not enough panels), minimising the estimated cycles of the busiest thread.
        int panelsM = Math.ceilDiv(m, AP), panelsN = Math.ceilDiv(n, NR);
        int bestM = panelsM, bestN = panelsN; // tile size in panels
        double best = Double.MAX_VALUE;
        for (int gm = 1; gm <= Math.min(panelsM, 4 * threads); gm++) {
            int pm = Math.ceilDiv(panelsM, gm);
            if (Math.ceilDiv(panelsM, pm) != gm) continue; // same tiles as a smaller gm
            int gnMin = Math.min(panelsN, Math.ceilDiv(threads, gm)), gnMax = Math.min(panelsN, 4 * threads / gm);
            for (int gn = gnMin; gn <= Math.max(gnMin, gnMax); gn++) {
                int pn = Math.ceilDiv(panelsN, gn);
                if (Math.ceilDiv(panelsN, pn) != gn) continue;
                int tiles = gm * gn;
                double cost = tileCycles(pm * AP, pn * NR, k, transA, transB) * Math.ceilDiv(tiles, threads);
                if (cost < best * 0.98) { // more tiles only when clearly better
                    best = cost;
                    bestM = pm;
                    bestN = pn;
                }
            }
        }
        int rows = bestM * AP, cols = bestN * NR;
        int gm = Math.ceilDiv(m, rows), gn = Math.ceilDiv(n, cols);
        par.forEach(gm * gn, t -> {
            int i0 = (t / gn) * rows, j0 = (t % gn) * cols;
            tile(transA, transB, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc,
                    i0, Math.min(m, i0 + rows), j0, Math.min(n, j0 + cols));
        });
    }

    /**
     * Rough cycles for one mt x nt tile over all k: FMA work at ~28 flops/cycle; packing at ~1 cycle
     * per transposed element and ~0.3 per copied one (A is repacked for every NC block of the tile);
     * plus a fixed cost per tile for the hand-off and buffer warm-up.
     */
    private static double tileCycles(int mt, int nt, int k, boolean transA, boolean transB) {
        double flops = 2.0 * mt * nt * k;
        double packA = (double) k * mt * Math.ceilDiv(nt, NC) * (transA ? 0.3 : 1.0);
        double packB = (double) k * nt * (transB ? 1.0 : 0.3);
        return flops / 28 + packA + packB + 3000;
    }

    private static void scaleC(int m, int n, float beta, MemorySegment c, long cOff, int ldc) {
        for (int i = 0; i < m; i++) {
            long row = cOff + (long) i * ldc;
            for (int j = 0; j < n; j++) {
                float v = beta == 0f ? 0f : beta * c.getAtIndex(JAVA_FLOAT_UNALIGNED, row + j);
                c.setAtIndex(JAVA_FLOAT_UNALIGNED, row + j, v);
            }
        }
    }

    /** C[i0:i1, j0:j1] over all of k: the blocked loop nest of the class comment. */
    private static void tile(boolean transA, boolean transB, int k, float alpha,
                             MemorySegment a, long aOff, int lda, MemorySegment b, long bOff, int ldb,
                             float beta, MemorySegment c, long cOff, int ldc, int i0, int i1, int j0, int j1) {
        Work w = WORK.get();
        float[] acc = w.acc;
        int kc = Math.ceilDiv(k, Math.ceilDiv(k, KC_MAX)); // equal blocks: no short tail block with poor reuse
        for (int jc = j0; jc < j1; jc += NC) {
            int nc = Math.min(NC, j1 - jc);
            for (int pc = 0; pc < k; pc += kc) {
                int kcb = Math.min(kc, k - pc);
                float[] bp = w.b(Math.ceilDiv(nc, NR) * NR * kcb);
                if (transB) packT(bp, NR, b, bOff + (long) jc * ldb + pc, ldb, nc, kcb);
                else packN(bp, NR, b, bOff + (long) pc * ldb + jc, ldb, nc, kcb);
                // The first k block applies beta; later ones accumulate into C (beta = 1).
                float betaK = pc == 0 ? beta : 1f;
                boolean overwrite = pc == 0 && beta == 0f;
                for (int ic = i0; ic < i1; ic += MC) {
                    int mc = Math.min(MC, i1 - ic);
                    float[] ap = w.a(Math.ceilDiv(mc, AP) * AP * kcb);
                    if (transA) packN(ap, AP, a, aOff + (long) pc * lda + ic, lda, mc, kcb);
                    else packT(ap, AP, a, aOff + (long) ic * lda + pc, lda, mc, kcb);
                    for (int jr = 0; jr < nc; jr += NR) {
                        int nr = Math.min(NR, nc - jr);
                        for (int ir = 0; ir < mc; ir += MR) {
                            // Rows ir..ir+3 are rows ir % AP.. of panel ir / AP (panel base = panel * AP * kcb).
                            kernel(ap, ir / AP * AP * kcb + ir % AP, bp, jr * kcb, kcb, acc);
                            writeBack(acc, Math.min(MR, mc - ir), nr, alpha, betaK, overwrite,
                                    c, cOff + (long) (ic + ir) * ldc + jc + jr, ldc);
                        }
                    }
                }
            }
        }
    }

    /**
     * Packs a block whose packed direction is contiguous in memory: source row p holds element
     * (p, j) at src[off + p*ld + j], and lands in panel j / w at dst[(j / w)*w*kc + p*w + j % w].
     * Columns cnt..(rounded up to w) are zero. Walks each source row once, front to back: going
     * panel by panel instead reads 64 bytes from each of kc rows far apart and runs 5x slower.
     */
    private static void packN(float[] dst, int w, MemorySegment src, long off, int ld, int cnt, int kc) {
        int fullPanels = cnt / w, tail = cnt - fullPanels * w, panelSize = w * kc;
        for (int p = 0; p < kc; p++) {
            long s = off + (long) p * ld;
            int d = p * w;
            for (int q = 0; q < fullPanels; q++, s += w, d += panelSize) {
                for (int j = 0; j < w; j += VL) {
                    FloatVector.fromMemorySegment(S, src, (s + j) * Float.BYTES, NATIVE).intoArray(dst, d + j);
                }
            }
            if (tail > 0) {
                int j = 0;
                for (; j + VL <= tail; j += VL) {
                    FloatVector.fromMemorySegment(S, src, (s + j) * Float.BYTES, NATIVE).intoArray(dst, d + j);
                }
                for (; j < tail; j++) dst[d + j] = src.getAtIndex(JAVA_FLOAT_UNALIGNED, s + j);
                for (; j < w; j++) dst[d + j] = 0f;
            }
        }
    }

    /**
     * Packs a block that is transposed in memory: element (p, r) is at src[off + r*ld + p] (each
     * source row r is contiguous in p) and lands in panel r / w at dst[(r / w)*w*kc + p*w + r % w].
     * Rows cnt..(rounded up to w) are zero. Groups of 8 source rows go through 8x8 register
     * transposes; leftover rows and p's are copied one by one.
     */
    private static void packT(float[] dst, int w, MemorySegment src, long off, int ld, int cnt, int kc) {
        for (int q = 0; q < cnt; q += w) {
            packTPanel(dst, q * kc, w, src, off + (long) q * ld, ld, Math.min(w, cnt - q), kc);
        }
    }

    /** One panel of {@link #packT}: dst[base + p*w + r] = src[off + r*ld + p], r < cnt, zero for r >= cnt. */
    private static void packTPanel(float[] dst, int base, int w, MemorySegment src, long off, int ld, int cnt, int kc) {
        int r0 = 0;
        if (VECTOR_TRANSPOSE) {
            int kFull = kc / TL * TL;
            for (; r0 + TL <= cnt; r0 += TL) {
                long rowOff = off + (long) r0 * ld;
                for (int p = 0; p < kFull; p += TL) transpose8(dst, base + p * w + r0, w, src, rowOff + p, ld);
                for (int r = r0; r < r0 + TL; r++) {
                    long s = off + (long) r * ld;
                    for (int p = kFull; p < kc; p++) dst[base + p * w + r] = src.getAtIndex(JAVA_FLOAT_UNALIGNED, s + p);
                }
            }
        }
        for (int r = r0; r < cnt; r++) {
            long s = off + (long) r * ld;
            for (int p = 0; p < kc; p++) dst[base + p * w + r] = src.getAtIndex(JAVA_FLOAT_UNALIGNED, s + p);
        }
        for (int r = Math.max(r0, cnt); r < w; r++) {
            for (int p = 0; p < kc; p++) dst[base + p * w + r] = 0f;
        }
    }

    /**
     * dst[d + t*w + r] = src[off + r*ld + t] for r, t < 8: loads 8 rows of 8, transposes them in
     * registers (3 stages; stage d swaps the off-diagonal d x d blocks with a rotate and a blend)
     * and stores 8 rows of 8.
     */
    private static void transpose8(float[] dst, int d, int w, MemorySegment src, long off, int ld) {
        long o = off * Float.BYTES, l = (long) ld * Float.BYTES;
        FloatVector v0 = FloatVector.fromMemorySegment(T, src, o, NATIVE);
        FloatVector v1 = FloatVector.fromMemorySegment(T, src, o + l, NATIVE);
        FloatVector v2 = FloatVector.fromMemorySegment(T, src, o + 2 * l, NATIVE);
        FloatVector v3 = FloatVector.fromMemorySegment(T, src, o + 3 * l, NATIVE);
        FloatVector v4 = FloatVector.fromMemorySegment(T, src, o + 4 * l, NATIVE);
        FloatVector v5 = FloatVector.fromMemorySegment(T, src, o + 5 * l, NATIVE);
        FloatVector v6 = FloatVector.fromMemorySegment(T, src, o + 6 * l, NATIVE);
        FloatVector v7 = FloatVector.fromMemorySegment(T, src, o + 7 * l, NATIVE);
        FloatVector t0 = v0.blend(v4.rearrange(ROT4), BIT4), t4 = v0.rearrange(ROT4).blend(v4, BIT4);
        FloatVector t1 = v1.blend(v5.rearrange(ROT4), BIT4), t5 = v1.rearrange(ROT4).blend(v5, BIT4);
        FloatVector t2 = v2.blend(v6.rearrange(ROT4), BIT4), t6 = v2.rearrange(ROT4).blend(v6, BIT4);
        FloatVector t3 = v3.blend(v7.rearrange(ROT4), BIT4), t7 = v3.rearrange(ROT4).blend(v7, BIT4);
        v0 = t0.blend(t2.rearrange(UP2), BIT2);
        v2 = t0.rearrange(DN2).blend(t2, BIT2);
        v1 = t1.blend(t3.rearrange(UP2), BIT2);
        v3 = t1.rearrange(DN2).blend(t3, BIT2);
        v4 = t4.blend(t6.rearrange(UP2), BIT2);
        v6 = t4.rearrange(DN2).blend(t6, BIT2);
        v5 = t5.blend(t7.rearrange(UP2), BIT2);
        v7 = t5.rearrange(DN2).blend(t7, BIT2);
        v0.blend(v1.rearrange(UP1), BIT1).intoArray(dst, d);
        v0.rearrange(DN1).blend(v1, BIT1).intoArray(dst, d + w);
        v2.blend(v3.rearrange(UP1), BIT1).intoArray(dst, d + 2 * w);
        v2.rearrange(DN1).blend(v3, BIT1).intoArray(dst, d + 3 * w);
        v4.blend(v5.rearrange(UP1), BIT1).intoArray(dst, d + 4 * w);
        v4.rearrange(DN1).blend(v5, BIT1).intoArray(dst, d + 5 * w);
        v6.blend(v7.rearrange(UP1), BIT1).intoArray(dst, d + 6 * w);
        v6.rearrange(DN1).blend(v7, BIT1).intoArray(dst, d + 7 * w);
    }

    /**
     * One MR x NR micro-tile: acc = sum over p of A column p (4 broadcasts, panel stride AP) times
     * B row p (2 vectors), stored row-major into {@code acc}. Kept tiny (no write-back) so C2
     * inlines everything, keeps the 8 accumulators in registers and never boxes them.
     */
    private static void kernel(float[] ap, int aOff, float[] bp, int bOff, int kc, float[] acc) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        for (int p = 0; p < kc; p++) {
            int ai = aOff + p * AP, bi = bOff + p * NR;
            FloatVector b0 = FloatVector.fromArray(S, bp, bi);
            FloatVector b1 = FloatVector.fromArray(S, bp, bi + VL);
            FloatVector av = FloatVector.broadcast(S, ap[ai]);
            c00 = av.fma(b0, c00);
            c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(S, ap[ai + 1]);
            c10 = av.fma(b0, c10);
            c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(S, ap[ai + 2]);
            c20 = av.fma(b0, c20);
            c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(S, ap[ai + 3]);
            c30 = av.fma(b0, c30);
            c31 = av.fma(b1, c31);
        }
        c00.intoArray(acc, 0);
        c01.intoArray(acc, VL);
        c10.intoArray(acc, NR);
        c11.intoArray(acc, NR + VL);
        c20.intoArray(acc, 2 * NR);
        c21.intoArray(acc, 2 * NR + VL);
        c30.intoArray(acc, 3 * NR);
        c31.intoArray(acc, 3 * NR + VL);
    }

    /**
     * C[0:mr, 0:nr] (at float offset cOff) = alpha*acc + beta*C, or alpha*acc when overwrite (old C
     * never read). Whole vectors where they fit, scalars for the rest with the same float operations
     * lane for lane (mul, then fma), so edge elements round exactly like interior ones.
     */
    private static void writeBack(float[] acc, int mr, int nr, float alpha, float beta, boolean overwrite,
                                  MemorySegment c, long cOff, int ldc) {
        FloatVector alphaV = FloatVector.broadcast(S, alpha);
        int full = nr / VL * VL;
        for (int r = 0; r < mr; r++) {
            long row = cOff + (long) r * ldc;
            for (int j = 0; j < full; j += VL) {
                FloatVector v = FloatVector.fromArray(S, acc, r * NR + j);
                long off = (row + j) * Float.BYTES;
                if (overwrite) {
                    v.mul(alphaV).intoMemorySegment(c, off, NATIVE);
                } else {
                    FloatVector old = FloatVector.fromMemorySegment(S, c, off, NATIVE);
                    v.fma(alphaV, old.mul(beta)).intoMemorySegment(c, off, NATIVE);
                }
            }
            for (int j = full; j < nr; j++) {
                float v = acc[r * NR + j];
                float out = overwrite ? v * alpha
                        : Math.fma(v, alpha, beta * c.getAtIndex(JAVA_FLOAT_UNALIGNED, row + j));
                c.setAtIndex(JAVA_FLOAT_UNALIGNED, row + j, out);
            }
        }
    }
}
