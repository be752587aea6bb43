package io.sam4j.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.Random;

/**
 * Throughput harness for {@link Gemm#sgemm} (not a test; no timing assertions anywhere). Run after
 * {@code mvn -q -B -o test-compile}:
 * <pre>
 * java --add-modules jdk.incubator.vector -cp target/classes:target/test-classes io.sam4j.kernels.GemmBench [threads...]
 * </pre>
 * Options: {@code -Dshape=substring} to pick shapes, {@code -Drounds=N}. Prints median and best
 * GFLOP/s per shape and team, and the bytes the caller thread allocated per call in steady state.
 */
public final class GemmBench {
    private record Shape(String name, boolean ta, boolean tb, int m, int n, int k) {}

    private static final Shape[] SHAPES = {
        new Shape("fwd    Y  = X W^T ", false, true, 128, 256, 784),
        new Shape("bwd    dX = dY W  ", false, false, 128, 784, 256),
        new Shape("bwd    dW = dY^T X", true, false, 256, 784, 128),
        new Shape("head   Y  = X W^T ", false, true, 128, 10, 256),
        new Shape("conv   fwd        ", false, false, 64, 8192, 576),
        new Shape("conv   dW         ", false, true, 64, 576, 8192),
        new Shape("conv   dX         ", true, false, 576, 8192, 64),
        new Shape("square            ", false, false, 1024, 1024, 1024),
    };

    public static void main(String[] args) {
        int[] threadCounts = args.length == 0 ? new int[] {1, 2} : Arrays.stream(args).mapToInt(Integer::parseInt).toArray();
        String only = System.getProperty("shape");
        int rounds = Integer.getInteger("rounds", 21);
        Parallel[] teams = Arrays.stream(threadCounts).mapToObj(Parallel::new).toArray(Parallel[]::new);
        try (Arena arena = Arena.ofShared()) {
            Random rnd = new Random(1);
            for (Shape s : SHAPES) {
                if (only != null && !s.name.contains(only)) continue;
                run(arena, rnd, teams, s, rounds);
            }
        } finally {
            for (Parallel p : teams) p.close();
        }
    }

    /**
     * Rounds of ~20 ms per team, interleaved so that load from other processes on a shared machine
     * hits every team alike; prints the median and the best round (the least disturbed one).
     */
    private static void run(Arena arena, Random rnd, Parallel[] teams, Shape s, int rounds) {
        MemorySegment a = fill(arena, (long) s.m * s.k, rnd);
        MemorySegment b = fill(arena, (long) s.k * s.n, rnd);
        MemorySegment c = arena.allocate((long) s.m * s.n * 4, 64);
        int lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
        double flops = 2.0 * s.m * s.n * s.k;
        int reps = (int) Math.max(1, Math.min(2000, 2e9 / 100 / flops)); // ~20 ms at 100 GFLOP/s
        var mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long tid = Thread.currentThread().threadId();
        double[][] gf = new double[teams.length][rounds];
        long[] alloc = new long[teams.length];
        for (Parallel par : teams) { // warm-up: JIT and packing buffers
            long end = System.nanoTime() + 1_000_000_000L;
            while (System.nanoTime() < end) {
                Gemm.sgemm(par, s.ta, s.tb, s.m, s.n, s.k, 1f, a, 0, lda, b, 0, ldb, 0f, c, 0, s.n);
            }
        }
        for (int r = 0; r < rounds; r++) {
            for (int t = 0; t < teams.length; t++) {
                Parallel par = teams[t];
                long a0 = mx.getThreadAllocatedBytes(tid);
                long t0 = System.nanoTime();
                for (int i = 0; i < reps; i++) {
                    Gemm.sgemm(par, s.ta, s.tb, s.m, s.n, s.k, 1f, a, 0, lda, b, 0, ldb, 0f, c, 0, s.n);
                }
                gf[t][r] = flops * reps / (System.nanoTime() - t0);
                alloc[t] += mx.getThreadAllocatedBytes(tid) - a0;
            }
        }
        for (int t = 0; t < teams.length; t++) {
            Arrays.sort(gf[t]);
            System.out.printf("%s (%s%s) m=%4d n=%4d k=%4d  threads=%d  median %6.1f  best %6.1f GFLOP/s  %4d B/call%n",
                    s.name, s.ta ? "T" : "N", s.tb ? "T" : "N", s.m, s.n, s.k, teams[t].threads(),
                    gf[t][rounds / 2], gf[t][rounds - 1], alloc[t] / ((long) reps * rounds));
        }
    }

    private static MemorySegment fill(Arena arena, long count, Random rnd) {
        MemorySegment seg = arena.allocate(count * 4, 64);
        for (long i = 0; i < count; i++) seg.setAtIndex(JAVA_FLOAT, i, rnd.nextFloat() - 0.5f);
        return seg;
    }
}
