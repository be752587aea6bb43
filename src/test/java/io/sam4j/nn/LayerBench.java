package io.sam4j.nn;

import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.Random;
import java.util.SplittableRandom;

/**
 * Rough timing of the memory-bound CNN layers on the cnn model's conv1 output, 128x32x28x28, in the
 * plain and the blocked (nChw8c, nChw16c) layouts (BatchNorm + ReLU also fused against unfused) (not a test, not JMH; the CPU may be shared, so it prints the
 * median and the minimum of many runs). Run after {@code mvn test-compile}:
 * java --add-modules jdk.incubator.vector -cp target/classes:target/test-classes io.sam4j.nn.LayerBench [reps] [threads...]
 */
public final class LayerBench {
    private static final int N = 128, C = 32, H = 28, W = 28;
    /** With one thread the caller does all the work: its CPU time leaves out time the OS gave to others. */
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    interface Body {
        void run();
    }

    public static void main(String[] args) {
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 40;
        int[] teams = args.length > 1 ? Arrays.stream(args, 1, args.length).mapToInt(Integer::parseInt).toArray() : new int[] {1, 2};
        long len = (long) N * C * H * W;
        try (Arena a = Arena.ofShared()) {
            Random r = new Random(1);
            MemorySegment x = io.sam4j.TestUtil.random(a, len, r, -2, 2), dy = io.sam4j.TestUtil.random(a, len, r, -1, 1);
            MemorySegment dyPool = io.sam4j.TestUtil.random(a, len / 4, r, -1, 1), dyGap = io.sam4j.TestUtil.random(a, N * C, r, -1, 1);
            for (int threads : teams) for (int lanes : new int[] {0, 8, 16}) {
                try (Parallel par = new Parallel(threads); Context ctx = new Context(par, KernelsProvider.get())) {
                    ctx.setLanes(lanes); // C = 32: the same sizes in every layout
                    BatchNorm2d bn = new BatchNorm2d(C), fused = BatchNorm2d.withRelu(C);
                    Sequential unfused = new Sequential().add(null, new BatchNorm2d(C)).add(null, ReLU.inPlace());
                    MaxPool2d pool = new MaxPool2d(2, 2);
                    GlobalAvgPool gap = new GlobalAvgPool();
                    ParameterStore.Builder b = ParameterStore.builder();
                    int[] in = {C, H, W};
                    bn.declare(in, "bn.", b, ctx);
                    fused.declare(in, "fused.", b, ctx);
                    unfused.declare(in, "unfused.", b, ctx);
                    pool.declare(in, "", b, ctx);
                    gap.declare(in, "", b, ctx);
                    try (ParameterStore store = b.build()) {
                        for (Layer l : new Layer[] {bn, fused, unfused}) {
                            l.bind(store);
                            l.initialize(store, new SplittableRandom(1));
                        }
                        String t = threads + "T " + ctx.layoutName() + " ";
                        bench(t + "bn forward TRAIN", reps, () -> bn.forward(x, N, Mode.TRAIN));
                        bench(t + "bn backward", reps, () -> bn.backward(dy, N, true));
                        bench(t + "bn forward+backward", reps, () -> {
                            bn.forward(x, N, Mode.TRAIN);
                            bn.backward(dy, N, true);
                        });
                        for (int round = 0; round < 2; round++) { // BatchNorm + ReLU, alternating: A B A B
                            bench(t + "bn+relu unfused fwd+bwd", reps, () -> {
                                unfused.forward(x, N, Mode.TRAIN);
                                unfused.backward(dy, N, true);
                            });
                            bench(t + "bn+relu fused fwd+bwd", reps, () -> {
                                fused.forward(x, N, Mode.TRAIN);
                                fused.backward(dy, N, true);
                            });
                        }
                        bench(t + "maxpool forward", reps, () -> pool.forward(x, N, Mode.TRAIN));
                        bench(t + "maxpool backward", reps, () -> pool.backward(dyPool, N, true));
                        bench(t + "maxpool forward+backward", reps, () -> {
                            pool.forward(x, N, Mode.TRAIN);
                            pool.backward(dyPool, N, true);
                        });
                        // conv2's pool in the cnn model: rows narrower than a vector.
                        MaxPool2d pool2 = new MaxPool2d(2, 2);
                        pool2.declare(new int[] {2 * C, H / 2, W / 2}, "", ParameterStore.builder(), ctx);
                        bench(t + "maxpool 64x14x14 fwd+bwd", reps, () -> {
                            pool2.forward(x, N, Mode.TRAIN);
                            pool2.backward(dyPool, N, true);
                        });
                        bench(t + "gap forward+backward", reps, () -> {
                            gap.forward(x, N, Mode.TRAIN);
                            gap.backward(dyGap, N, true);
                        });
                        if (lanes != 0) { // what the blocked layout adds: the input's and the flatten's reorders
                            MemorySegment in1 = a.allocate(4L * N * H * W, 64), out8 = a.allocate(4L * N * lanes * H * W, 64);
                            bench(t + "reorder 1x28x28 input", reps, () -> BlockedLayout.toBlocked(par, in1, out8, N, 1, H * W, lanes));
                            MemorySegment flat = a.allocate(4L * N * 2 * C * (H / 4) * (W / 4), 64);
                            bench(t + "flatten 64x7x7 there+back", reps, () -> {
                                BlockedLayout.toPlain(par, x, flat, N, 2 * C, (H / 4) * (W / 4), lanes);
                                BlockedLayout.toBlocked(par, flat, x, N, 2 * C, (H / 4) * (W / 4), lanes);
                            });
                        }
                    }
                }
            }
        }
    }

    private static void bench(String name, int reps, Body body) {
        for (int i = 0; i < 10; i++) body.run();
        double[] ms = new double[reps], cpu = new double[reps];
        long bytes0 = THREADS.getCurrentThreadAllocatedBytes();
        for (int i = 0; i < reps; i++) {
            long c0 = THREADS.getCurrentThreadCpuTime(), t0 = System.nanoTime();
            body.run();
            ms[i] = (System.nanoTime() - t0) / 1e6;
            cpu[i] = (THREADS.getCurrentThreadCpuTime() - c0) / 1e6;
        }
        long bytes = (THREADS.getCurrentThreadAllocatedBytes() - bytes0) / reps;
        Arrays.sort(ms);
        Arrays.sort(cpu);
        System.out.printf("%-30s median %7.2f ms  min %7.2f ms  caller cpu median %7.2f ms  caller alloc %d B/call%n",
                name, ms[reps / 2], ms[0], cpu[reps / 2], bytes);
    }
}
