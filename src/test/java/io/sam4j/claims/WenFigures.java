package io.sam4j.claims;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sam4j.plot.ChartFiles;
import io.sam4j.report.Charts;
import io.sam4j.report.Figure;
import java.awt.Color;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.style.Styler;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.ToDoubleFunction;
import java.util.stream.Stream;

/**
 * The figures and the table of claim 4 (Wen, Ma & Li) from the run folders of {@code bench/claims/claim4-wen}:
 * exact lambda_max, Hessian trace, alignment |cos(g, v1)| and training loss against the optimizer step (not the
 * epoch: a full-batch epoch is one step, a batch-1 epoch is 200), mean +- sample std over seeds, every curve
 * starting at the shared start point. Run by hand after {@code mvn test-compile}:
 *
 * <pre>java -cp target/test-classes:target/sam4j-VERSION-all.jar io.sam4j.claims.WenFigures runs/claims/wen docs/claims/wen</pre>
 *
 * It writes PNG + SVG into the second folder and prints the Markdown table.
 */
public final class WenFigures {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One probe of the Hessian at a step. */
    record Point(long step, double loss, double lambdaMax, double trace, double alignment) {}

    /** Runs that differ only in their seed, shown as one curve. */
    record Group(String label, String prefix, Color color, List<List<Point>> runs) {
        int seeds() {
            return runs.size();
        }

        /** The probes every run of the group has reached (they all probe at the same steps). */
        int points() {
            return runs.stream().mapToInt(List::size).min().orElse(0);
        }

        /** The steps of those probes. */
        double[] steps() {
            return runs.getFirst().stream().limit(points()).mapToDouble(Point::step).toArray();
        }

        /** Mean and sample standard deviation over the runs of {@code f} at every probe: {mean[], std[]}. */
        double[][] meanStd(ToDoubleFunction<Point> f) {
            int n = points();
            double[] mean = new double[n], std = new double[n];
            for (int i = 0; i < n; i++) {
                int at = i;
                double[] v = runs.stream().mapToDouble(r -> f.applyAsDouble(r.get(at))).toArray();
                mean[i] = Stats.mean(v);
                std[i] = Stats.std(v);
            }
            return new double[][] {mean, std};
        }
    }

    /** Mean and sample standard deviation (n - 1; 0 for one value). */
    static final class Stats {
        static double mean(double[] v) {
            double s = 0;
            for (double x : v) s += x;
            return s / v.length;
        }

