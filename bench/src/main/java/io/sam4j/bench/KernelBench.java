package io.sam4j.bench;

import io.sam4j.kernels.EmaUpdate;
import io.sam4j.kernels.Kernels;
import io.sam4j.kernels.Scaling;
import io.sam4j.kernels.KernelsProvider;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
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
 * Every {@link Kernels} loop that matters, one thread, one call over {@code n} floats, in two forks (Lucene's
 * pattern): {@link Vector} runs with {@code --add-modules jdk.incubator.vector}, so {@link KernelsProvider}
 * picks the Vector-API kernels; {@link Scalar} runs the very same methods without it, so the provider falls back
 * to the scalar reference ({@code ScalarKernels}). Each fork checks in its setup which one it got.
 *
 * <p>Bytes moved per element (float32 reads + writes) are in each method's comment, so
 * {@code GB/s = bytesPerElement * n / time}; for the default n = 11,173,962 (ResNet-18 on 3x32x32),
 * {@code GB/s = 11.17 * bytesPerElement / (ms/op)}. {@code -p n=65536} (256 KB per buffer, one
 * {@code FlatOps} chunk, cache-resident) shows the kernels when memory bandwidth does not bound them.
 *
 * <p>The scalar settings are those of a SAM + SGD step (rho 0.05, momentum 0.9, weight decay 5e-4); the
 * buffers drift a little from call to call (w moves by e each perturb), which does not change the timing.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 2) // C2 needs ~10 s before the Vector-API loops run compiled
@Measurement(iterations = 3, time = 2)
public abstract class KernelBench {
    /** The Vector-API kernels: {@code --add-modules jdk.incubator.vector}. */
    @Fork(value = 1, jvmArgs = {JvmFlags.UNSAFE, JvmFlags.GC, JvmFlags.NEW_SIZE},
            jvmArgsAppend = {JvmFlags.NATIVE, JvmFlags.ADD_MODULES, JvmFlags.VECTOR})
    public static class Vector extends KernelBench {
        @Override
        String expected() { return "vector"; }
    }

    /** The scalar reference: the same methods, forked without the incubator module. */
    @Fork(value = 1, jvmArgs = {JvmFlags.UNSAFE, JvmFlags.GC, JvmFlags.NEW_SIZE}, jvmArgsAppend = {JvmFlags.NATIVE})
    public static class Scalar extends KernelBench {
        @Override
        String expected() { return "scalar"; }
    }

    /** Floats per buffer: ResNet-18's parameter count on 3x32x32 (11,173,962). */
    @Param({"11173962"})
    public long n;

    private static final float RHO_SCALE = 1e-4f; // ~ rho / ||g|| for ResNet-18
    private static final float SIGMA = 1f, LAMBDA = 0.9f;
    private static final float LR = 0.05f, WD = 5e-4f, MU = 0.9f;

    private Arena arena;
    private Kernels k;
    private MemorySegment w, w0, g, m, v, y;
    private final double[] acc = new double[3];
    /** Not a constant, so the JIT cannot fold x * 1. */
    private float one = 1f;

    abstract String expected();

    @Setup
    public void setup() {
        Check.kernels(expected());
        k = KernelsProvider.get();
        arena = Arena.ofShared();
        SplittableRandom r = new SplittableRandom(42);
        w = random(arena, n, r, -1, 1);
        w0 = random(arena, n, r, -1, 1);
        g = random(arena, n, r, -1e-3, 1e-3);
        m = random(arena, n, r, -1e-3, 1e-3);
        v = random(arena, n, r, 0, 1e-6);
        y = random(arena, n, r, -1, 1);
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    static MemorySegment random(Arena a, long n, SplittableRandom r, double lo, double hi) {
        MemorySegment s = a.allocate(4 * n, 64);
        for (long i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextDouble(lo, hi));
        return s;
    }

    /** Reads g: 4 B/element. */
    @Benchmark
    public double sumSquares() {
        return k.sumSquares(g, 0, n);
    }

    /** Reads g, m: 8 B/element. */
    @Benchmark
    public double dot() {
        return k.dot(g, m, 0, n);
    }

    /** m += a g. Reads g, m, writes m: 12 B/element. */
    @Benchmark
    public void axpy() {
        k.axpy(1e-7f, g, m, 0, n);
    }

    /** y *= 1. Reads and writes y: 8 B/element. */
    @Benchmark
    public void scale() {
        k.scale(one, y, 0, n);
    }

    /** w0 = w. Reads w, writes w0: 8 B/element. */
    @Benchmark
    public void copy() {
        k.copy(w, w0, 0, n);
    }

    /** y = max(w, 0). Reads w, writes y: 8 B/element. */
    @Benchmark
    public void relu() {
        k.relu(w, y, 0, n);
    }

    /** m = w > 0 ? g : 0. Reads w, g, writes m: 12 B/element. */
    @Benchmark
    public void reluBackward() {
        k.reluBackward(w, g, m, 0, n);
    }

    /** SAM's first pass, ||g||^2. Reads g: 4 B/element. */
    @Benchmark
    public double directionStats() {
        k.directionStats(g, null, null, 0, n, false, SIGMA, Scaling.IDENTITY, acc);
        return acc[0];
    }

    /** F-SAM's first pass, ||g||^2 and ||g - sigma m||^2. Reads g, m: 8 B/element. */
    @Benchmark
    public double directionStatsFriendly() {
        k.directionStats(g, m, null, 0, n, true, SIGMA, Scaling.IDENTITY, acc);
        return acc[1];
    }

    /** SAM's save + perturb: w0 = w, w += s g, sums e^2, e.g. Reads w, g, writes w0, w: 16 B/element. */
    @Benchmark
    public double perturb() {
        k.perturb(w, w0, g, null, 0, n, RHO_SCALE, false, SIGMA, EmaUpdate.KEEP, LAMBDA, Scaling.IDENTITY, acc);
        return acc[0];
    }

    /**
     * F-SAM's save + perturb along g - sigma m, then m = lambda m + (1 - lambda) g.
     * Reads w, g, m, writes w0, w, m: 24 B/element.
     */
    @Benchmark
    public double perturbFriendly() {
        k.perturb(w, w0, g, m, 0, n, RHO_SCALE, true, SIGMA, EmaUpdate.BLEND, LAMBDA, Scaling.IDENTITY, acc);
        return acc[0];
    }

    /** ||g_adv||^2 and (w - w0).g_adv. Reads w, w0, g: 12 B/element. */
    @Benchmark
    public double adversarialStats() {
        k.adversarialStats(w, w0, g, 0, n, Scaling.IDENTITY, acc);
        return acc[2];
    }

    /**
     * SAM's last pass with SGD: restore w = w0, weight decay, momentum (m is the buffer), update.
     * Reads w0, g, m, writes m, w: 20 B/element.
     */
    @Benchmark
    public void sgdStep() {
        k.sgdStep(w, w0, g, m, 0, n, 1f, LR, WD, MU, false, false);
    }

    /**
     * SAM's last pass with AdamW: restore, decoupled decay, both moments, update.
     * Reads w0, g, m, v, writes m, v, w: 28 B/element.
     */
    @Benchmark
    public void adamwStep() {
        k.adamwStep(w, w0, g, m, v, 0, n, 1f, 1e-3f, 0.05f, 0.9f, 0.999f, 1e-8f, 0.5f, 0.5f);
    }
}
