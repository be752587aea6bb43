package io.sam4j.dnnl;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import io.sam4j.conv.Convolution;
import io.sam4j.conv.ConvShape;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * GFLOP/s of OneDnnConv, user-layout reorders included, on a ResNet-18/CIFAR layer: N=128, C=K=64, 32x32,
 * 3x3, pad 1 (9.66 GFLOP per pass). Not a test and not JMH: warm-up, then the median and best of a few calls.
 * Run after {@code mvn test-compile} (add {@code OMP_WAIT_POLICY=PASSIVE} to see its cost):
 * <pre>
 * mvn -q dependency:build-classpath -Dmdep.outputFile=target/cp.txt
 * java --enable-native-access=ALL-UNNAMED -cp target/classes:target/test-classes:$(cat target/cp.txt) \
 *     io.sam4j.dnnl.OneDnnConvBench [threads=2] [reps=10] [batch=128] [onednn|java|blocked|bf16-gemm]
 * </pre>
 * {@code bf16-gemm} times ResNet-18's 7x7 and 4x4 stages (and a 14x14 one for contrast) in bf16, oneDNN's direct
 * kernels against {@link OneDnnGemmConv}; {@code -Dsam4j.bf16.weightGradients=fp32|bf16} applies to both.
 * {@code blocked} times oneDNN with blocked activations at its width (nChw16c on AVX-512, nChw8c on AVX2) (no activation reorders) and with NCHW, call by call
 * alternately, so that a noisy neighbour hits both alike.
 */
public final class OneDnnConvBench {
    interface Call {
        void run();
    }

    public static void main(String[] args) {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : 2;
        int reps = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        int batch = args.length > 2 ? Integer.parseInt(args[2]) : 128;
        ConvShape s = new ConvShape(batch, 64, 32, 32, 64, 3, 3, 1, 1);
        double gflop = 2 * s.macs() / 1e9;
        System.out.println(OneDnnConvBackend.describe());
        boolean java = args.length > 3 && args[3].equals("java");
        if (args.length > 3 && args[3].equals("blocked")) {
            blockedVsPlain(s, threads, reps, gflop);
            return;
        }
        if (args.length > 3 && args[3].equals("bf16-gemm")) {
            for (ConvShape g : new ConvShape[] {new ConvShape(batch, 512, 4, 4, 512, 3, 3, 1, 1),
                    new ConvShape(batch, 256, 7, 7, 512, 3, 3, 2, 1), new ConvShape(batch, 256, 7, 7, 256, 3, 3, 1, 1),
                    new ConvShape(batch, 128, 14, 14, 256, 3, 3, 2, 1), new ConvShape(batch, 128, 14, 14, 128, 3, 3, 1, 1)}) {
                directVsGemm(g, threads, reps);
            }
            return;
        }
        io.sam4j.kernels.Parallel.setCommonThreads(threads);
        try (Arena a = Arena.ofShared();
             io.sam4j.conv.ConvBackend backend = java ? new io.sam4j.conv.JavaConvBackend(io.sam4j.kernels.Parallel.common())
                     : OneDnnConvBackend.create(threads)) {
            SplittableRandom rnd = new SplittableRandom(1);
            MemorySegment x = random(a, s.inputSize(), rnd), w = random(a, s.weightSize(), rnd);
            MemorySegment b = random(a, s.k(), rnd), dy = random(a, s.outputSize(), rnd);
            MemorySegment y = a.allocate(4 * s.outputSize(), 64), dx = a.allocate(4 * s.inputSize(), 64);
            MemorySegment dw = a.allocate(4 * s.weightSize(), 64), db = a.allocate(4L * s.k(), 64);
            long t0 = System.nanoTime();
            try (Convolution k = backend.conv(s, true)) {
                System.out.printf("%s, %d threads, %.2f GFLOP per pass, kernel setup %.0f ms, %s%n", s,
                        threads, gflop, (System.nanoTime() - t0) / 1e6, k.implementation());
                time("forward", gflop, reps, () -> k.forward(x, w, b, y));
                time("backward_data", gflop, reps, () -> k.backwardData(dy, w, dx));
                time("backward_weights", gflop, reps, () -> k.backwardWeights(x, dy, dw, db));
            }
        }
    }