        static double std(double[] v) {
            if (v.length < 2) return 0;
            double m = mean(v), s = 0;
            for (double x : v) s += (x - m) * (x - m);
            return Math.sqrt(s / (v.length - 1));
        }
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: WenFigures CLAIM_DIR OUT_DIR   (CLAIM_DIR: runs/claims/wen of bench/claims/claim4-wen)");
            System.exit(2);
        }
        Path dir = Path.of(args[0]), outDir = Path.of(args[1]);
        Point start = startPoint(dir.resolve("start-sharpness.json"));
        List<Group> groups = new ArrayList<>();
        for (Group g : List.of(
                new Group("GD, full batch", "gd-full", new Color(0x7f7f7f), new ArrayList<>()),
                new Group("SAM, full batch", "sam-full", new Color(0x1f77b4), new ArrayList<>()),
                new Group("SAM, batch 1", "sam-b1-seed", new Color(0xd62728), new ArrayList<>()),
                new Group("SGD, batch 1", "sgd-b1-seed", new Color(0xff7f0e), new ArrayList<>()))) {
            for (Path run : runsOf(dir, g.prefix())) g.runs().add(curve(run, start));
            if (!g.runs().isEmpty()) groups.add(g);
        }
        write(figure("wen-lambda-max", "Top Hessian eigenvalue (exact, Lanczos)", "lambda_max", groups, Point::lambdaMax), outDir);
        write(figure("wen-trace", "Hessian trace (Hutchinson, 30 samples)", "trace", groups, Point::trace), outDir);
        write(figure("wen-alignment", "Alignment of the gradient with the top eigenvector", "|cos(g, v1)|", groups, Point::alignment), outDir);
        write(figure("wen-loss", "Training loss on the 200 examples (floor 0.5003)", "loss", groups, Point::loss), outDir);
        write(relative(groups, start), outDir);
        System.out.print(table(groups, start));
    }

    /**
     * The run folders of a group with at least one probe, in name order (seed0, seed1, ...). An unfinished run
     * counts up to its last probe; a group's curve ends where its shortest run does, and the table says at which step.
     */
    static List<Path> runsOf(Path dir, String prefix) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> Files.isRegularFile(p.resolve("sharpness.jsonl"))
                            && (p.getFileName().toString().equals(prefix) || p.getFileName().toString().matches(prefix + "\\d+")))
                    .sorted().toList();
        }
    }

    static Point startPoint(Path json) throws IOException {
        JsonNode n = JSON.readTree(json.toFile());
        return new Point(0, n.get("loss").asDouble(), n.get("lambda_max").asDouble(), n.get("trace").asDouble(), n.get("alignment").asDouble());
    }

    /**
     * The start point, then every probe of a run: the step from the metrics.jsonl lines that carry lambda_max,
     * the values from sharpness.jsonl (one line per probe, in the same order; it also has the full-subset loss).
     */
    static List<Point> curve(Path run, Point start) throws IOException {
        List<Long> steps = new ArrayList<>();
        for (String l : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            JsonNode m = JSON.readTree(l);
            if (m.has("lambda_max")) steps.add(m.get("step").asLong());
        }
        List<String> probes = Files.readAllLines(run.resolve("sharpness.jsonl"));
        if (probes.size() != steps.size()) {
            throw new IllegalStateException(run + ": " + probes.size() + " lines in sharpness.jsonl, " + steps.size() + " probes in metrics.jsonl");
        }
        List<Point> c = new ArrayList<>(List.of(start));
        for (int i = 0; i < probes.size(); i++) {
            JsonNode n = JSON.readTree(probes.get(i));
            c.add(new Point(steps.get(i), n.get("loss").asDouble(), n.get("lambda_max").asDouble(), n.get("trace").asDouble(),
                    n.get("alignment").asDouble()));
        }
        return c;
    }

    /** Mean curve per group with a +- std band where there are seeds. */
    static Figure figure(String name, String title, String yLabel, List<Group> groups, ToDoubleFunction<Point> f) {
        List<Figure.Line> lines = new ArrayList<>();
        for (Group g : groups) {
            double[][] ms = g.meanStd(f);
            double[] x = g.steps();
            String label = g.label() + (g.seeds() > 1 ? " (" + g.seeds() + " seeds)" : "");
            if (g.seeds() > 1) lines.add(new Figure.Line(label + " band", x, ms[0], ms[1], Figure.Style.BAND, g.color()));
            lines.add(new Figure.Line(label, x, ms[0], null, Figure.Style.EPOCHS, g.color()));
        }
        return new Figure(name, title, "optimizer step (lr 0.02)", yLabel, lines, false);
    }

    /** lambda_max and the trace of the two SAM runs relative to the start: which one each drives down. */
    static Figure relative(List<Group> groups, Point start) {
        List<Figure.Line> lines = new ArrayList<>();
        for (Group g : groups) {
            if (!g.label().startsWith("SAM")) continue;
            double[] x = g.steps();
            double[] lam = g.meanStd(p -> p.lambdaMax() / start.lambdaMax())[0];
            double[] tr = g.meanStd(p -> p.trace() / start.trace())[0];
            lines.add(new Figure.Line(g.label() + ": lambda_max", x, lam, null, Figure.Style.EPOCHS, g.color()));
            lines.add(new Figure.Line(g.label() + ": trace", x, tr, null, Figure.Style.LINE, g.color().darker()));
        }
        return new Figure("wen-relative", "SAM: lambda_max and trace relative to the start", "optimizer step (lr 0.02)",
                "value / value at step 0", lines, false);
    }

    private static void write(Figure f, Path outDir) {
        XYChart c = Charts.chart(f);
        c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS); // below the plot: the curves fill it
        ChartFiles.write(c, outDir, f.name());
    }

    /**
     * The Markdown table: per group, the value at the end and the mean over the last half of the probes (batch-1
     * curves are noisy), each as mean +- std over the seeds, with the change of the latter against the start.
     */
    static String table(List<Group> groups, Point start) {
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "start (all runs): loss %.4f, lambda_max %.3f, trace %.2f, alignment %.3f%n%n",
                start.loss(), start.lambdaMax(), start.trace(), start.alignment()));
        b.append("| run | seeds | steps | lambda_max at the end | lambda_max, last half | change | trace at the end | trace, last half "
                + "| change | alignment, whole run | training loss at the end |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (Group g : groups) {
            double[][] lamHalf = lastHalf(g, Point::lambdaMax), trHalf = lastHalf(g, Point::trace);
            b.append(String.format(Locale.ROOT, "| %s | %d | %d | %s | %s | %+.0f %% | %s | %s | %+.0f %% | %s | %s |%n", g.label(), g.seeds(),
                    (long) g.steps()[g.points() - 1],
                    end(g, Point::lambdaMax, "%.3f"), pm(lamHalf, "%.3f"), 100 * (lamHalf[0][0] / start.lambdaMax() - 1),
                    end(g, Point::trace, "%.2f"), pm(trHalf, "%.2f"), 100 * (trHalf[0][0] / start.trace() - 1),
                    pm(perRunMean(g, Point::alignment, 1), "%.3f"), end(g, Point::loss, "%.4f")));
        }
        return b.toString();
    }

    /** The last probe, mean +- std over the seeds. */
    private static String end(Group g, ToDoubleFunction<Point> f, String fmt) {
        double[][] ms = g.meanStd(f);
        int last = ms[0].length - 1;
        return pm(new double[][] {{ms[0][last]}, {ms[1][last]}}, fmt);
    }

    /** Each run's mean over the second half of the group's probes, then mean +- std over the runs. */
    private static double[][] lastHalf(Group g, ToDoubleFunction<Point> f) {
        int n = g.points() - 1; // probes after the start
        return perRunMean(g, f, 1 + n - n / 2);
    }

    /** Each run's mean of {@code f} over the group's points from index {@code from}, then {{mean}, {std}} over the runs. */
    private static double[][] perRunMean(Group g, ToDoubleFunction<Point> f, int from) {
        double[] v = g.runs().stream().mapToDouble(r -> r.subList(from, g.points()).stream().mapToDouble(f).average().orElse(Double.NaN))
                .toArray();
        return new double[][] {{Stats.mean(v)}, {Stats.std(v)}};
    }

    /** "m +- s" of {{m}, {s}} (just "m" for one run). */
    private static String pm(double[][] ms, String fmt) {
        String m = String.format(Locale.ROOT, fmt, ms[0][0]);
        return ms[1][0] == 0 ? m : m + " +- " + String.format(Locale.ROOT, fmt, ms[1][0]);
    }
}
