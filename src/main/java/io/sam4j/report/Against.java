package io.sam4j.report;

import com.fasterxml.jackson.databind.JsonNode;
import java.awt.Color;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.ToDoubleFunction;

/**
 * The final numbers of runs against one numeric config.json field (label noise, lr, rho, ...): one line per
 * group of runs that agree on everything but that field and the seed, one point per value of the field, the
 * mean +- sample std over the runs there. A run that diverged or stopped early is not in a mean; it is drawn
 * as a cross at the edge of the plot (the bottom for accuracies, the top for the loss) and named in the tables.
 */
final class Against {
    static final String NOTE = "Each point: mean ± sample std over the runs with that value (n in the tables). Crosses at the "
            + "bottom (accuracy) or top (loss) edge: runs that diverged or stopped early, left out of the means.";

    static final String TABLE_NOTE = "Each cell: mean ± sample std over the runs with that value; n counts the runs in the mean. "
            + "Runs that diverged or stopped early are named in the cell and left out of the mean.";

    /** The runs of one line at one value of the field. */
    record Point(double x, List<RunSummary> runs) {
        List<RunSummary> complete() {
            return runs.stream().filter(RunSummary::complete).toList();
        }

        boolean anyFailed() {
            return runs.stream().anyMatch(r -> !r.complete());
        }
    }

    /** One line: a group of runs that differ only in the field and the seed. */
    record Series(String label, List<Point> points) {}

    /** One outcome drawn and tabulated: a run's number, its name, axis, and whether lower is better (losses). */
    private record Outcome(String file, String title, String yLabel, ToDoubleFunction<RunSummary> value, String format, boolean loss) {}

    private static final List<Outcome> OUTCOMES = List.of(
            new Outcome("test_acc", "Final test accuracy", "%", s -> 100 * s.finalTestAcc(), Comparison.ACC, false),
            new Outcome("peak_test_acc", "Peak test accuracy", "%", s -> 100 * s.peakTestAcc(), Comparison.ACC, false),
            new Outcome("train_loss", "Final train loss", "cross-entropy", RunSummary::finalTrainLoss, Comparison.LOSS, true));

    private final String field;
    private final List<Double> values;
    private final List<Series> series;

    private Against(String field, List<Double> values, List<Series> series) {
        this.field = field;
        this.values = values;
        this.series = series;
    }

    /**
     * Lines and points of {@code runs} against {@code field} (a config.json name); every run must have it as a
     * number (an error names the first that does not). Lines are named as {@link Comparison#group} names groups;
     * runs are grouped by everything but {@code notExperiment} (the seed-like fields, --ignore) and the field itself.
     */
    static Against of(List<RunFolder> runs, Map<RunFolder, RunSummary> summaries, String field, List<String> labelFields,
                      Set<String> notExperiment) {
        for (RunFolder r : runs) {
            JsonNode v = r.config().get(field);
            if (v == null) throw new IllegalArgumentException("--against " + field + ": " + r.dir().resolve("config.json") + " has no such field");
            if (!v.isNumber()) {
                throw new IllegalArgumentException("--against " + field + ": not a number in " + r.dir().resolve("config.json") + ": " + v);
            }
        }
        Set<String> ignored = new HashSet<>(notExperiment);
        ignored.add(field);
        Set<Double> values = new TreeSet<>();
        List<Series> series = new ArrayList<>();
        for (Comparison.Group g : Comparison.group(runs, ignored, labelFields)) {
            Map<Double, List<RunSummary>> byValue = new TreeMap<>();
            for (RunFolder r : g.runs()) byValue.computeIfAbsent(x(r, field), k -> new ArrayList<>()).add(summaries.get(r));
            values.addAll(byValue.keySet());
            series.add(new Series(g.label(), byValue.entrySet().stream().map(e -> new Point(e.getKey(), List.copyOf(e.getValue()))).toList()));
        }
        return new Against(field, List.copyOf(values), List.copyOf(series));
    }

    private static double x(RunFolder r, String field) {
        return r.config().get(field).asDouble();
    }

    String field() {
        return field;
    }

    List<Series> series() {
        return series;
    }

    String fileName() {
        return "against_" + field.replaceAll("[^A-Za-z0-9_.-]", "_") + ".md";
    }

    /** A log x axis when every value is positive and they span a decade or more. */
    boolean logX() {
        return values.getFirst() > 0 && values.getLast() / values.getFirst() >= 10;
    }

    /** Final test accuracy, peak test accuracy and final train loss (log y) against the field. */
    List<Figure> figures(String title) {
        return OUTCOMES.stream().map(o -> figure(o, title)).toList();
    }

