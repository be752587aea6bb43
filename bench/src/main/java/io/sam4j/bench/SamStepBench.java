package io.sam4j.bench;

import io.sam4j.nn.Model;
import io.sam4j.optim.LossFunction;
import io.sam4j.optim.Optimizer;
import io.sam4j.optim.StepStats;
import io.sam4j.train.RunSetup;
import io.sam4j.train.TrainConfig;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
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
 * One whole optimizer step of the {@code cnn} model (824,554 parameters) on a synthetic 128 x 1x28x28 batch,
 * built as {@code ./sam4j bench} builds it ({@code BenchCommand}): the reference script's settings (SGD lr 0.05,
 * momentum 0.9, weight decay 5e-4; rho 0.05; F-SAM sigma 1, lambda 0.6). A SAM step is two forward/backward
 * passes plus the four fused optimizer passes; {@code opt=sgd} (one forward/backward) is the baseline.
 * {@code opt} also takes {@code fsam} and {@code stablesam} (SAM with StableSAM's rescale), {@code model}
 * also {@code mlp} or {@code resnet18} (seconds per step: raise {@code -r}).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 3) // BenchCommand warms up 12 s; the first steps run interpreted
@Measurement(iterations = 3, time = 3)
@Fork(value = 1, jvmArgs = {JvmFlags.UNSAFE, JvmFlags.GC, JvmFlags.NEW_SIZE},
        jvmArgsAppend = {JvmFlags.NATIVE, JvmFlags.ADD_MODULES, JvmFlags.VECTOR})
public class SamStepBench {
    @Param({"cnn"})
    public String model;

    @Param({"sgd", "sam"})
    public String opt;

    @Param({"onednn", "java"})
    public String backend;

    @Param({"2"})
    public int threads;

    @Param({"128"})
    public int batch;

    private RunSetup run;
    private Model m;
    private Arena arena;
    private Optimizer o;
    private LossFunction f;

    @Setup
    public void setup() {
        Check.kernels("vector");
        TrainConfig c = new TrainConfig();
        c.model = model;
        c.batch = batch;
        c.threads = threads;
        c.lambda = 0.6f;
        c.optimizer = switch (opt) {
            case "sgd", "sam", "fsam" -> opt;
            case "stablesam" -> "sam";
            default -> throw new IllegalArgumentException("opt must be sgd, sam, fsam or stablesam, got " + opt);
        };
        c.stable = opt.equals("stablesam");
        c.backend = backend;
        run = new RunSetup(c, new int[] {1, 28, 28}, 10, System.err);
        m = run.model();
        o = run.optimizer();
        arena = Arena.ofShared();
        Random r = new Random(0);
        long len = (long) batch * m.inputSize();
        MemorySegment x = arena.allocate(4 * len, 64);
        for (long i = 0; i < len; i++) x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
        int[] labels = r.ints(batch, 0, 10).toArray();
        int n = batch;
        f = run.loss(x, labels, n);
        System.out.println("\n" + model + " " + o.describe() + ", " + run.context().kernels().name() + " kernels, "
                + run.context().convBackend().summary() + ", " + m.store().paramCount() + " parameters");
    }

    @TearDown
    public void tearDown() {
        run.close(); // closes the model and its context, hence the convolution backend
        arena.close();
    }

    @Benchmark
    public StepStats step() {
        return o.step(f, 0.05f);
    }
}
