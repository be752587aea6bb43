package io.sam4j.report;

import io.sam4j.plot.ChartFiles;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sam4j.formats.AtomicFile;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Several runs in one report: curves on shared axes (per epoch), a summary table (also as Markdown, for
 * documentation) and, optionally, the final numbers against one numeric setting ({@link Against}). Runs whose
 * configurations differ only by the seed (and by where they write, and their thread count) form a group, drawn
 * as the mean over its runs with a band of +- one sample standard deviation.
 */
public final class Comparison {
    public static final String HTML = "compare.html", SUMMARY = "summary.md";
    /** Settings that do not make a different experiment. */
    static final Set<String> NOT_EXPERIMENT = Set.of("seed", "out", "save", "threads");
    /** config.json fields computed from the settings. */
    static final Set<String> DERIVED = Set.of("optimizer_description", "parameters", "normalization", "input_shape", "classes");
    /** Accuracy in percent with 2 decimals; losses with 4 significant digits; everywhere in the tables. */
    static final String ACC = "%.2f", LOSS = "%.4g";

    /** Runs of one experiment, named by the settings that tell the groups apart (or by the chosen ones). */
    public record Group(String label, List<RunFolder> runs) {}

    /**
     * What to draw and how to name it.
     *
     * @param title   heading of the page and prefix of every figure's title (null: "Comparison of N runs")
     * @param labels  config.json fields that name the groups (empty: the fields in which the groups differ)
     * @param metrics metrics.jsonl columns to draw per epoch (empty: every known one that some run logged)
     * @param against a numeric config.json field to draw the final numbers against (null: none)
     * @param ignore  config.json fields that do not make a different experiment, besides {@link #NOT_EXPERIMENT}
     */
    public record Options(String title, List<String> labels, List<String> metrics, String against, List<String> ignore) {
        public static final Options DEFAULTS = new Options(null, List.of(), List.of(), null, List.of());

        public Options {
            labels = List.copyOf(labels);
            metrics = List.copyOf(metrics);
            ignore = List.copyOf(ignore);
        }
    }

    private Comparison() {}

    /** {@link #write(List, Path, Options)} with the default options. */
    public static Path write(List<Path> runDirs, Path outDir) {
        return write(runDirs, outDir, Options.DEFAULTS);
    }

    /**
     * Writes {@code outDir/compare.html}, {@code outDir/summary.md}, {@code outDir/plots/compare_*.png|svg} and, with
     * {@code against}, {@code outDir/against_FIELD.md} and {@code outDir/plots/against_FIELD_*.png|svg}; returns the
     * HTML's path. Every input (the run folders, the fields, the metrics) is checked before anything is written.
     */
    public static Path write(List<Path> runDirs, Path outDir, Options o) {
        if (runDirs.isEmpty()) throw new IllegalArgumentException("compare: no runs given");
        List<RunFolder> runs = runDirs.stream().map(RunFolder::read).toList();
        Map<RunFolder, RunSummary> summaries = new IdentityHashMap<>();
        for (RunFolder r : runs) summaries.put(r, RunSummary.of(r));
        List<String> labelFields = new ArrayList<>();
        for (String f : o.labels()) labelFields.add(resolveField("--labels", f, runs));
        String field = o.against() == null ? null : resolveField("--against", o.against(), runs);
        // The lines against FIELD are named by the labels; the groups of the summary differ in FIELD too.
        List<String> groupLabels = new ArrayList<>(labelFields);
        if (field != null && !labelFields.isEmpty() && !labelFields.contains(field)) groupLabels.add(field);
        // --ignore: settings that do not make a different experiment here (e.g. one that only newer runs record).
        Set<String> ignored = new HashSet<>(NOT_EXPERIMENT);
        for (String f : o.ignore()) ignored.add(resolveField("--ignore", f, runs));
        List<Group> groups = group(runs, ignored, groupLabels);
        List<Curve> curves = Curve.choose(o.metrics(), runs);
        Against against = field == null ? null : Against.of(runs, summaries, field, labelFields, ignored);

        String title = o.title() != null ? o.title() : "Comparison of " + runs.size() + " runs";
        Html h = new Html(title);
        h.h1(title);
        h.muted(runs.size() + " runs in " + groups.size() + " group" + (groups.size() == 1 ? "" : "s") + ". A group is the runs "
                + "whose config.json differ only in " + String.join(", ", new TreeSet<>(NOT_EXPERIMENT)) + "; its curve is the "
                + "mean over its runs, the band +- one sample standard deviation.");
        h.h2("Summary");
        SummaryTable summary = summaryTable(groups, summaries);
        h.table(summary.header(), summary.rows());
        h.muted(SUMMARY_NOTE);
        h.h2("Runs");
        h.table(List.of("run", "group", "seed", "test accuracy", "peak test accuracy", "test loss", "train loss", "epochs", "ended", "folder"),
                runRows(groups, summaries));
        Path plots = outDir.resolve(RunReport.PLOTS);
        createFolder(outDir);
        h.h2("Curves");
        h.openPlots();
        for (Figure f : figures(groups, curves, o.title())) drawInto(h, f, plots);
        h.closePlots();
        if (against != null) {
            h.h2("Against " + against.field());
            h.muted(Against.NOTE);
            h.openPlots();
            for (Figure f : against.figures(o.title())) drawInto(h, f, plots);
            h.closePlots();
            for (Against.Table t : against.tables()) {
                h.p(t.title());
                h.table(t.header(), t.rows());
            }
            writeText(outDir.resolve(against.fileName()), against.markdown(o.title()));
        }
        writeText(outDir.resolve(SUMMARY), "# " + title + "\n\n" + Markdown.table(summary.header(), summary.rows()) + "\n" + SUMMARY_NOTE + "\n");
        Path out = outDir.resolve(HTML);
        writeText(out, h.finish());
        return out;
    }

