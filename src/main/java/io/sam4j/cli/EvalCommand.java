package io.sam4j.cli;

import io.sam4j.report.Evaluation;
import io.sam4j.report.RunModel;
import io.sam4j.report.RunReport;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Score weights on a test set as training does (same batches, BatchNorm in eval mode): accuracy, loss, "
                + "per-class accuracy and the confusion matrix, printed and plotted.",
                "With --run, writes RUNDIR/eval.json and RUNDIR/plots/confusion.png|svg and refreshes report.html."})
final class EvalCommand implements Callable<Integer> {
    @Mixin
    WeightsSource source;

    @Option(names = "--batch", paramLabel = "B", description = "Evaluation batch (default: the run's batch, or 128).")
    Integer batch;

    @Option(names = "--json", description = "Print the result as JSON instead of text.")
    boolean json;

    @Option(names = "--out", paramLabel = "DIR", description = "Folder for eval.json and plots/ (default: the run folder; "
            + "none with --weights).")
    Path out;

    @Override
    public Integer call() {
        if (batch != null && batch < 1) throw new IllegalArgumentException("--batch must be >= 1, got " + batch);
        if (out != null && !Files.isDirectory(out)) throw new IllegalArgumentException("--out: no such folder " + out);
        try (RunModel rm = source.open()) {
            Evaluation e = Evaluation.of(rm, rm.testSet(), batch != null ? batch : rm.config().batch);
            System.out.print(json ? e.toJson() + "\n" : e.toText());
            Path dir = out != null ? out : source.source.run;
            if (dir != null) {
                e.write(dir);
                if (dir.equals(source.source.run)) RunReport.write(dir);
            }
        }
        return 0;
    }
}
