package io.sam4j.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sam4j.formats.AtomicFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Several runs in one report: curves on shared axes (per epoch) and a summary table. Runs whose
 * configurations differ only by the seed (and by where they write, and their thread count) form a group,
 * drawn as the mean over its runs with a band of +- one sample standard deviation.
 */
public final class Comparison {
    public static final String HTML = "compare.html";
    /** Settings that do not make a different experiment. */
    static final Set<String> NOT_EXPERIMENT = Set.of("seed", "out", "save", "threads");
    /** config.json fields computed from the settings. */
    static final Set<String> DERIVED = Set.of("optimizer_description", "parameters", "normalization", "input_shape", "classes");

    /** Runs of one experiment, named by the settings that tell the groups apart. */
    public record Group(String label, List<RunFolder> runs) {}

    private Comparison() {}

    /** Writes {@code outDir/compare.html} and {@code outDir/plots/compare_*.png|svg}; returns the HTML's path. */
    public static Path write(List<Path> runDirs, Path outDir) {
        if (runDirs.isEmpty()) throw new IllegalArgumentException("compare: no runs given");
        List<RunFolder> runs = runDirs.stream().map(RunFolder::read).toList();
        List<Group> groups = group(runs);
        Html h = new Html("sam4j comparison of " + runs.size() + " runs");
        h.h1("Comparison of " + runs.size() + " runs in " + groups.size() + " group" + (groups.size() == 1 ? "" : "s"));
        h.muted("A group is the runs whose config.json differ only in " + String.join(", ", new TreeSet<>(NOT_EXPERIMENT))
                + "; its curve is the mean over its runs, the band +- one sample standard deviation.");
        h.h2("Summary (last epoch)");
        h.table(List.of("group", "runs", "seeds", "test accuracy", "test loss", "train loss", "epochs", "seconds per run"),
                groups.stream().map(Comparison::summaryRow).toList());
        h.h2("Runs");
        List<List<String>> rows = new ArrayList<>();
        for (Group g : groups) {
            for (RunFolder r : g.runs()) {
                rows.add(List.of(r.name(), g.label(), r.config().path("seed").asText(), Html.percent(r.last("test_acc")),
                        Html.num(r.last("test_loss")), Html.num(r.last("train_loss")), Html.num(r.last("epoch")), r.dir().toString()));
            }
        }
        h.table(List.of("run", "group", "seed", "test accuracy", "test loss", "train loss", "epochs", "folder"), rows);
        h.h2("Curves");
        h.openPlots();
        Path plots = outDir.resolve(RunReport.PLOTS);
        for (Figure f : figures(groups)) {
            h.image(Charts.write(Charts.chart(f), plots, f.name()), f.title(), f.title() + " (" + RunReport.PLOTS + "/" + f.name() + ".svg)");
        }
        h.closePlots();
        byte[] bytes = h.finish().getBytes(StandardCharsets.UTF_8);
        Path out = outDir.resolve(HTML);
        AtomicFile.write(out, o -> o.write(bytes));
        return out;
    }

    /** Groups by configuration without the seed, in the order runs were given; labels name what differs. */
    public static List<Group> group(List<RunFolder> runs) {
        Map<String, List<RunFolder>> byKey = new LinkedHashMap<>();
        for (RunFolder r : runs) byKey.computeIfAbsent(experiment(r.config()).toString(), k -> new ArrayList<>()).add(r);
        List<ObjectNode> keys = byKey.values().stream().map(l -> experiment(l.get(0).config())).toList();
        List<String> differing = new ArrayList<>();
        for (Iterator<String> it = keys.get(0).fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (keys.stream().anyMatch(k -> !k.path(f).equals(keys.get(0).path(f)))) differing.add(f);
        }
        for (ObjectNode k : keys) { // fields only some groups have
            for (Iterator<String> it = k.fieldNames(); it.hasNext(); ) {
                String f = it.next();
                if (!differing.contains(f) && !keys.get(0).has(f)) differing.add(f);
            }
        }
        // Derived fields repeat what the settings already say; name them only when nothing else differs.
        if (differing.stream().anyMatch(f -> !DERIVED.contains(f))) differing.removeAll(DERIVED);
        List<Group> groups = new ArrayList<>();
        int i = 0;
        for (List<RunFolder> l : byKey.values()) {
            ObjectNode k = keys.get(i++);
            List<String> parts = new ArrayList<>();
            for (String f : differing) parts.add(f + "=" + text(k.get(f)));
            String label = parts.isEmpty() ? k.path("model").asText() + " " + k.path("optimizer_description").asText() : String.join(" ", parts);
            groups.add(new Group(label, List.copyOf(l)));
        }
        return groups;
    }

