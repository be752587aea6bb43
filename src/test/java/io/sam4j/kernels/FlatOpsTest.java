package io.sam4j.kernels;

import static io.sam4j.kernels.KernelTestSupport.assertSame;
import static io.sam4j.kernels.KernelTestSupport.copyOf;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLongArray;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Fixed chunking: the same bits whatever the thread count, and every element covered exactly once.
 * Buffers come from shared arenas: worker threads cannot touch confined segments.
 */
class FlatOpsTest {
    private static final long N = 1_000_003; // 16 chunks, the last one partial
    private static Parallel one, two;

    @BeforeAll
    static void teams() {
        one = new Parallel(1);
        two = new Parallel(2);
    }

    @AfterAll
    static void close() {
        one.close();
        two.close();
    }

    @Test
    void chunkCount() {
        assertEquals(0, FlatOps.chunks(0));
        assertEquals(1, FlatOps.chunks(1));
        assertEquals(1, FlatOps.chunks(FlatOps.CHUNK));
        assertEquals(2, FlatOps.chunks(FlatOps.CHUNK + 1));
        assertEquals(16, FlatOps.chunks(N));
    }

    @Test
    void forChunksCoversEachElementOnce() {
        int c = FlatOps.chunks(N);
        AtomicLongArray from = new AtomicLongArray(c), to = new AtomicLongArray(c), calls = new AtomicLongArray(c);
        new FlatOps(ScalarKernels.INSTANCE, two).forChunks(N, (i, f, t) -> {
            from.set(i, f);
            to.set(i, t);
            calls.incrementAndGet(i);
        });
        long expect = 0;
        for (int i = 0; i < c; i++) {
            assertEquals(1, calls.get(i), "chunk " + i + " calls");
            assertEquals(expect, from.get(i), "chunk " + i + " start");
            assertEquals(Math.min(N, expect + FlatOps.CHUNK), to.get(i), "chunk " + i + " end");
            expect = to.get(i);
        }
        assertEquals(N, expect);
    }

    @Test
    void reductionsAreBitIdenticalAcrossThreadCounts() {
        Kernels k = new VectorKernels();
        try (Arena a = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(11);
            MemorySegment x = KernelTestSupport.random(a, N, rnd, -1, 1), y = KernelTestSupport.random(a, N, rnd, -1, 1);
            FlatOps f1 = new FlatOps(k, one), f2 = new FlatOps(k, two);
            double s1 = f1.sumSquares(x, N), s2 = f2.sumSquares(x, N);
            assertEquals(Double.doubleToRawLongBits(s1), Double.doubleToRawLongBits(s2), s1 + " vs " + s2);
            double d1 = f1.dot(x, y, N), d2 = f2.dot(x, y, N);
            assertEquals(Double.doubleToRawLongBits(d1), Double.doubleToRawLongBits(d2), d1 + " vs " + d2);
            // The definition: chunk sums added in chunk order.
            double manual = 0;
            for (long c = 0; c < N; c += FlatOps.CHUNK) manual += k.sumSquares(x, c, Math.min(N, c + FlatOps.CHUNK));
            assertEquals(Double.doubleToRawLongBits(manual), Double.doubleToRawLongBits(s2));
            // And close to the unchunked kernel.
            double whole = k.sumSquares(x, 0, N);
            assertEquals(whole, s2, 1e-12 * whole);
            // Multi-output reductions through reduce().
            double[] r1 = f1.reduce(N, 3, (from, to, acc) -> k.adversarialStats(x, y, x, from, to, Scaling.absPlus(0.01f), acc));
            double[] r2 = f2.reduce(N, 3, (from, to, acc) -> k.adversarialStats(x, y, x, from, to, Scaling.absPlus(0.01f), acc));
            assertArrayEquals(r1, r2, 0.0);
            double[] direct = new double[3];
            k.adversarialStats(x, y, x, 0, N, Scaling.absPlus(0.01f), direct);
            for (int j = 0; j < 3; j++) assertEquals(direct[j], r2[j], 1e-12 * Math.abs(direct[0]), "acc " + j);
            assertTrue(r2[0] > 0);
        }
    }

    @Test
    void smallAndEmptyBuffers() {
        FlatOps f = new FlatOps(ScalarKernels.INSTANCE, two);
        try (Arena a = Arena.ofShared()) {
            MemorySegment x = KernelTestSupport.of(a, 1, 2, 3);
            assertEquals(14, f.sumSquares(x, 3), 0);
            assertEquals(0, f.sumSquares(x, 0), 0);
            assertArrayEquals(new double[] {14, 14}, f.reduce(3, 2, (from, to, acc) -> {
                acc[0] += f.kernels().sumSquares(x, from, to);
                acc[1] += f.kernels().dot(x, x, from, to);
            }), 0);
            assertArrayEquals(new double[2], f.reduce(0, 2, (from, to, acc) -> acc[0] = 1), 0);
        }
    }

    @Test
    void elementWiseOpsMatchOneWholeRangeCall() {
        Kernels k = new VectorKernels();
        FlatOps f = new FlatOps(k, two);
        try (Arena a = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(5);
            MemorySegment x = KernelTestSupport.random(a, N, rnd, -1, 1), y = KernelTestSupport.random(a, N, rnd, -1, 1);
            MemorySegment y1 = copyOf(a, y), x1 = copyOf(a, x);
            // Chunk starts are multiples of CHUNK (hence of the vector length): same bits as one call.
            f.axpy(0.3f, x, y, N);
            k.axpy(0.3f, x1, y1, 0, N);
            assertSame("axpy", y1, y);
            f.scale(-1.5f, x, N);
            k.scale(-1.5f, x1, 0, N);
            assertSame("scale", x1, x);
            f.copy(x, y, N);
            assertSame("copy", x, y);
            f.fill(0.25f, y, N);
            k.fill(0.25f, y1, 0, N);
            assertSame("fill", y1, y);
        }
    }
}
