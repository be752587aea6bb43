package io.sam4j.kernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

/**
 * Rough single-thread bandwidth of scalar vs vector kernels over 11.17M floats (not a test, not JMH).
 * Run: java --add-modules jdk.incubator.vector -cp target/classes:target/test-classes io.sam4j.kernels.KernelBench
 */
public final class KernelBench {
    private static final long N = 11_173_962;

    interface Body {
        double run(Kernels k);
    }

    static volatile double sink;

    public static void main(String[] args) {
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 15;
        try (Arena a = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(1);
            MemorySegment w = KernelTestSupport.random(a, N, rnd, -1, 1), w0 = KernelTestSupport.random(a, N, rnd, -1, 1);
            MemorySegment g = KernelTestSupport.random(a, N, rnd, -1, 1), m = KernelTestSupport.random(a, N, rnd, -1, 1);
            MemorySegment v = KernelTestSupport.random(a, N, rnd, 0, 1);
            Kernels[] ks = {ScalarKernels.INSTANCE, new VectorKernels()};
            bench("sumSquares", 4, reps, ks, k -> k.sumSquares(g, 0, N));
            bench("dot", 8, reps, ks, k -> k.dot(g, m, 0, N));
            bench("axpy", 12, reps, ks, k -> { k.axpy(1e-9f, g, m, 0, N); return 0; });
            bench("directionStats friendly ASAM", 12, reps, ks, k -> {
                double[] acc = new double[2];
                k.directionStats(g, m, w, 0, N, true, 0.5f, Scaling.absPlus(0.01f), acc);
                return acc[0];
            });
            bench("perturb SAM", 16, reps, ks, k -> {
                double[] acc = new double[2];
                k.perturb(w, w0, g, null, 0, N, 1e-9f, false, 0f, EmaUpdate.KEEP, 0f, Scaling.IDENTITY, acc);
                return acc[0];
            });
            bench("perturb F-SAM", 24, reps, ks, k -> {
                double[] acc = new double[2];
                k.perturb(w, w0, g, m, 0, N, 1e-9f, true, 0.5f, EmaUpdate.BLEND, 0.9f, Scaling.IDENTITY, acc);
                return acc[0];
            });
            bench("adversarialStats", 12, reps, ks, k -> {
                double[] acc = new double[3];
                k.adversarialStats(w, w0, g, 0, N, Scaling.IDENTITY, acc);
                return acc[0];
            });
            bench("sgdStep momentum (w,g,b -> b,w)", 20, reps, ks, k -> {
                k.sgdStep(w, null, g, m, 0, N, 1f, 1e-9f, 0f, 0.9f, false, false);
                return 0;
            });
            bench("sgdStep restore+nesterov", 24, reps, ks, k -> {
                k.sgdStep(w, w0, g, m, 0, N, 1f, 1e-9f, 0f, 0.9f, true, false);
                return 0;
            });
            bench("adamwStep", 28, reps, ks, k -> {
                k.adamwStep(w, null, g, m, v, 0, N, 1f, 1e-9f, 0f, 0.9f, 0.999f, 1e-8f, 0.5f, 0.5f);
                return 0;
            });
            for (int threads : new int[] {1, 2}) {
                try (Parallel par = new Parallel(threads)) {
                    FlatOps f = new FlatOps(new VectorKernels(), par);
                    bench("FlatOps.sumSquares " + threads + "T", 4, reps, new Kernels[] {f.kernels()}, k -> f.sumSquares(g, N));
                    bench("FlatOps sgdStep " + threads + "T", 20, reps, new Kernels[] {f.kernels()}, k -> {
                        f.forChunks(N, (i, from, to) -> k.sgdStep(w, null, g, m, from, to, 1f, 1e-9f, 0f, 0.9f, false, false));
                        return 0;
                    });
                }
            }
        }
    }

    private static void bench(String name, int bytesPerElem, int reps, Kernels[] ks, Body body) {
        StringBuilder sb = new StringBuilder(String.format("%-34s", name));
        for (Kernels k : ks) {
            for (int i = 0; i < 5; i++) sink += body.run(k);
            long best = Long.MAX_VALUE;
            for (int i = 0; i < reps; i++) {
                long t0 = System.nanoTime();
                sink += body.run(k);
                best = Math.min(best, System.nanoTime() - t0);
            }
            sb.append(String.format("  %s %6.2f ms %5.1f GB/s", k.name(), best / 1e6, (double) bytesPerElem * N / best));
        }
        System.out.println(sb);
    }
}
