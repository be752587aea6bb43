package io.sam4j.kernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Memory bandwidth reached by the SAM-family optimizer passes over one flat buffer, beside STREAM's triad
 * ({@code a = b + s*c}) measured in the same run: the passes are memory-bound, so the triad is their ceiling.
 * Every pass runs exactly as the optimizer runs it ({@link FlatOps} chunks over the thread team), and the
 * passes are timed interleaved, round after round, so a noisy neighbour hits them all alike.
 *
 * <p>Bytes per float count each buffer read once and each buffer written once (STREAM's convention: no
 * write-allocate traffic), so the triad moves 12 bytes per float.
 */
public final class KernelBandwidth {
    /** One measured pass. */
    public record Result(String kernel, long floats, int bytesPerFloat, double msMedian, double msMin,
                         double gbPerSecond, double triadGbPerSecond) {
        public double fractionOfTriad() { return gbPerSecond / triadGbPerSecond; }
    }

    private interface Pass {
        void run();
    }

    private record Named(String name, int bytesPerFloat, Pass pass) {}

    private static volatile double sink; // keeps reductions alive

    private KernelBandwidth() {}

    /**
     * Times every pass {@code rounds} times over {@code n} floats after {@code warmupSeconds} of untimed rounds
     * (C2 compiles the Vector-API loops only after several seconds).
     */
    public static List<Result> measure(FlatOps ops, long n, int rounds, double warmupSeconds) {
        if (n < 1) throw new IllegalArgumentException("buffer size must be >= 1 float, got " + n);
        if (rounds < 1) throw new IllegalArgumentException("rounds must be >= 1, got " + rounds);
        Kernels k = ops.kernels();
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(7);
            MemorySegment w = random(arena, n, rnd, -1, 1), w0 = random(arena, n, rnd, -1, 1);
            MemorySegment g = random(arena, n, rnd, -1, 1), m = random(arena, n, rnd, -1, 1);
            MemorySegment v = random(arena, n, rnd, 0, 1), t = random(arena, n, rnd, -1, 1);
            // Tiny step sizes keep every buffer finite and unchanged in magnitude over thousands of repetitions.
            float tiny = 1e-12f;
            List<Named> passes = List.of(
                    new Named("triad", 12, () -> ops.forChunks(n, (i, f, e) -> k.triad(w, tiny, g, t, f, e))),
                    new Named("gradNorm (sumSquares g)", 4, () -> sink += ops.sumSquares(g, n)),
                    new Named("directionStats F-SAM (g, m)", 8,
                            () -> sink += ops.reduce(n, 2, (f, e, acc) -> k.directionStats(g, m, w, f, e, true, 1f, Scaling.IDENTITY, acc))[1]),
                    new Named("perturb SAM (save w0, w += e)", 16,
                            () -> sink += ops.reduce(n, 2, (f, e, acc) -> k.perturb(w, w0, g, null, f, e, tiny, false, 0f, EmaUpdate.KEEP, 0f, Scaling.IDENTITY, acc))[0]),
                    new Named("perturb F-SAM (+ EMA update)", 24,
                            () -> sink += ops.reduce(n, 2, (f, e, acc) -> k.perturb(w, w0, g, m, f, e, tiny, true, 1f, EmaUpdate.BLEND, 0.9f, Scaling.IDENTITY, acc))[0]),
                    new Named("adversarialStats (StableSAM norms)", 12,
                            () -> sink += ops.reduce(n, 3, (f, e, acc) -> k.adversarialStats(w, w0, g, f, e, Scaling.IDENTITY, acc))[0]),
                    new Named("sgdStep (restore + momentum + wd)", 20,
                            () -> ops.forChunks(n, (i, f, e) -> k.sgdStep(w, w0, g, m, f, e, 1f, tiny, 5e-4f, 0.9f, false, false))),
                    new Named("adamwStep (restore + moments)", 28,
                            () -> ops.forChunks(n, (i, f, e) -> k.adamwStep(w, w0, g, m, v, f, e, 1f, tiny, 5e-4f, 0.9f, 0.999f, 1e-8f, 0.5f, 0.5f))));
            long warmEnd = System.nanoTime() + (long) (warmupSeconds * 1e9);
            do {
                for (Named p : passes) p.pass.run();
            } while (System.nanoTime() < warmEnd);
            double[][] ms = new double[passes.size()][rounds];
            for (int r = 0; r < rounds; r++) {
                for (int i = 0; i < passes.size(); i++) {
                    long t0 = System.nanoTime();
                    passes.get(i).pass.run();
                    ms[i][r] = (System.nanoTime() - t0) / 1e6;
                }
            }
            Map<String, double[]> stats = new LinkedHashMap<>();
            for (int i = 0; i < passes.size(); i++) {
                double[] s = ms[i].clone();
                Arrays.sort(s);
                stats.put(passes.get(i).name, new double[] {median(s), s[0]});
            }
            double triadGb = gb(12, n, stats.get("triad")[0]);
            List<Result> out = new ArrayList<>();
            for (Named p : passes) {
                double[] s = stats.get(p.name);
                out.add(new Result(p.name, n, p.bytesPerFloat, s[0], s[1], gb(p.bytesPerFloat, n, s[0]), triadGb));
            }
            return out;
        }
    }

    private static double gb(int bytesPerFloat, long n, double ms) {
        return bytesPerFloat * (double) n / (ms * 1e6);
    }

    private static double median(double[] sorted) {
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private static MemorySegment random(Arena arena, long n, SplittableRandom rnd, double lo, double hi) {
        MemorySegment s = arena.allocate(4 * n, 64);
        for (long i = 0; i < n; i++) s.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, (float) rnd.nextDouble(lo, hi));
        return s;
    }
}
