package io.sam4j.cli;

import io.sam4j.report.Comparison;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "compare", mixinStandardHelpOptions = true,
        description = {"One report over several runs: curves on shared axes and a summary table. Runs that differ only by "
                + "seed are grouped and drawn as mean +- std."})
final class CompareCommand implements Callable<Integer> {
    @Parameters(paramLabel = "RUN", arity = "1..*", description = "Run folders.")
    List<Path> runs;

    @Option(names = "--out", paramLabel = "DIR", description = "Folder for compare.html and plots/ (default: runs/compare-<time>).")
    Path out;

    @Override
    public Integer call() {
        for (Path r : runs) {
            if (!Files.isRegularFile(r.resolve("config.json"))) throw new IllegalArgumentException(r + " is not a run folder (no config.json)");
        }
        Path dir = out != null ? out : Path.of("runs", "compare-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("--out: cannot create " + dir + ": " + e.getMessage(), e);
        }
        System.out.println("comparison: " + Comparison.write(runs, dir));
        return 0;
    }
}
