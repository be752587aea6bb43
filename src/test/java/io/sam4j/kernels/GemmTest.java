package io.sam4j.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link Gemm#sgemm} against {@link GemmReference} (double accumulation) on odd shapes, all four
 * transpose cases, alpha/beta variants, offsets and padded leading dimensions; and bit-identical
 * results whatever the thread count.
 */
class GemmTest {
    private static Parallel p1, p2, p3;
    private static Arena arena;

    @BeforeAll
    static void setUp() {
        p1 = new Parallel(1);
        p2 = new Parallel(2);
        p3 = new Parallel(3);
        arena = Arena.ofShared();
    }

    @AfterAll
    static void tearDown() {
        p1.close();
        p2.close();
        p3.close();
        arena.close();
    }

    /** A problem: the op(A) x op(B) shape, transposes, scalars, and the memory layout around it. */
    private record Case(boolean ta, boolean tb, int m, int n, int k, float alpha, float beta,
                        int aOff, int padA, int bOff, int padB, int cOff, int padC) {
        int lda() { return (ta ? m : k) + padA; }
        int ldb() { return (tb ? k : n) + padB; }
        int ldc() { return n + padC; }
        long aSize() { return aOff + (long) lda() * (ta ? k : m); }
        long bSize() { return bOff + (long) ldb() * (tb ? n : k); }
        long cSize() { return cOff + (long) ldc() * m + 3; }
        @Override public String toString() {
            return (ta ? "T" : "N") + (tb ? "T" : "N") + " m=" + m + " n=" + n + " k=" + k + " alpha=" + alpha
                    + " beta=" + beta + " off=" + aOff + "/" + bOff + "/" + cOff + " pad=" + padA + "/" + padB + "/" + padC;
        }
    }

    private static final float SENTINEL = -12345.5f;

    /**
     * Runs the case with 1, 2 and 3 threads. Checks each against the reference within a rounding
     * tolerance, that all thread counts agree bit for bit, and that C outside the m x n window
     * (offset, row padding, tail) is untouched. beta == 0 cases start from a NaN-filled C.
     */
    private static void check(Case cs, long seed) {
        Random rnd = new Random(seed);
        MemorySegment a = random(cs.aSize(), rnd);
        MemorySegment b = random(cs.bSize(), rnd);
        MemorySegment c0 = arena.allocate(cs.cSize() * 4, 64);
        for (long i = 0; i < cs.cSize(); i++) c0.setAtIndex(JAVA_FLOAT, i, SENTINEL);
        for (int i = 0; i < cs.m; i++) {
            for (int j = 0; j < cs.n; j++) {
                float v = cs.beta == 0f ? Float.NaN : rnd.nextFloat() * 2 - 1;
                c0.setAtIndex(JAVA_FLOAT, cs.cOff + (long) i * cs.ldc() + j, v);
            }
        }
        MemorySegment ref = copy(c0);
        GemmReference.sgemm(cs.ta, cs.tb, cs.m, cs.n, cs.k, cs.alpha, a, cs.aOff, cs.lda(), b, cs.bOff, cs.ldb(),
                cs.beta, ref, cs.cOff, cs.ldc());
        double tol = tolerance(cs, a, b, c0);

        MemorySegment first = null;
        for (Parallel par : new Parallel[] {p1, p2, p3}) {
            MemorySegment c = copy(c0);
            Gemm.sgemm(par, cs.ta, cs.tb, cs.m, cs.n, cs.k, cs.alpha, a, cs.aOff, cs.lda(), b, cs.bOff, cs.ldb(),
                    cs.beta, c, cs.cOff, cs.ldc());
            for (long i = 0; i < cs.cSize(); i++) {
                float got = c.getAtIndex(JAVA_FLOAT, i), want = ref.getAtIndex(JAVA_FLOAT, i);
                long rel = i - cs.cOff;
                boolean inside = rel >= 0 && rel / cs.ldc() < cs.m && rel % cs.ldc() < cs.n;
                if (!inside) {
                    if (Float.floatToRawIntBits(got) != Float.floatToRawIntBits(SENTINEL)) {
                        fail(cs + " threads=" + par.threads() + ": wrote outside C at " + i);
                    }
                } else if (!(Math.abs(got - want) <= tol)) {
                    fail(cs + " threads=" + par.threads() + ": C[" + rel / cs.ldc() + "," + rel % cs.ldc() + "] = "
                            + got + ", reference " + want + ", tolerance " + tol);
                }
            }
            if (first == null) {
                first = c;
            } else if (first.mismatch(c) != -1) {
                fail(cs + ": threads=" + par.threads() + " differs bitwise from threads=1 at float "
                        + first.mismatch(c) / 4);
            }
        }
    }

