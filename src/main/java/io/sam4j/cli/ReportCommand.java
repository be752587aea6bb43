package io.sam4j.cli;

import io.sam4j.report.RunReport;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "report", mixinStandardHelpOptions = true,
        description = {"Regenerate a run folder's report.html, metrics.csv and plots/ (PNG and SVG) from its files.",
                "Works on finished, interrupted and running runs; train does it after every epoch."})
final class ReportCommand implements Callable<Integer> {
    @Parameters(paramLabel = "RUN", arity = "1..*", description = "Run folders.")
    List<Path> runs;

    @Override
    public Integer call() {
        for (Path r : runs) System.out.println("report: " + RunReport.write(r));
        return 0;
    }
}
