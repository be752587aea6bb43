package io.sam4j.cli;

import io.sam4j.nn.Models;
import io.sam4j.report.RunModel;
import io.sam4j.train.TrainConfig;
import java.nio.file.Path;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Option;

/** The weights eval and predict score: a run folder (its config and weights) or a weights file with --model. */
final class WeightsSource {
    static final class Source {
        @Option(names = "--run", paramLabel = "RUNDIR", required = true, description = "A run folder: its config.json (model, "
                + "data, normalisation) and final.safetensors (else its last checkpoint).")
        Path run;

        @Option(names = "--weights", paramLabel = "FILE", required = true, description = "Weights (.safetensors, PyTorch names); "
                + "with --model and --data.")
        Path weights;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    @Option(names = "--checkpoint", paramLabel = "FILE", description = "With --run: other weights than the run's final ones "
            + "(e.g. RUNDIR/best.safetensors).")
    Path checkpoint;

    @Option(names = "--model", paramLabel = "NAME", description = "Model of --weights (default: cnn).")
    String model;

    @Option(names = "--data", paramLabel = "DIR", description = "Data set (default: the run's, or the embedded subset).")
    Path data;

    @Option(names = "--threads", paramLabel = "T", description = "Threads (default: the run's, or all cores).")
    Integer threads;

    RunModel open() {
        if (source.run != null) {
            if (model != null) throw new IllegalArgumentException("--model goes with --weights; a run folder has its own");
            return RunModel.ofRun(source.run, checkpoint, threads, data);
        }
        if (checkpoint != null) throw new IllegalArgumentException("--checkpoint goes with --run");
        TrainConfig c = new TrainConfig();
        if (model != null) {
            if (!Models.NAMES.contains(model)) {
                throw new IllegalArgumentException("--model: unknown '" + model + "' (known: " + String.join(", ", Models.NAMES) + ")");
            }
            c.model = model;
        }
        c.data = data;
        if (threads != null) c.threads = threads;
        return RunModel.ofWeights(c, source.weights);
    }
}