    private static void blockedVsPlain(ConvShape s, int threads, int reps, double gflop) {
        try (Arena a = Arena.ofShared(); OneDnnConvBackend backend = OneDnnConvBackend.create(threads);
             Convolution plain = backend.conv(s, true, 0);
             Convolution blocked = backend.conv(s, true, Math.max(8, backend.blockedLanes()))) {
            SplittableRandom rnd = new SplittableRandom(1);
            // C = K = 64: both layouts take the same number of floats.
            MemorySegment x = random(a, s.inputSize(), rnd), w = random(a, s.weightSize(), rnd);
            MemorySegment b = random(a, s.k(), rnd), dy = random(a, s.outputSize(), rnd);
            MemorySegment y = a.allocate(4 * s.outputSize(), 64), dx = a.allocate(4 * s.inputSize(), 64);
            MemorySegment dw = a.allocate(4 * s.weightSize(), 64), db = a.allocate(4L * s.k(), 64);
            System.out.printf("%s, %d threads, NCHW %s %s, nChw%dc %s %s%n", s, threads, plain.implementation(),
                    ((OneDnnConv) plain).activationReorders(), Math.max(8, backend.blockedLanes()), blocked.implementation(), ((OneDnnConv) blocked).activationReorders());
            String[] names = {"forward", "backward_data", "backward_weights"};
            for (int pass = 0; pass < 3; pass++) {
                double[][] ms = new double[2][reps];
                for (int i = -3; i < reps; i++) {
                    for (int l = 0; l < 2; l++) {
                        Convolution k = l == 0 ? plain : blocked;
                        long t = System.nanoTime();
                        switch (pass) {
                            case 0 -> k.forward(x, w, b, y);
                            case 1 -> k.backwardData(dy, w, dx);
                            default -> k.backwardWeights(x, dy, dw, db);
                        }
                        if (i >= 0) ms[l][i] = (System.nanoTime() - t) / 1e6;
                    }
                }
                for (int l = 0; l < 2; l++) {
                    Arrays.sort(ms[l]);
                    System.out.printf("%-17s %-6s median %6.1f ms = %5.1f GFLOP/s   best %6.1f ms = %5.1f GFLOP/s%n", names[pass],
                            l == 0 ? "NCHW" : "blocked", ms[l][reps / 2], gflop / ms[l][reps / 2] * 1e3, ms[l][0], gflop / ms[l][0] * 1e3);
                }
            }
        }
    }

    /**
     * bf16 convolutions of {@code s} in the machine's blocked layout: oneDNN's direct kernels against im2col + matmul
     * ({@link OneDnnGemmConv}), call by call alternately, weight gradients as configured.
     */
    private static void directVsGemm(ConvShape s, int threads, int reps) {
        double gflop = 2 * s.macs() / 1e9;
        try (Arena a = Arena.ofShared(); OneDnnConvBackend backend = OneDnnConvBackend.create(threads)) {
            int lanes = backend.blockedLanes();
            Convolution[] kernels = new Convolution[2];
            String[] modes = {"never", "always"};
            for (int l = 0; l < 2; l++) {
                System.setProperty(OneDnnConvBackend.GEMM_CONV, modes[l]);
                kernels[l] = backend.conv(s, false, lanes, io.sam4j.conv.Precision.BF16);
            }
            System.clearProperty(OneDnnConvBackend.GEMM_CONV);
            SplittableRandom rnd = new SplittableRandom(1);
            long xf = (long) s.n() * io.sam4j.nn.BlockedLayout.paddedChannels(s.c(), Math.max(1, lanes)) * s.h() * s.w();
            long yf = (long) s.n() * io.sam4j.nn.BlockedLayout.paddedChannels(s.k(), Math.max(1, lanes)) * s.outH() * s.outW();
            MemorySegment x = random(a, xf, rnd), w = random(a, s.weightSize(), rnd), dy = random(a, yf, rnd);
            MemorySegment y = a.allocate(4 * yf, 64), dx = a.allocate(4 * xf, 64), dw = a.allocate(4 * s.weightSize(), 64);
            System.out.printf("%s, %d threads, layout %s, %.2f GFLOP per pass: %s | %s%n", s, threads,
                    lanes == 0 ? "NCHW" : "nChw" + lanes + "c", gflop, kernels[0].implementation(), kernels[1].implementation());
            String[] names = {"forward", "backward_data", "backward_weights"};
            for (int pass = 0; pass < 3; pass++) {
                double[][] ms = new double[2][reps];
                for (int i = -3; i < reps; i++) {
                    for (int l = 0; l < 2; l++) {
                        Convolution k = kernels[l];
                        long t = System.nanoTime();
                        switch (pass) {
                            case 0 -> k.forward(x, w, null, y);
                            case 1 -> k.backwardData(dy, w, dx);
                            default -> k.backwardWeights(x, dy, dw, null);
                        }
                        if (i >= 0) ms[l][i] = (System.nanoTime() - t) / 1e6;
                    }
                }
                Arrays.sort(ms[0]);
                Arrays.sort(ms[1]);
                System.out.printf("  %-17s direct median %6.1f ms (%4.0f GFLOP/s)   im2col+matmul median %6.1f ms (%4.0f GFLOP/s)   %.2fx%n",
                        names[pass], ms[0][reps / 2], gflop / ms[0][reps / 2] * 1e3, ms[1][reps / 2], gflop / ms[1][reps / 2] * 1e3,
                        ms[1][reps / 2] / ms[0][reps / 2]);
            }
            for (Convolution k : kernels) k.close();
        }
    }

    private static void time(String name, double gflop, int reps, Call call) {
        for (int i = 0; i < 3; i++) call.run();
        double[] ms = new double[reps];
        for (int i = 0; i < reps; i++) {
            long t = System.nanoTime();
            call.run();
            ms[i] = (System.nanoTime() - t) / 1e6;
        }
        Arrays.sort(ms);
        double median = ms[reps / 2], best = ms[0];
        System.out.printf("%-17s median %6.1f ms = %5.1f GFLOP/s   best %6.1f ms = %5.1f GFLOP/s%n", name, median,
                gflop / median * 1e3, best, gflop / best * 1e3);
    }

    private static MemorySegment random(Arena a, long n, SplittableRandom rnd) {
        MemorySegment m = a.allocate(4 * n, 64);
        for (long i = 0; i < n; i++) m.setAtIndex(JAVA_FLOAT, i, (float) rnd.nextDouble(-1, 1));
        return m;
    }
}
