package io.sam4j.report;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sam4j.formats.AtomicFile;
import io.sam4j.train.RunListener;
import io.sam4j.train.Trainer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;

/**
 * A run folder made readable: {@code metrics.csv}, {@code plots/*.png|svg} and a self-contained
 * {@code report.html} (command line, final table, plots, sharpness, configuration, environment), all
 * regenerated from the folder's files. {@link #write} works on any run folder, finished or not;
 * {@link #listener} does it after every epoch and at the end of a run.
 */
public final class RunReport {
    public static final String HTML = "report.html";
    public static final String PLOTS = "plots";
    /** The confusion-matrix plot ./sam4j eval leaves in plots/. */
    static final String CONFUSION = "confusion";

    private RunReport() {}

    /** Regenerates metrics.csv, the plots and report.html of a run folder; returns report.html's path. */
    public static Path write(Path runDir) {
        RunFolder run = RunFolder.read(runDir);
        MetricsCsv.write(runDir);
        Html h = new Html("sam4j run " + run.name());
        h.h1("sam4j run " + run.name());
        h.muted(runDir.toAbsolutePath().normalize().toString());
        String cmd = run.environment().path("command").asText("");
        if (!cmd.isEmpty()) h.pre(cmd);
        h.h2("Result");
        h.keyValues(summary(run));
        epochTable(h, run);
        h.h2("Plots");
        h.openPlots();
        Path plots = runDir.resolve(PLOTS);
        for (Figure f : RunPlots.of(run)) {
            h.image(Charts.write(Charts.chart(f), plots, f.name()), f.title(), f.title() + " (" + PLOTS + "/" + f.name() + ".svg)");
        }
        Path confusion = plots.resolve(CONFUSION + ".png");
        if (Files.isRegularFile(confusion)) h.image(read(confusion), "confusion matrix", "Confusion matrix of the last ./sam4j eval");
        h.closePlots();
        sharpness(h, run);
        h.h2("Configuration");
        h.json(run.config());
        h.h2("Environment");
        if (run.environment().isEmpty()) h.muted("not recorded (the run was not started by ./sam4j train)");
        else h.json(run.environment());
        h.h2("Files");
        h.pre(String.join("\n", files(runDir)));
        byte[] bytes = h.finish().getBytes(StandardCharsets.UTF_8);
        Path out = runDir.resolve(HTML);
        AtomicFile.write(out, o -> o.write(bytes));
        return out;
    }

    /**
     * Writes environment.json when the run starts ({@code command}: the command line to show, may be null)
     * and the whole report after every epoch (on a background thread, so training does not wait for the
     * plots; a failure there is one line on stderr) and at the end (on the caller's thread, errors thrown).
     */
    public static RunListener listener(String command) {
        return new RunListener() {
            private final ExecutorService background = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "sam4j-report");
                t.setDaemon(true);
                t.setPriority(Thread.MIN_PRIORITY);
                return t;
            });
            private final AtomicBoolean pending = new AtomicBoolean();

            @Override
            public void started(Start s) {
                Path dir = s.runDir();
                ObjectNode env = Environment.capture(s, command);
                Path old = dir.resolve(Environment.FILE);
                if (s.step() > 0 && Files.isRegularFile(old)) { // resumed: keep the original command, note the resume
                    ObjectNode first = RunFolder.readObject(old);
                    first.set("resumed", env);
                    env = first;
                }
                Environment.write(dir, env);
            }

            @Override
            public void epochEnded(EpochEnd e) {
                if (!pending.compareAndSet(false, true)) return; // the queued refresh will see this epoch too
                background.execute(() -> {
                    pending.set(false);
                    try {
                        write(e.runDir());
                    } catch (RuntimeException ex) {
                        System.err.println("sam4j: report not refreshed after epoch " + e.epoch() + ": " + ex.getMessage());
                    }
                });
            }

            @Override
            public void finished(Trainer.Result r) {
                background.shutdown();
                try {
                    background.awaitTermination(10, TimeUnit.MINUTES);
                } catch (InterruptedException ex) {
                    Thread.currentThread().interrupt();
                }
                write(r.outDir());
            }
        };
    }

    private static Map<String, String> summary(RunFolder run) {
        Map<String, String> kv = new LinkedHashMap<>();
        var c = run.config();
        kv.put("model", c.path("model").asText() + " (" + c.path("parameters").asText("?") + " parameters)");
        kv.put("optimizer", c.path("optimizer_description").asText(c.path("optimizer").asText()));
        kv.put("data", c.path("data").isNull() ? "embedded Fashion-MNIST subset" : c.path("data").asText());
        kv.put("epochs done", Html.num(run.last("epoch")) + " of " + c.path("epochs").asText());
        kv.put("steps", Html.num(run.last("step")));
        kv.put("test accuracy", Html.percent(run.last("test_acc")));
        kv.put("test loss", Html.num(run.last("test_loss")));
        kv.put("train loss (last epoch mean)", Html.num(run.last("train_loss")));
        if (run.epochs().hasValues("val_acc")) kv.put("validation accuracy", Html.percent(run.last("val_acc")));
        double secs = 0;
        for (double s : run.epochs().column("epoch_seconds")) if (Double.isFinite(s)) secs += s;
        kv.put("training time", Html.num(secs) + " s (sum of epochs)");
        return kv;
    }

    /** Every metrics.jsonl row, every numeric column. */
    private static void epochTable(Html h, RunFolder run) {
        RunFolder.Table t = run.epochs();
        if (t.size() == 0) {
            h.muted("no epoch finished yet");
            return;
        }
        List<List<String>> rows = new ArrayList<>();
        for (double[] r : t.rows()) {
            List<String> cells = new ArrayList<>();
            for (double v : r) cells.add(Html.num(v));
            rows.add(cells);
        }
        h.table(t.columns(), rows);
    }

    private static void sharpness(Html h, RunFolder run) {
        Path single = run.dir().resolve("sharpness.json");
        if (run.sharpness().isEmpty() && !Files.isRegularFile(single)) return;
        h.h2("Sharpness");
        for (ObjectNode o : run.sharpness()) {
            h.p("after step " + o.path("step").asText(o.path("steps").asText("?")));
            h.json(o);
        }
        if (Files.isRegularFile(single)) {
            h.p("./sam4j sharpness report (sharpness.json)");
            h.json(RunFolder.readObject(single));
        }
    }

    private static List<String> files(Path dir) {
        try (Stream<Path> s = Files.walk(dir, 2)) {
            return s.filter(Files::isRegularFile).map(p -> dir.relativize(p).toString())
                    .filter(n -> !n.startsWith(".")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir + ": " + e.getMessage(), e);
        }
    }

    static byte[] read(Path f) {
        try {
            return Files.readAllBytes(f);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + f + ": " + e.getMessage(), e);
        }
    }
}
