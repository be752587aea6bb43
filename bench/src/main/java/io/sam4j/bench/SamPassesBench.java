package io.sam4j.bench;

import io.sam4j.kernels.FlatOps;
import io.sam4j.kernels.Kernels;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import io.sam4j.nn.ParameterStore;
import io.sam4j.optim.LossFunction;
import io.sam4j.optim.Optimizer;
import io.sam4j.optim.Sgd;
import io.sam4j.optim.SharpnessAware;
import io.sam4j.optim.StepStats;
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
 * The optimizer side of one SAM + SGD step (rho 0.05, lr 0.05, momentum 0.9, weight decay 5e-4) over an
 * 11.2 M-float parameter buffer, without the model: the two gradients are the same fixed buffer.
 *
 * <ul>
 *   <li>{@link #fused}: sam4j's real {@code SharpnessAware.step} over {@code Sgd}, four fused passes:
 *       directionStats (reads g), perturb (reads w, g; writes w0, w), adversarialStats (reads w, w0, g),
 *       sgdStep (reads w0, g, b; writes b, w) = 13 float streams, 52 B/element. It also yields the step's
 *       diagnostics (||e||, cos(e, g_adv), the curvature along e) for free.</li>
 *   <li>{@link #unfused}: the same update as the sequence of simple kernels a PyTorch SAM step runs
 *       (davda54/sam over torch.optim.SGD), each a separate {@link FlatOps} pass: ||g|| (4 B), save w0 = w
 *       (8 B), w += s g (12 B), ||g_adv|| (4 B), restore w = w0 (8 B), d = g + wd w (12 B), b *= mu (8 B),
 *       b += d (12 B), w -= lr b (12 B) = 20 streams, 80 B/element; without the diagnostics.</li>
 * </ul>
 * Both run on the same {@link Parallel} team of {@code threads} threads and the same fixed chunks. The setup
 * checks once that they compute the same weights and momentum buffer (up to FMA rounding).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgs = {JvmFlags.UNSAFE, JvmFlags.GC, JvmFlags.NEW_SIZE},
        jvmArgsAppend = {JvmFlags.NATIVE, JvmFlags.ADD_MODULES, JvmFlags.VECTOR})
public class SamPassesBench {
    /** Parameters: ResNet-18 on 3x32x32. */
    @Param({"11173962"})
    public long n;

    @Param({"1", "2"})
    public int threads;

    private static final float RHO = 0.05f, LR = 0.05f, MU = 0.9f, WD = 5e-4f;
    private static final LossFunction SAME_GRADIENT = pass -> 0.0; // g stays as it is

    private Parallel par;
    private FlatOps ops;
    private ParameterStore store;
    private Optimizer sam;
    private long len;
    private Arena arena;
    /** The unfused sequence's own buffers (it shares g with the fused optimizer). */
    private MemorySegment w, w0, b, d;

    @Setup
    public void setup() {
        Check.kernels("vector");
        par = new Parallel(threads);
        ops = new FlatOps(KernelsProvider.get(), par);
        ParameterStore.Builder sb = ParameterStore.builder();
        sb.param("weight", n);
        store = sb.build();
        len = store.paramLength();
        SplittableRandom r = new SplittableRandom(7);
        fill(store.params(), len, r, -1, 1);
        fill(store.grads(), len, r, -1e-3, 1e-3);
        sam = new SharpnessAware(store, ops, new Sgd(store, ops, MU, false, WD), SharpnessAware.Config.sam(RHO));
        arena = Arena.ofShared();
        w = arena.allocate(4 * len, 64);
        w0 = arena.allocate(4 * len, 64);
        b = arena.allocate(4 * len, 64);
        d = arena.allocate(4 * len, 64);

        // Same start (after a first step, which sets the momentum buffer to its first gradient), one step of each.
        sam.step(SAME_GRADIENT, LR);
        MemorySegment fusedB = sam.stateBuffers().get("momentum_buffer");
        ops.copy(store.params(), w, len);
        ops.copy(fusedB, b, len);
        sam.step(SAME_GRADIENT, LR);
        unfused();
        Check.close("fused and unfused weights", w, store.params(), len, 1e-6);     // |w| ~ 1
        Check.close("fused and unfused momentum buffers", b, fusedB, len, 1e-9); // |b| ~ 1e-3
    }

    @TearDown
    public void tearDown() {
        arena.close();
        store.close();
        par.close();
    }

    private static void fill(MemorySegment s, long n, SplittableRandom r, double lo, double hi) {
        for (long i = 0; i < n; i++) s.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, (float) r.nextDouble(lo, hi));
    }

    @Benchmark
    public StepStats fused() {
        return sam.step(SAME_GRADIENT, LR);
    }

    @Benchmark
    public double unfused() {
        Kernels k = ops.kernels();
        MemorySegment g = store.grads();
        double gNorm = Math.sqrt(ops.sumSquares(g, len));
        float s = (float) (RHO / (gNorm + 1e-12));
        ops.copy(w, w0, len);                   // save
        ops.axpy(s, g, w, len);                 // w + e
        // (the second forward/backward would overwrite g here)
        double advNorm = Math.sqrt(ops.sumSquares(g, len));
        ops.copy(w0, w, len);                   // restore
        ops.forChunks(len, (i, from, to) -> k.affine2(g, w, d, 1f, WD, 0f, from, to)); // d = g + wd w
        ops.scale(MU, b, len);                  // b = mu b + d
        ops.axpy(1f, d, b, len);
        ops.axpy(-LR, b, w, len);               // w -= lr b
        return gNorm + advNorm;
    }
}