    static final String SUMMARY_NOTE = "Mean ± sample standard deviation over the runs of a group that ended as planned "
            + "(a run that diverged or stopped early is named in the note and left out of the means). Peak test accuracy: "
            + "each run's best epoch, then mean ± std; epoch of peak: the mean of those epochs. Gradient evaluations per step: "
            + "the optimizer's own count (metrics.jsonl grad_evals: 1 per one-pass step, 2 per SAM step, ESAM's selection "
            + "forward as 1/3 and its second pass as the selected share of the batch); for runs that did not log it, 1 + "
            + "the fraction of steps that took SAM's second pass (sam_fraction).";

    private static void drawInto(Html h, Figure f, Path plots) {
        h.image(ChartFiles.write(Charts.chart(f), plots, f.name()), f.title(), f.title() + " (" + RunReport.PLOTS + "/" + f.name() + ".svg)");
    }

    private static void createFolder(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new IllegalArgumentException("--out " + dir + ": cannot create it: " + e.getMessage());
        }
    }

    private static void writeText(Path file, String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        AtomicFile.write(file, o -> o.write(bytes));
    }

    /** A figure title, after the comparison's own title when there is one. */
    static String titled(String title, String what) {
        return title == null ? what : title + ": " + what;
    }

    /** Groups by configuration without the seed, in the order runs were given; labels name what differs. */
    public static List<Group> group(List<RunFolder> runs) {
        return group(runs, NOT_EXPERIMENT, List.of());
    }

    /**
     * Groups runs whose config.json agree on everything but {@code ignored}, in the order runs were given. Each group
     * is named by {@code labelFields} ("field=value ...") or, when that is empty, by the fields in which the groups
     * differ. Two groups with one name are an error: a legend and a table could not tell them apart.
     */
    static List<Group> group(List<RunFolder> runs, Set<String> ignored, List<String> labelFields) {
        Map<String, List<RunFolder>> byKey = new LinkedHashMap<>();
        for (RunFolder r : runs) byKey.computeIfAbsent(experiment(r.config(), ignored).toString(), k -> new ArrayList<>()).add(r);
        List<ObjectNode> keys = byKey.values().stream().map(l -> experiment(l.get(0).config(), ignored)).toList();
        List<String> naming = labelFields.isEmpty() ? differing(keys) : labelFields;
        List<Group> groups = new ArrayList<>();
        Map<String, ObjectNode> seen = new LinkedHashMap<>();
        int i = 0;
        for (List<RunFolder> l : byKey.values()) {
            ObjectNode k = keys.get(i++);
            List<String> parts = new ArrayList<>();
            for (String f : naming) parts.add(f + "=" + text(l.get(0).config().get(f)));
            String label = parts.isEmpty() ? k.path("model").asText() + " " + k.path("optimizer_description").asText() : String.join(" ", parts);
            if (seen.containsKey(label)) {
                List<String> apart = differing(List.of(seen.get(label), k));
                throw new IllegalArgumentException((labelFields.isEmpty() ? "compare" : "--labels " + String.join(",", labelFields))
                        + ": two groups get the label '" + label + "'; name them with --labels and a field that tells them apart, or --ignore the fields that do not matter ("
                        + String.join(", ", apart) + ")");
            }
            seen.put(label, k);
            groups.add(new Group(label, List.copyOf(l)));
        }
        return groups;
    }

    /** The fields whose values are not the same in every key (also those only some keys have); derived ones when nothing else differs. */
    private static List<String> differing(List<ObjectNode> keys) {
        Set<String> all = new LinkedHashSet<>();
        for (ObjectNode k : keys) k.fieldNames().forEachRemaining(all::add);
        List<String> differing = new ArrayList<>();
        for (String f : all) {
            if (keys.stream().anyMatch(k -> !k.path(f).equals(keys.get(0).path(f)))) differing.add(f);
        }
        // Derived fields repeat what the settings already say; name them only when nothing else differs.
        if (differing.stream().anyMatch(f -> !DERIVED.contains(f))) differing.removeAll(DERIVED);
        return differing;
    }

    private static ObjectNode experiment(ObjectNode config, Set<String> ignored) {
        ObjectNode k = config.deepCopy();
        k.remove(ignored);
        return k;
    }

    /**
     * The config.json field a user means by {@code name}: itself, or the one that matches it ignoring case, '_'
     * and '-' (so {@code label_noise} and {@code label-noise} find {@code labelNoise}). None is an error naming
     * {@code flag} and the fields in which the runs differ.
     */
    static String resolveField(String flag, String name, List<RunFolder> runs) {
        Set<String> fields = new LinkedHashSet<>();
        for (RunFolder r : runs) r.config().fieldNames().forEachRemaining(fields::add);
        if (fields.contains(name)) return name;
        for (String f : fields) if (canonical(f).equals(canonical(name))) return f;
        List<String> differ = differing(runs.stream().map(r -> experiment(r.config(), Set.of("out"))).toList());
        throw new IllegalArgumentException(flag + " " + name + ": no run's config.json has that field"
                + (differ.isEmpty() ? "" : " (the runs differ in: " + String.join(", ", differ) + ")"));
    }

    private static String canonical(String field) {
        return field.replace("_", "").replace("-", "").toLowerCase(Locale.ROOT);
    }

    static String text(JsonNode n) {
        return n == null || n.isNull() ? "-" : n.isValueNode() ? n.asText() : n.toString();
    }

    /** The group summary: one header and one row per group, shared by the HTML and summary.md. */
    record SummaryTable(List<String> header, List<List<String>> rows) {}

    static SummaryTable summaryTable(List<Group> groups, Map<RunFolder, RunSummary> summaries) {
        List<String> header = new ArrayList<>(List.of("group", "runs", "seeds", "final test acc (%)", "peak test acc (%)", "epoch of peak",
                "final test loss", "final train loss", "epochs", "SAM-step fraction", "gradient evaluations per step", "seconds per run"));
        List<List<String>> rows = new ArrayList<>();
        boolean notes = false;
        for (Group g : groups) {
            List<RunSummary> all = g.runs().stream().map(summaries::get).toList();
            List<RunSummary> done = all.stream().filter(RunSummary::complete).toList();
            List<String> row = new ArrayList<>(List.of(g.label(), String.valueOf(all.size()), String.join(", ", all.stream().map(RunSummary::seed).toList()),
                    of(done, s -> 100 * s.finalTestAcc()).format(ACC), of(done, s -> 100 * s.peakTestAcc()).format(ACC),
                    mean(done, RunSummary::peakEpoch, "%.1f"), of(done, RunSummary::finalTestLoss).format(LOSS),
                    of(done, RunSummary::finalTrainLoss).format(LOSS), mean(done, RunSummary::epochs, "%.0f"),
                    mean(done, RunSummary::samFraction, "%.3f"), mean(done, RunSummary::gradientEvaluationsPerStep, "%.2f"),
                    mean(done, RunSummary::seconds, "%.1f")));
            String note = failures(all);
            notes |= !note.isEmpty();
            row.add(note);
            rows.add(row);
        }
        if (notes) {
            header.add("note");
        } else {
            for (List<String> r : rows) r.removeLast();
        }
        return new SummaryTable(header, rows);
    }

    /**
     * "seed 2 diverged at epoch 3 (step 1234); seeds 0, 4 stopped after epoch 7 of 40" (runs that failed alike
     * share one phrase), or "" when every run ended as planned.
     */
    static String failures(List<RunSummary> runs) {
        Map<String, List<String>> seedsByFailure = new LinkedHashMap<>();
        for (RunSummary s : runs) if (!s.complete()) seedsByFailure.computeIfAbsent(s.failure(), k -> new ArrayList<>()).add(s.seed());
        List<String> parts = new ArrayList<>();
        seedsByFailure.forEach((failure, seeds) -> parts.add((seeds.size() == 1 ? "seed " : "seeds ") + String.join(", ", seeds) + " " + failure));
        return String.join("; ", parts);
    }

    static MeanStd of(List<RunSummary> runs, java.util.function.ToDoubleFunction<RunSummary> f) {
        return MeanStd.of(runs.stream().mapToDouble(f).toArray());
    }

    /** The mean alone (no spread), for columns that describe cost or protocol rather than an outcome. */
    private static String mean(List<RunSummary> runs, java.util.function.ToDoubleFunction<RunSummary> f, String format) {
        MeanStd m = of(runs, f);
        return m.n() == 0 ? "—" : String.format(Locale.ROOT, format, m.mean());
    }

    private static List<List<String>> runRows(List<Group> groups, Map<RunFolder, RunSummary> summaries) {
        List<List<String>> rows = new ArrayList<>();
        for (Group g : groups) {
            for (RunFolder r : g.runs()) {
                RunSummary s = summaries.get(r);
                rows.add(List.of(r.name(), g.label(), s.seed(), Html.percent(s.finalTestAcc()), Html.percent(s.peakTestAcc()),
                        Html.num(s.finalTestLoss()), Html.num(s.finalTrainLoss()), Html.num(s.epochs()),
                        s.complete() ? "as planned" : s.failure(), r.dir().toString()));
            }
        }
        return rows;
    }

    /**
     * A per-epoch metric that a comparison can draw: a metrics.jsonl column, the name {@code --metrics} knows it by,
     * its file name, title and axis.
     */
    record Curve(String name, String column, String file, String title, String yLabel, double scale, Boolean logY) {
        static final List<Curve> KNOWN = List.of(
                new Curve("test_acc", "test_acc", "compare_test_acc", "Test accuracy", "%", 100, false),
                new Curve("test_loss", "test_loss", "compare_test_loss", "Test loss", "cross-entropy", 1, null),
                new Curve("train_loss", "train_loss", "compare_train_loss", "Train loss (epoch mean)", "cross-entropy", 1, null),
                new Curve("val_acc", "val_acc", "compare_val_acc", "Validation accuracy", "%", 100, false),
                new Curve("val_loss", "val_loss", "compare_val_loss", "Validation loss", "cross-entropy", 1, null),
                new Curve("sam_gap", "sam_gap", "compare_sam_gap", "SAM gap L(w+e) - L(w) (epoch mean)", "loss difference", 1, null),
                new Curve("grad_scale", "grad_scale", "compare_grad_scale", "Factor on the final gradient (StableSAM ||g||/||g_adv||, GSAM, clipping)",
                        "factor (mean over SAM steps)", 1, null),
                new Curve("sam_fraction", "sam_fraction", "compare_sam_fraction", "Fraction of steps with SAM's second pass", "fraction", 1, false),
                new Curve("ascent_sharpness", "ascent_sharpness", "compare_ascent_sharpness", "Ascent sharpness L(w + rho g/||g||) - L(w)",
                        "loss difference", 1, null),
                new Curve("lambda_max", "lambda_max", "compare_lambda_max", "lambda_max (top Hessian eigenvalue)", "lambda_max", 1, null),
                new Curve("trace", "hessian_trace", "compare_hessian_trace", "Hessian trace (Hutchinson)", "trace", 1, null),
                new Curve("alignment", "alignment", "compare_alignment", "Gradient / top-eigenvector alignment |cos(g, v1)|", "|cos|", 1, false));

        /**
         * The curves {@code requested} names (a known name, or any column some run's metrics.jsonl has), in that order;
         * all known ones that some run logged when none is requested. A name no run logged is an error.
         */
        static List<Curve> choose(List<String> requested, List<RunFolder> runs) {
            if (requested.isEmpty()) return KNOWN.stream().filter(c -> logged(c.column(), runs)).toList();
            List<Curve> out = new ArrayList<>();
            Set<String> seen = new HashSet<>();
            for (String name : requested) {
                Curve c = KNOWN.stream().filter(k -> k.name().equals(name) || k.column().equals(name)).findFirst()
                        .orElseGet(() -> new Curve(name, name, "compare_" + name.replaceAll("[^A-Za-z0-9_.-]", "_"), name + " (epoch)", name, 1, null));
                if (!logged(c.column(), runs)) {
                    Set<String> columns = new TreeSet<>();
                    for (RunFolder r : runs) for (String col : r.epochs().columns()) if (r.epochs().hasValues(col)) columns.add(col);
                    throw new IllegalArgumentException("--metrics " + name + ": no run logged it in metrics.jsonl (logged: "
                            + String.join(", ", columns) + ")");
                }
                if (seen.add(c.column())) out.add(c);
            }
            return out;
        }

        private static boolean logged(String column, List<RunFolder> runs) {
            return runs.stream().anyMatch(r -> r.epochs().hasValues(column));
        }
    }

    /** One figure per curve, each group's mean against the epoch with its +- std band. */
    static List<Figure> figures(List<Group> groups, List<Curve> curves, String title) {
        return curves.stream().map(c -> overlay(groups, c, title)).filter(f -> !f.isEmpty()).toList();
    }

    private static Figure overlay(List<Group> groups, Curve c, String title) {
        List<Figure.Line> lines = Figure.newLines();
        for (int gi = 0; gi < groups.size(); gi++) {
            Group g = groups.get(gi);
            int epochs = g.runs().stream().mapToInt(r -> r.epochs().size()).max().orElse(0);
            double[] x = new double[epochs], m = new double[epochs], s = new double[epochs];
            for (int e = 0; e < epochs; e++) {
                double[] at = new double[g.runs().size()];
                for (int r = 0; r < at.length; r++) {
                    double[] col = g.runs().get(r).epochs().column(c.column()), ep = g.runs().get(r).epochs().column("epoch");
                    at[r] = e < col.length ? c.scale() * col[e] : Double.NaN;
                    if (e < ep.length) x[e] = ep[e];
                }
                MeanStd ms = MeanStd.of(at);
                m[e] = ms.mean();
                s[e] = ms.std();
            }
            var colour = Charts.PALETTE[gi % Charts.PALETTE.length];
            String label = g.label() + (g.runs().size() > 1 ? " (" + g.runs().size() + " seeds)" : "");
            if (g.runs().size() > 1) lines.add(new Figure.Line(label + " band", x, m, s, Figure.Style.BAND, colour));
            lines.add(new Figure.Line(label, x, m, null, Figure.Style.EPOCHS, colour));
        }
        Figure f = new Figure(c.file(), titled(title, c.title()), "epoch", c.yLabel(), lines, c.logY());
        List<Figure.Line> drawn = f.lines().stream().filter(l -> l.style() != Figure.Style.BAND).toList();
        if (groups.size() > 1 && drawn.size() == 1) { // a single line has no legend: say whose it is
            f = new Figure(f.name(), f.title() + ", " + drawn.getFirst().label() + " only", f.xLabel(), f.yLabel(), f.lines(), f.logY());
        }
        return f;
    }
}