    /** sqrt(k) * 1e-6 * the largest |alpha| * sum |a||b| + |beta c| over C: float rounding headroom. */
    private static double tolerance(Case cs, MemorySegment a, MemorySegment b, MemorySegment c) {
        double max = 0;
        for (int i = 0; i < cs.m; i++) {
            for (int j = 0; j < cs.n; j++) {
                double s = 0;
                for (int p = 0; p < cs.k; p++) {
                    float av = a.getAtIndex(JAVA_FLOAT, cs.aOff + (cs.ta ? (long) p * cs.lda() + i : (long) i * cs.lda() + p));
                    float bv = b.getAtIndex(JAVA_FLOAT, cs.bOff + (cs.tb ? (long) j * cs.ldb() + p : (long) p * cs.ldb() + j));
                    s += Math.abs((double) av * bv);
                }
                double old = cs.beta == 0f ? 0 : Math.abs(cs.beta * c.getAtIndex(JAVA_FLOAT, cs.cOff + (long) i * cs.ldc() + j));
                max = Math.max(max, Math.abs(cs.alpha) * s + old);
            }
        }
        return 1e-6 * Math.sqrt(cs.k + 1) * max + 1e-30;
    }

    private static MemorySegment random(long count, Random rnd) {
        MemorySegment s = arena.allocate(Math.max(1, count) * 4, 64);
        for (long i = 0; i < count; i++) s.setAtIndex(JAVA_FLOAT, i, rnd.nextFloat() * 2 - 1);
        return s;
    }

    private static MemorySegment copy(MemorySegment src) {
        MemorySegment dst = arena.allocate(src.byteSize(), 64);
        dst.copyFrom(src);
        return dst;
    }

    private static final boolean[] BOOLS = {false, true};

    /** Odd shapes: not multiples of MR/AP/NR/KC, degenerate vectors, k > KC_MAX, n > NC, m > MC. */
    private static final int[][] SHAPES = {
        {1, 1, 1}, {7, 9, 13}, {17, 31, 5}, {5, 1, 300}, {1, 40, 17}, {3, 2, 1}, {8, 16, 8}, {9, 17, 9},
        {33, 47, 390}, {200, 35, 30}, {9, Gemm.NC + 37, 20}, {12, 20, 2 * Gemm.KC_MAX + 11}, {130, 257, 785},
    };

    @Test
    void shapesAllTransposes() {
        long seed = 1;
        for (int[] s : SHAPES) {
            for (boolean ta : BOOLS) {
                for (boolean tb : BOOLS) {
                    check(new Case(ta, tb, s[0], s[1], s[2], 1f, 0f, 0, 0, 0, 0, 0, 0), seed++);
                }
            }
        }
    }

    @Test
    void alphaBetaVariants() {
        float[][] ab = {{1.5f, 0f}, {-0.75f, 1f}, {1f, 0.5f}, {2f, -1.25f}};
        long seed = 100;
        for (int[] s : new int[][] {{7, 9, 13}, {17, 31, 5}, {61, 70, 400}}) {
            for (float[] v : ab) {
                for (boolean ta : BOOLS) {
                    for (boolean tb : BOOLS) {
                        check(new Case(ta, tb, s[0], s[1], s[2], v[0], v[1], 0, 0, 0, 0, 0, 0), seed++);
                    }
                }
            }
        }
    }

