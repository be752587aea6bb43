package io.sam4j.cli;

import io.sam4j.report.Comparison;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "compare", mixinStandardHelpOptions = true,
        description = {"One report over several runs: curves on shared axes, a summary table (compare.html, summary.md) and, "
                + "with --against, the final numbers against one setting. Runs that differ only by seed are grouped and drawn "
                + "as mean +- std."})
final class CompareCommand implements Callable<Integer> {
    @Parameters(paramLabel = "RUN", arity = "1..*", description = "Run folders (each with its config.json).")
    List<Path> runs;

    @Option(names = "--out", paramLabel = "DIR", description = "Folder for compare.html, summary.md and plots/ (default: runs/compare-<time>).")
    Path out;

    @Option(names = "--title", paramLabel = "TEXT", description = "Heading of the page and of summary.md, prefix of every figure's title.")
    String title;

    @Option(names = "--labels", paramLabel = "FIELD", split = ",", description = "Name the groups by these config.json fields "
            + "(e.g. optimizer,stable) instead of every field in which they differ.")
    List<String> labels = new ArrayList<>();

    @Option(names = "--metrics", paramLabel = "NAME", split = ",", description = "Per-epoch figures to draw, in this order: "
            + "test_acc, test_loss, train_loss, val_acc, val_loss, sam_gap, grad_scale, sam_fraction, ascent_sharpness, lambda_max, trace, alignment, or any "
            + "metrics.jsonl column (default: the named ones that some run logged).")
    List<String> metrics = new ArrayList<>();

    @Option(names = "--against", paramLabel = "FIELD", description = "A numeric config.json field (label_noise, lr, rho, ...): final "
            + "and peak test accuracy and final train loss against it, one line per group of runs that differ only in it and "
            + "the seed; also against_FIELD.md.")
    String against;

    @Option(names = "--ignore", paramLabel = "FIELD", split = ",", description = "config.json fields that do not make a "
            + "different experiment here (besides seed, out, save, threads), e.g. a setting only runs of a newer version record.")
    List<String> ignore = new ArrayList<>();

    @Override
    public Integer call() {
        for (String s : labels) if (s.isBlank()) throw new IllegalArgumentException("--labels: an empty field name in '" + String.join(",", labels) + "'");
        for (String s : metrics) if (s.isBlank()) throw new IllegalArgumentException("--metrics: an empty name in '" + String.join(",", metrics) + "'");
        if (against != null && against.isBlank()) throw new IllegalArgumentException("--against: give a config.json field, e.g. --against lr");
        Path dir = out != null ? out : Path.of("runs", "compare-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        Path html = Comparison.write(runs, dir, new Comparison.Options(title, labels, metrics, against, ignore));
        System.out.println("comparison: " + html);
        System.out.println("summary: " + dir.resolve(Comparison.SUMMARY));
        return 0;
    }
}
