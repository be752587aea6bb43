package io.sam4j.train;

import io.sam4j.conv.ConvBackends;
import io.sam4j.distributed.Communicator;
import io.sam4j.formats.StateDict;
import io.sam4j.kernels.FlatOps;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import io.sam4j.nn.Context;
import io.sam4j.nn.Model;
import io.sam4j.nn.Models;
import io.sam4j.nn.ParameterStore;
import io.sam4j.optim.LossFunction;
import io.sam4j.optim.Optimizer;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;

/**
 * One run's wiring, built from a {@link TrainConfig}: the thread team ({@code threads}), the kernels, the
 * convolution backend ({@code backend}), the model ({@code model}, initialised with {@code seed}, then
 * loaded from {@code init} if set), its {@link FlatOps}, the optimizer, the data-parallel gradient
 * reducer, and the loss function over a batch. {@link Trainer}, {@code sam4j bench}, {@code sam4j
 * sharpness} and the JMH benchmarks all build from this, so none of them wires these pieces by hand.
 *
 * <p>Closing it closes the model, hence its context and the convolution backend.
 */
public final class RunSetup implements AutoCloseable {
    private final TrainConfig config;
    private final Context ctx;
    private final Model model;
    private final FlatOps ops;
    private Optimizer optimizer;
    private long totalSteps;
    private String initNote;
    private GradientAllReduce reducer;

    /**
     * Builds the context and the model for inputs of per-example shape {@code inShape} (C, H, W) and
     * {@code classes} classes; {@code log} gets the line saying why oneDNN is not used, if it is not.
     */
    public RunSetup(TrainConfig config, int[] inShape, int classes, PrintStream log) {
        this.config = config;
        this.totalSteps = Math.max(1, config.steps);
        Parallel.setCommonThreads(config.threads);
        Context context = new Context(Parallel.common(), KernelsProvider.get(), ConvBackends.create(config.backend, Parallel.common(), log));
        try {
            context.usePrecision(config.precision);
            this.model = Models.create(config.model, inShape, classes, config.labelSmoothing, context);
        } catch (RuntimeException e) {
            context.close();
            throw e;
        }
        this.ctx = context;
        this.ops = new FlatOps(ctx.kernels(), ctx.parallel());
        try {
            model.initialize(config.seed);
            if (config.init != null) initNote = StateDict.load(model.store(), config.init).note(config.init.toString());
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /** One line about what --init lacked (int64 counters left at 0), or null. */
    public String initNote() {
        return initNote;
    }

    public Context context() {
        return ctx;
    }

    public Model model() {
        return model;
    }

    public ParameterStore store() {
        return model.store();
    }

    public FlatOps ops() {
        return ops;
    }

    /** The run's length in steps, which AE-SAM's threshold and RST's schedule follow; set before {@link #optimizer()}. */
    public void setTotalSteps(long totalSteps) {
        if (optimizer != null) throw new IllegalStateException("the optimizer was already created");
        this.totalSteps = totalSteps;
    }

    /** The optimizer the config names, created on first use (the sharpness diagnostics need none). */
    public Optimizer optimizer() {
        if (optimizer == null) optimizer = Optimizers.create(config, model.store(), ops, totalSteps);
        return optimizer;
    }

    /**
     * Trains data-parallel over {@code comm} (nothing to do for one rank): rank 0's weights and buffers are
     * broadcast, and the optimizer's reducer ({@link GradientAllReduce}: buckets of {@code allreduceBucketMb}
     * overlapped with backward, out of place for local perturbations' second pass) averages the gradient,
     * before the first-pass perturbation too when
     * {@code globalPerturbation}; with {@code syncBn}, BatchNorm sums its batch statistics over the ranks.
     */
    public void distribute(Communicator comm, boolean globalPerturbation) {
        if (comm.size() == 1) return;
        ParameterStore store = model.store();
        comm.broadcast(store.params(), store.paramLength(), 0);
        comm.broadcast(store.buffers(), store.bufferLength(), 0);
        reducer = new GradientAllReduce(comm, store, ops, GradientAllReduce.bucketFloats(config.allreduceBucketMb));
        ctx.setGradientListener(reducer);
        if (config.syncBn) ctx.setBatchStatisticsSum(comm::allReduceSum);
        optimizer().setReducer(reducer, globalPerturbation);
    }

    /** Nanoseconds spent in the gradient reducer's final wait so far (waiting for the other ranks included). */
    public long reduceNanos() {
        return reducer == null ? 0 : reducer.blockedNanos();
    }

    public void resetReduceNanos() {
        if (reducer != null) reducer.resetBlockedNanos();
    }

    /**
     * The loss of the model on the first {@code n} examples of {@code x}/{@code labels}, as the optimizer calls
     * it, with the per-example losses and subset evaluation ESAM uses.
     */
    public ExampleBatch loss(MemorySegment x, int[] labels, int n) {
        return new ExampleBatch(model, x, labels, n);
    }

    /** Activation layout of the model, as logs and bench lines report it. */
    public String layout() {
        return model.context().layoutName();
    }

    @Override
    public void close() {
        model.close();
    }
}