    @Test
    void offsetsAndLeadingDimensions() {
        long seed = 200;
        for (int[] s : new int[][] {{7, 9, 13}, {21, 35, 9}, {45, 50, 100}, {130, 257, 785}}) {
            for (boolean ta : BOOLS) {
                for (boolean tb : BOOLS) {
                    check(new Case(ta, tb, s[0], s[1], s[2], 0.5f, 0.5f, 3, 5, 7, 1, 11, 4), seed++);
                    check(new Case(ta, tb, s[0], s[1], s[2], 1f, 0f, 1, 17, 2, 9, 5, 3), seed++);
                }
            }
        }
    }

    @Test
    void mlpShapes() {
        // The MLP training shapes at batch 128 (forward, dX, dW) and a 10-class head.
        List<Case> cases = new ArrayList<>();
        cases.add(new Case(false, true, 128, 256, 784, 1f, 0f, 0, 0, 0, 0, 0, 0));
        cases.add(new Case(false, false, 128, 784, 256, 1f, 0f, 0, 0, 0, 0, 0, 0));
        cases.add(new Case(true, false, 256, 784, 128, 1f, 1f, 0, 0, 0, 0, 0, 0));
        cases.add(new Case(false, true, 128, 10, 256, 1f, 0f, 0, 0, 0, 0, 0, 0));
        long seed = 300;
        for (Case cs : cases) check(cs, seed++);
    }

    @Test
    void kZeroAndAlphaZeroScaleC() {
        for (float beta : new float[] {0f, 0.5f}) {
            for (int k : new int[] {0, 5}) {
                try (Arena local = Arena.ofConfined()) {
                    MemorySegment a = local.allocate(4L * 3 * Math.max(k, 1));
                    MemorySegment b = local.allocate(4L * 4 * Math.max(k, 1));
                    a.setAtIndex(JAVA_FLOAT, 0, Float.NaN); // not read when alpha == 0 or k == 0
                    MemorySegment c = local.allocate(4L * 12);
                    for (int i = 0; i < 12; i++) c.setAtIndex(JAVA_FLOAT, i, beta == 0f ? Float.NaN : i);
                    Gemm.sgemm(p2, false, false, 3, 4, k, k == 0 ? 1f : 0f, a, 0, Math.max(k, 1), b, 0, 4, beta, c, 0, 4);
                    for (int i = 0; i < 12; i++) assertEquals(beta * i, c.getAtIndex(JAVA_FLOAT, i), 0f);
                }
            }
        }
    }

    @Test
    void largeProblemsBitIdenticalAcrossThreads() {
        // Shapes big enough for multi-tile grids in both directions (conv-like), against threads=1.
        int[][] shapes = {{64, 3000, 150}, {600, 40, 70}, {300, 400, 50}};
        long seed = 400;
        for (int[] s : shapes) {
            for (boolean ta : BOOLS) {
                for (boolean tb : BOOLS) {
                    Random rnd = new Random(seed++);
                    int m = s[0], n = s[1], k = s[2];
                    MemorySegment a = random((long) m * k, rnd), b = random((long) k * n, rnd);
                    MemorySegment c1 = arena.allocate(4L * m * n), c2 = arena.allocate(4L * m * n);
                    Gemm.sgemm(p1, ta, tb, m, n, k, 1f, a, 0, ta ? m : k, b, 0, tb ? k : n, 0f, c1, 0, n);
                    Gemm.sgemm(p2, ta, tb, m, n, k, 1f, a, 0, ta ? m : k, b, 0, tb ? k : n, 0f, c2, 0, n);
                    assertEquals(-1, c1.mismatch(c2), "threads 1 vs 2 differ, m=" + m + " n=" + n + " k=" + k);
                    float x = c1.getAtIndex(JAVA_FLOAT, (long) m * n - 1);
                    assertTrue(Float.isFinite(x));
                }
            }
        }
    }
}
