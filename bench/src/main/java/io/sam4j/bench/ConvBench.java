package io.sam4j.bench;

import io.sam4j.dnnl.OneDnnConvBackend;
import io.sam4j.kernels.Parallel;
import io.sam4j.conv.ConvBackend;
import io.sam4j.conv.Convolution;
import io.sam4j.conv.ConvShape;
import io.sam4j.conv.JavaConvBackend;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One ResNet-18/CIFAR convolution, N=128, C=K=64, 32x32, 3x3, stride 1, pad 1, with bias: 4.83 G multiply-adds,
 * 9.66 GFLOP per pass, so {@code GFLOP/s = 9663.7 / (ms/op)}. {@code backend=onednn} is oneDNN through FFM
 * (NCHW <-> blocked reorders included, as the trainer calls it), {@code backend=java} the Vector-API
 * im2col + GEMM backend; {@code threads} is oneDNN's OpenMP thread count or the Java team's size.
 * The same calls as {@code src/test/java/io/sam4j/dnnl/OneDnnConvBench.java}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgs = {JvmFlags.UNSAFE, JvmFlags.GC, JvmFlags.NEW_SIZE},
        jvmArgsAppend = {JvmFlags.NATIVE, JvmFlags.ADD_MODULES, JvmFlags.VECTOR})
public class ConvBench {
    @Param({"onednn", "java"})
    public String backend;

    @Param({"1", "2"})
    public int threads;

    @Param({"128"})
    public int batch;

    private Arena arena;
    private Parallel par;
    private ConvBackend conv;
    private Convolution kernel;
    private MemorySegment x, w, bias, y, dy, dx, dw, db;

    @Setup
    public void setup() {
        Check.kernels("vector"); // the Java backend's GEMM is Vector-API code
        ConvShape s = new ConvShape(batch, 64, 32, 32, 64, 3, 3, 1, 1);
        par = new Parallel(threads);
        conv = switch (backend) {
            case "onednn" -> OneDnnConvBackend.create(threads); // fails with the reason when libdnnl cannot load
            case "java" -> new JavaConvBackend(par);
            default -> throw new IllegalArgumentException("backend must be onednn or java, got " + backend);
        };
        kernel = conv.conv(s, true);
        arena = Arena.ofShared();
        SplittableRandom r = new SplittableRandom(1);
        x = KernelBench.random(arena, s.inputSize(), r, -1, 1);
        w = KernelBench.random(arena, s.weightSize(), r, -0.1, 0.1);
        bias = KernelBench.random(arena, s.k(), r, -1, 1);
        dy = KernelBench.random(arena, s.outputSize(), r, -1, 1);
        y = arena.allocate(4 * s.outputSize(), 64);
        dx = arena.allocate(4 * s.inputSize(), 64);
        dw = arena.allocate(4 * s.weightSize(), 64);
        db = arena.allocate(4L * s.k(), 64);
        System.out.println("\n" + kernel.implementation() + ", " + s + ", " + threads + " threads");
    }

    @TearDown
    public void tearDown() {
        kernel.close();
        conv.close();
        par.close();
        arena.close();
    }

    /** y = conv(x, w) + bias. */
    @Benchmark
    public void forward() {
        kernel.forward(x, w, bias, y);
    }

    /** dx from dy and w. */
    @Benchmark
    public void backwardData() {
        kernel.backwardData(dy, w, dx);
    }

    /** dw and dbias from x and dy. */
    @Benchmark
    public void backwardWeights() {
        kernel.backwardWeights(x, dy, dw, db);
    }
}
