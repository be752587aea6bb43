package io.sam4j.train;

import java.nio.file.Path;

/**
 * Sees a run's folder at its start, after every epoch and at its end (rank 0 only): reports, plots and
 * checkpoint keeping hook in here without touching the loop. A listener that throws ends the run.
 */
public interface RunListener {
    /**
     * The run folder and its config.json exist; nothing trained yet in this process.
     *
     * @param step         0, or the checkpoint's step when resuming
     * @param convolutions the convolution backend's one-line summary (oneDNN version and ISA, or Java)
     * @param ranks        MPI ranks (1 without MPI)
     */
    record Start(Path runDir, long step, String convolutions, String kernels, int ranks) {}

    /**
     * An epoch ended: metrics.jsonl has its line and checkpoint.safetensors its weights.
     *
     * @param valAccuracy accuracy on the validation split, NaN without {@code --val-split}
     */
    record EpochEnd(Path runDir, int epoch, long step, double testAccuracy, double valAccuracy) {}

    default void started(Start s) {}

    default void epochEnded(EpochEnd e) {}

    default void finished(Trainer.Result r) {}
}