    private Figure figure(Outcome o, String title) {
        List<Figure.Line> lines = Figure.newLines();
        double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < series.size(); i++) {
            List<Point> pts = series.get(i).points();
            double[] x = new double[pts.size()], m = new double[pts.size()], s = new double[pts.size()];
            for (int p = 0; p < pts.size(); p++) {
                MeanStd ms = Comparison.of(pts.get(p).complete(), o.value());
                x[p] = pts.get(p).x();
                m[p] = ms.mean();
                s[p] = ms.std();
                if (ms.n() > 0) {
                    lo = Math.min(lo, ms.mean() - ms.std());
                    hi = Math.max(hi, ms.mean() + ms.std());
                }
            }
            lines.add(new Figure.Line(series.get(i).label(), x, m, s, Figure.Style.ERROR_BARS, colour(i)));
        }
        lines.addAll(failureMarks(edge(lo, hi, o.loss())));
        return new Figure("against_" + field.replaceAll("[^A-Za-z0-9_.-]", "_") + "_" + o.file(),
                Comparison.titled(title, o.title() + " against " + field), field, o.yLabel(), lines, o.loss(), logX());
    }

    /** Below the lowest drawn value for accuracies, above the highest for losses (on their log axis). */
    private static double edge(double lo, double hi, boolean loss) {
        if (lo > hi) return loss ? 1 : 0; // nothing finite drawn
        if (loss) return hi * 2;
        return hi > lo ? lo - 0.08 * (hi - lo) : lo - 1;
    }

    /**
     * Crosses at {@code y} where some run failed: one black series for the legend entry, drawn first, then each
     * line's crosses in its colour on top.
     */
    private List<Figure.Line> failureMarks(double y) {
        List<Figure.Line> marks = new ArrayList<>();
        List<Double> all = new ArrayList<>();
        for (int i = 0; i < series.size(); i++) {
            double[] x = series.get(i).points().stream().filter(Point::anyFailed).mapToDouble(Point::x).toArray();
            if (x.length == 0) continue;
            for (double v : x) all.add(v);
            double[] ys = new double[x.length];
            java.util.Arrays.fill(ys, y);
            marks.add(new Figure.Line(null, x, ys, null, Figure.Style.CROSSES, colour(i)));
        }
        if (all.isEmpty()) return marks;
        double[] ys = new double[all.size()];
        java.util.Arrays.fill(ys, y);
        marks.addFirst(new Figure.Line("diverged or stopped early (not in the means)", all.stream().mapToDouble(Double::doubleValue).toArray(),
                ys, null, Figure.Style.CROSSES, Color.BLACK));
        return marks;
    }

    private static Color colour(int i) {
        return Charts.PALETTE[i % Charts.PALETTE.length];
    }

    /** One table per outcome: a row per line, a column per value of the field. */
    record Table(String title, List<String> header, List<List<String>> rows) {}

    List<Table> tables() {
        List<Table> tables = new ArrayList<>();
        for (Outcome o : OUTCOMES) {
            List<String> header = new ArrayList<>(List.of("group"));
            for (double v : values) header.add(field + "=" + plain(v));
            List<List<String>> rows = new ArrayList<>();
            for (Series s : series) {
                List<String> row = new ArrayList<>(List.of(s.label()));
                for (double v : values) row.add(s.points().stream().filter(p -> p.x() == v).findFirst().map(p -> cell(p, o)).orElse(""));
                rows.add(row);
            }
            tables.add(new Table(o.title() + (o.loss() ? "" : " (%)") + " against " + field, header, rows));
        }
        return tables;
    }

    /** "89.12 ± 0.20 (n=3)", with the runs left out named: "(n=2; seed 2 diverged at epoch 3 (step 1234))". */
    private static String cell(Point p, Outcome o) {
        List<RunSummary> done = p.complete();
        String failed = Comparison.failures(p.runs());
        return Comparison.of(done, o.value()).format(o.format()) + " (n=" + done.size() + (failed.isEmpty() ? "" : "; " + failed) + ")";
    }

    /** against_FIELD.md: the three tables under headings, and how to read them. */
    String markdown(String title) {
        StringBuilder b = new StringBuilder("# " + Comparison.titled(title, "final numbers against " + field) + "\n\n");
        for (Table t : tables()) b.append("## ").append(t.title()).append("\n\n").append(Markdown.table(t.header(), t.rows())).append('\n');
        return b.append(TABLE_NOTE).append('\n').toString();
    }

    /** A field value as written: 0.05, 10, 1E-4 rather than 0.05000 or 1.000e-04. */
    static String plain(double v) {
        BigDecimal d = new BigDecimal(Double.toString(v)).stripTrailingZeros();
        return d.scale() < 0 || d.abs().compareTo(BigDecimal.valueOf(1e-4)) >= 0 || d.signum() == 0 ? d.toPlainString() : d.toString();
    }
}
