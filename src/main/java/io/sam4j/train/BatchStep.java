package io.sam4j.train;

import io.sam4j.config.ConfigException;
import io.sam4j.optim.Accumulated;
import io.sam4j.optim.LossFunction;
import io.sam4j.optim.SharpnessAware;
import io.sam4j.optim.StepStats;
import java.lang.foreign.MemorySegment;

/**
 * One optimizer step on the batch its caller loads into {@code x}/{@code labels} (the first {@code n}
 * examples), split as the config says: whole, {@code --accumulate N} micro-batches whose gradients are
 * averaged before the step, or {@code --m M} micro-batches that each perturb along their own gradient. The
 * training loop and {@code sam4j bench} both step through this, so a benchmark times exactly what training
 * runs. Built once per run; nothing is allocated per step.
 */
public final class BatchStep {
    private final RunSetup run;
    private final LossFunction loss;
    /** The micro-batches of --accumulate or --m (null for neither); their labels are re-read each step. */
    private final MicroBatches micro;
    private final SharpnessAware perMicroBatch;

    private BatchStep(RunSetup run, LossFunction loss, MicroBatches micro, SharpnessAware perMicroBatch) {
        this.run = run;
        this.loss = loss;
        this.micro = micro;
        this.perMicroBatch = perMicroBatch;
    }

    /** Refuses (naming the flag) a split that does not divide {@code n}. */
    public static BatchStep of(TrainConfig c, RunSetup run, MemorySegment x, int[] labels, int n) {
        if (c.m > 0) {
            if (n % c.m != 0) throw new ConfigException("{m} " + c.m + " does not divide the per-rank batch " + n);
            MicroBatches micro = new MicroBatches(run.model(), x, labels, n, c.m);
            return new BatchStep(run, null, micro, (SharpnessAware) run.optimizer());
        }
        if (c.accumulate > 1) {
            if (n % c.accumulate != 0) {
                throw new ConfigException("{accumulate} " + c.accumulate + " does not divide the per-rank batch " + n);
            }
            MicroBatches micro = new MicroBatches(run.model(), x, labels, n, n / c.accumulate);
            return new BatchStep(run, new Accumulated(micro, run.store(), run.ops()), micro, null);
        }
        return new BatchStep(run, run.loss(x, labels, n), null, null);
    }

    /** One step at learning rate {@code lr} on the examples now in the batch. */
    public StepStats step(float lr) {
        if (micro != null) micro.refresh();
        return perMicroBatch != null ? perMicroBatch.stepPerMicroBatch(micro, lr) : run.optimizer().step(loss, lr);
    }
}