    private static ObjectNode experiment(ObjectNode config) {
        ObjectNode k = config.deepCopy();
        k.remove(NOT_EXPERIMENT);
        return k;
    }

    private static String text(JsonNode n) {
        return n == null || n.isNull() ? "-" : n.isValueNode() ? n.asText() : n.toString();
    }

    private static List<String> summaryRow(Group g) {
        List<String> seeds = g.runs().stream().map(r -> r.config().path("seed").asText()).toList();
        return List.of(g.label(), String.valueOf(g.runs().size()), String.join(",", seeds),
                meanStd(g, "test_acc", 100, " %"), meanStd(g, "test_loss", 1, ""), meanStd(g, "train_loss", 1, ""),
                meanStd(g, "epoch", 1, ""), Html.num(mean(g.runs().stream().mapToDouble(Comparison::seconds).toArray())));
    }

    private static double seconds(RunFolder r) {
        double s = 0;
        for (double v : r.epochs().column("epoch_seconds")) if (Double.isFinite(v)) s += v;
        return s;
    }

    private static String meanStd(Group g, String column, double scale, String unit) {
        double[] v = g.runs().stream().mapToDouble(r -> scale * r.last(column)).toArray();
        if (v.length == 1) return Html.num(v[0]) + unit;
        return String.format(Locale.ROOT, "%s +- %s%s", Html.num(mean(v)), Html.num(std(v)), unit);
    }

    static double mean(double[] v) {
        double s = 0;
        int n = 0;
        for (double x : v) {
            if (Double.isFinite(x)) {
                s += x;
                n++;
            }
        }
        return n == 0 ? Double.NaN : s / n;
    }

    /** Sample standard deviation (n - 1) of the finite values; 0 for one value. */
    static double std(double[] v) {
        double m = mean(v), ss = 0;
        int n = 0;
        for (double x : v) {
            if (Double.isFinite(x)) {
                ss += (x - m) * (x - m);
                n++;
            }
        }
        return n < 2 ? 0 : Math.sqrt(ss / (n - 1));
    }

    /** Test accuracy, test loss, train loss, SAM gap and lambda_max (when logged) against the epoch. */
    static List<Figure> figures(List<Group> groups) {
        List<Figure> figs = new ArrayList<>();
        figs.add(overlay(groups, "compare_test_acc", "Test accuracy", "%", "test_acc", 100, false));
        figs.add(overlay(groups, "compare_test_loss", "Test loss", "cross-entropy", "test_loss", 1, null));
        figs.add(overlay(groups, "compare_train_loss", "Train loss (epoch mean)", "cross-entropy", "train_loss", 1, null));
        figs.add(overlay(groups, "compare_sam_gap", "SAM gap L(w+e) - L(w) (epoch mean)", "loss difference", "sam_gap", 1, null));
        figs.add(overlay(groups, "compare_lambda_max", "lambda_max", "lambda_max", "lambda_max", 1, null));
        return figs.stream().filter(f -> !f.isEmpty()).toList();
    }

    private static Figure overlay(List<Group> groups, String name, String title, String yLabel, String column, double scale, Boolean log) {
        List<Figure.Line> lines = Figure.newLines();
        for (int gi = 0; gi < groups.size(); gi++) {
            Group g = groups.get(gi);
            int epochs = g.runs().stream().mapToInt(r -> r.epochs().size()).max().orElse(0);
            double[] x = new double[epochs], m = new double[epochs], s = new double[epochs];
            for (int e = 0; e < epochs; e++) {
                double[] at = new double[g.runs().size()];
                for (int r = 0; r < at.length; r++) {
                    double[] col = g.runs().get(r).epochs().column(column), ep = g.runs().get(r).epochs().column("epoch");
                    at[r] = e < col.length ? scale * col[e] : Double.NaN;
                    if (e < ep.length) x[e] = ep[e];
                }
                m[e] = mean(at);
                s[e] = std(at);
            }
            var colour = Charts.PALETTE[gi % Charts.PALETTE.length];
            String label = g.label() + (g.runs().size() > 1 ? " (" + g.runs().size() + " seeds)" : "");
            if (g.runs().size() > 1) lines.add(new Figure.Line(label + " band", x, m, s, Figure.Style.BAND, colour));
            lines.add(new Figure.Line(label, x, m, null, Figure.Style.EPOCHS, colour));
        }
        return new Figure(name, title, "epoch", yLabel, lines, log);
    }
}
