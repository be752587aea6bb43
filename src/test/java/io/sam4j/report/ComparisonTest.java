package io.sam4j.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sam4j.cli.Main;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * compare on small run folders written here: the summary's numbers (final, peak and epoch of peak, SAM-step
 * fraction) against hand-computed values, runs that diverged or stopped early, group labels, the table and
 * figures against a config field, and the CLI's one-line errors.
 */
class ComparisonTest {
    @TempDir
    Path tmp;

    /** One epoch of a synthetic run: the metrics.jsonl line's numbers (NaN: written as the string "NaN"). */
    record Epoch(double testAcc, double trainLoss, double seconds, double samFraction, long step) {}

    /** A run folder with config.json {optimizer, rho, labelNoise, lr, seed, epochs, steps=0} and the given epochs. */
    private Path run(String name, String optimizer, double labelNoise, double lr, int seed, int plannedEpochs, Epoch... epochs) throws IOException {
        Path dir = tmp.resolve(name);
        Files.createDirectories(dir);
        ObjectNode c = RunFolder.JSON.createObjectNode();
        c.put("model", "mlp").put("epochs", plannedEpochs).put("steps", 0).put("lr", lr).put("optimizer", optimizer)
                .put("rho", 0.05).put("labelNoise", labelNoise).put("seed", seed).put("out", dir.toUri().toString())
                .put("optimizer_description", optimizer + " + sgd");
        Files.writeString(dir.resolve("config.json"), c.toPrettyString());
        StringBuilder lines = new StringBuilder();
        for (int i = 0; i < epochs.length; i++) {
            Epoch e = epochs[i];
            ObjectNode o = RunFolder.JSON.createObjectNode();
            o.put("epoch", i + 1).put("step", e.step()).put("train_loss", e.trainLoss()).put("test_loss", 0.5).put("test_acc", e.testAcc())
                    .put("epoch_seconds", e.seconds());
            if (Double.isFinite(e.samFraction())) o.put("sam_fraction", e.samFraction());
            lines.append(RunFolder.JSON.writeValueAsString(o)).append('\n');
        }
        Files.writeString(dir.resolve("metrics.jsonl"), lines);
        return dir;
    }

    private static Epoch ep(double acc, double loss, long step) {
        return new Epoch(acc, loss, 2, Double.NaN, step);
    }

    private static Epoch ep(double acc, double loss, long step, double samFraction) {
        return new Epoch(acc, loss, 2, samFraction, step);
    }

    /** sgd: 3 seeds; looksam: seed 0 complete, seeds 1 and 2 diverged (the trainer's marker); adamw: one NaN loss, one stopped early. */
    private List<Path> groups() throws IOException {
        List<Path> runs = new ArrayList<>();
        runs.add(run("sgd0", "sgd", 0, 0.05, 0, 3, ep(0.80, 0.9, 100), ep(0.85, 0.7, 200), ep(0.83, 0.5, 300)));
        runs.add(run("sgd1", "sgd", 0, 0.05, 1, 3, ep(0.81, 0.9, 100), ep(0.84, 0.8, 200), ep(0.86, 0.7, 300)));
        runs.add(run("sgd2", "sgd", 0, 0.05, 2, 3, ep(0.82, 0.9, 100), ep(0.87, 0.8, 200), ep(0.84, 0.6, 300)));
        // Epochs of 100, 200 and 100 steps: the step-weighted SAM fraction is (20 + 80 + 20) / 400 = 0.3 (unweighted: 0.267).
        runs.add(run("look0", "looksam", 0, 0.05, 0, 3, ep(0.70, 1.0, 100, 0.2), ep(0.75, 0.9, 300, 0.4), ep(0.74, 0.8, 400, 0.2)));
        for (int seed : new int[] {1, 2}) {
            Path diverged = run("look" + seed, "looksam", 0, 0.05, seed, 3, ep(0.60, 1.0, 100, 0.2));
            Files.writeString(diverged.resolve("diverged.json"), "{\"step\":250,\"epoch\":2,\"message\":\"training diverged at step 250\"}");
            runs.add(diverged);
        }
        runs.add(run("adamw0", "adamw", 0, 0.05, 0, 3, ep(0.70, 1.0, 100), ep(0.10, Double.NaN, 200), ep(0.10, Double.NaN, 300)));
        runs.add(run("adamw1", "adamw", 0, 0.05, 1, 3, ep(0.71, 1.0, 100), ep(0.72, 0.9, 200)));
        return runs;
    }

    @Test
    void gradientEvaluationsAreTheOptimizersOwnCountWhereLogged() throws IOException {
        // ESAM logs sam_fraction 1 but grad_evals below 2 (its second pass runs on part of the batch): 100 steps at
        // 1.8 and 300 at 1.9 give (180 + 570) / 400 = 1.875; sam_fraction alone would have said 2.00.
        Path esam = run("esam0", "esam", 0, 0.05, 0, 2, ep(0.70, 1.0, 100, 1.0), ep(0.75, 0.9, 400, 1.0));
        List<String> lines = Files.readAllLines(esam.resolve("metrics.jsonl"));
        Files.writeString(esam.resolve("metrics.jsonl"), lines.get(0).replace("}", ",\"grad_evals\":1.8}") + "\n"
                + lines.get(1).replace("}", ",\"grad_evals\":1.9}") + "\n");
        Path out = tmp.resolve("cmp-esam");
        Comparison.write(List.of(esam), out);
        String row = Files.readAllLines(out.resolve(Comparison.SUMMARY)).get(4);
        assertTrue(row.contains("| 1.000 | 1.88 |"), row);
    }

    @Test
    void summaryHasExactMeansPeaksAndNamesRunsThatDidNotFinish() throws IOException {
        Path out = tmp.resolve("cmp");
        Comparison.write(groups(), out);
        List<String> md = Files.readAllLines(out.resolve(Comparison.SUMMARY));
        assertEquals("| group | runs | seeds | final test acc (%) | peak test acc (%) | epoch of peak | final test loss | final train loss "
                + "| epochs | SAM-step fraction | gradient evaluations per step | seconds per run | note |", md.get(2));
        // Finals 83, 86, 84: mean 84.333, sample std sqrt(((4/3)^2 + (5/3)^2 + (1/3)^2) / 2) = 1.5275.
        // Peaks 85 (epoch 2), 86 (epoch 3), 87 (epoch 2): 86 +- 1, epoch 7/3. Train losses 0.5, 0.7, 0.6: 0.6 +- 0.1.
        assertEquals("| optimizer=sgd | 3 | 0, 1, 2 | 84.33 ± 1.53 | 86.00 ± 1.00 | 2.3 | 0.5000 ± 0.0000 | 0.6000 ± 0.1000 | 3 | — | 1.00 "
                + "| 6.0 |  |", md.get(4));
        assertEquals("| optimizer=looksam | 3 | 0, 1, 2 | 74.00 | 75.00 | 2.0 | 0.5000 | 0.8000 | 3 | 0.300 | 1.30 | 6.0 "
                + "| seeds 1, 2 diverged at epoch 2 (step 250) |", md.get(5));
        assertEquals("| optimizer=adamw | 2 | 0, 1 | — | — | — | — | — | — | — | — | — | seed 0 diverged at epoch 2 (train_loss not "
                + "finite); seed 1 stopped after epoch 2 of 3 |", md.get(6));
        String html = Files.readString(out.resolve(Comparison.HTML));
        assertTrue(html.contains("<th>peak test acc (%)</th>") && html.contains("<td>86.00 ± 1.00</td>"), "the HTML summary has the peak");
        assertTrue(html.contains("<td>diverged at epoch 2 (step 250)</td>"), "the runs table says how each run ended");
        assertTrue(Files.isRegularFile(out.resolve("plots/compare_sam_fraction.png")), "sam_fraction is drawn when logged");
        assertFalse(Files.exists(out.resolve("plots/compare_lambda_max.png")), "lambda_max is not: no run logged it");
    }

    @Test
    void meanStdIsTheSampleStatisticOfTheFiniteValues() {
        MeanStd m = MeanStd.of(1, 2, 4, Double.NaN);
        assertEquals(7.0 / 3, m.mean(), 1e-15);
        assertEquals(Math.sqrt((16.0 / 9 + 1.0 / 9 + 25.0 / 9) / 2), m.std(), 1e-15);
        assertEquals(3, m.n());
        assertEquals("2.33 ± 1.53", m.format("%.2f"));
        assertEquals("5.00", MeanStd.of(5).format("%.2f"));
        assertEquals("—", MeanStd.of(Double.NaN).format("%.2f"));
        assertEquals("0.01459 ± 0.00016", MeanStd.of(0.01448, 0.01470).format("%.4g"), "the std with the mean's decimals");
        assertEquals("1235 ± 1", MeanStd.of(1234, 1236).format("%.4g"));
    }

    @Test
    void longLegendLabelsWrapAtSpaces() {
        String label = "data=file:///usr/share/datasets/fashion-mnist/ epochs=40 optimizer=sgd rho=0.05 labelNoise=0.4 sharpnessEvery=0";
        String wrapped = Charts.wrap(label);
        assertEquals(List.of("data=file:///usr/share/datasets/fashion-mnist/", "epochs=40 optimizer=sgd rho=0.05 labelNoise=0.4",
                "sharpnessEvery=0"), wrapped.lines().toList());
        assertEquals("optimizer=sam", Charts.wrap("optimizer=sam"));
    }

    @Test
    void labelsNameGroupsByTheChosenFieldsAndMustTellThemApart() throws IOException {
        List<RunFolder> runs = new ArrayList<>();
        for (String opt : new String[] {"sam", "usam"}) {
            for (double noise : new double[] {0, 0.4}) runs.add(RunFolder.read(run(opt + noise, opt, noise, 0.05, 0, 1, ep(0.8, 0.5, 10))));
        }
        assertEquals(List.of("optimizer=sam labelNoise=0.0", "optimizer=sam labelNoise=0.4", "optimizer=usam labelNoise=0.0",
                "optimizer=usam labelNoise=0.4"), Comparison.group(runs).stream().map(Comparison.Group::label).toList(), "automatic: what differs");
        String noise = Comparison.resolveField("--labels", "label_noise", runs);
        assertEquals("labelNoise", noise, "label_noise finds labelNoise");
        assertEquals(List.of("labelNoise=0.0 optimizer=sam", "labelNoise=0.4 optimizer=sam", "labelNoise=0.0 optimizer=usam", "labelNoise=0.4 optimizer=usam"),
                Comparison.group(runs, Comparison.NOT_EXPERIMENT, List.of(noise, "optimizer")).stream().map(Comparison.Group::label).toList());
        var e = assertThrows(IllegalArgumentException.class, () -> Comparison.group(runs, Comparison.NOT_EXPERIMENT, List.of("optimizer")));
        assertEquals("--labels optimizer: two groups get the label 'optimizer=sam'; name them with --labels and a field that tells "
                + "them apart, or --ignore the fields that do not matter (labelNoise)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Comparison.resolveField("--labels", "nosuch", runs));
        assertEquals("--labels nosuch: no run's config.json has that field (the runs differ in: optimizer, labelNoise)", e.getMessage());
    }

    /** A setting only the newer runs record splits a group unless --ignore names it; the against lines follow. */
    @Test
    void ignoredFieldsDoNotSplitGroups() throws IOException {
        List<Path> dirs = new ArrayList<>();
        for (int seed = 0; seed < 2; seed++) {
            dirs.add(run("old" + seed, "sam", 0, 0.05, seed, 1, ep(0.80 + seed / 100.0, 0.5, 10)));
            Path newer = run("new" + seed, "sam", 0, 0.1, seed, 1, ep(0.70 + seed / 100.0, 0.5, 10));
            ObjectNode c = (ObjectNode) RunFolder.JSON.readTree(Files.readString(newer.resolve("config.json")));
            Files.writeString(newer.resolve("config.json"), c.put("trainSubset", 0).toPrettyString());
            dirs.add(newer);
        }
        List<RunFolder> runs = dirs.stream().map(RunFolder::read).toList();
        assertEquals(2, Comparison.group(runs).size(), "lr and trainSubset differ");
        var e = assertThrows(IllegalArgumentException.class,
                () -> Comparison.write(dirs, tmp.resolve("a"), new Comparison.Options(null, List.of("optimizer"), List.of(), "lr", List.of())));
        assertTrue(e.getMessage().contains("or --ignore the fields that do not matter (trainSubset)"), e.getMessage());
        Path out = tmp.resolve("b");
        Comparison.write(dirs, out, new Comparison.Options(null, List.of("optimizer"), List.of(), "lr", List.of("train_subset")));
        String table = Files.readString(out.resolve("against_lr.md"));
        assertTrue(table.contains("| optimizer=sam | 80.50 ± 0.71 (n=2) | 70.50 ± 0.71 (n=2) |"), table);
        e = assertThrows(IllegalArgumentException.class,
                () -> Comparison.write(dirs, tmp.resolve("c"), new Comparison.Options(null, List.of(), List.of(), null, List.of("nosuch"))));
        assertTrue(e.getMessage().startsWith("--ignore nosuch: no run's config.json has that field"), e.getMessage());
    }

    /** sgd and sam at label noise 0 / 0.4, two seeds each; sam at 0.4 seed 1 diverged. */
    private List<Path> noiseGrid() throws IOException {
        List<Path> runs = new ArrayList<>();
        runs.add(run("sgd-0-s0", "sgd", 0, 0.05, 0, 2, ep(0.88, 0.4, 10), ep(0.90, 0.3, 20)));
        runs.add(run("sgd-0-s1", "sgd", 0, 0.05, 1, 2, ep(0.89, 0.4, 10), ep(0.92, 0.5, 20)));
        runs.add(run("sgd-4-s0", "sgd", 0.4, 0.05, 0, 2, ep(0.80, 1.2, 10), ep(0.70, 0.2, 20)));
        runs.add(run("sgd-4-s1", "sgd", 0.4, 0.05, 1, 2, ep(0.81, 1.2, 10), ep(0.74, 0.4, 20)));
        runs.add(run("sam-0-s0", "sam", 0, 0.05, 0, 2, ep(0.88, 0.5, 10), ep(0.91, 0.4, 20)));
        runs.add(run("sam-0-s1", "sam", 0, 0.05, 1, 2, ep(0.88, 0.5, 10), ep(0.91, 0.4, 20)));
        runs.add(run("sam-4-s0", "sam", 0.4, 0.05, 0, 2, ep(0.84, 1.3, 10), ep(0.86, 1.1, 20)));
        Path d = run("sam-4-s1", "sam", 0.4, 0.05, 1, 2, ep(0.83, 1.3, 10));
        Files.writeString(d.resolve("diverged.json"), "{\"step\":13,\"epoch\":2}");
        runs.add(d);
        return runs;
    }

    @Test
    void againstTableHasOneRowPerLineAndMarksDivergence() throws IOException {
        Path out = tmp.resolve("cmp");
        Comparison.write(noiseGrid(), out, new Comparison.Options("Noise", List.of(), List.of("test_acc"), "label_noise", List.of()));
        List<String> md = Files.readAllLines(out.resolve("against_labelNoise.md"));
        assertEquals("# Noise: final numbers against labelNoise", md.get(0));
        assertEquals("## Final test accuracy (%) against labelNoise", md.get(2));
        assertEquals("| group | labelNoise=0 | labelNoise=0.4 |", md.get(4));
        // sgd: 90, 92 -> 91 +- 1.414; 70, 74 -> 72 +- 2.828. sam at 0.4: seed 0 alone, seed 1 named.
        assertEquals("| optimizer=sgd | 91.00 ± 1.41 (n=2) | 72.00 ± 2.83 (n=2) |", md.get(6));
        assertEquals("| optimizer=sam | 91.00 ± 0.00 (n=2) | 86.00 (n=1; seed 1 diverged at epoch 2 (step 13)) |", md.get(7));
        int peak = md.indexOf("## Peak test accuracy (%) against labelNoise");
        assertEquals("| optimizer=sgd | 91.00 ± 1.41 (n=2) | 80.50 ± 0.71 (n=2) |", md.get(peak + 4));
        int loss = md.indexOf("## Final train loss against labelNoise");
        assertEquals("| optimizer=sgd | 0.4000 ± 0.1414 (n=2) | 0.3000 ± 0.1414 (n=2) |", md.get(loss + 4));
        for (String f : new String[] {"test_acc", "peak_test_acc", "train_loss"}) {
            assertTrue(Files.isRegularFile(out.resolve("plots/against_labelNoise_" + f + ".png")), f);
            assertTrue(Files.isRegularFile(out.resolve("plots/against_labelNoise_" + f + ".svg")), f);
        }
        assertTrue(Files.isRegularFile(out.resolve("plots/compare_test_acc.png")));
        assertFalse(Files.exists(out.resolve("plots/compare_train_loss.png")), "--metrics test_acc draws only that");
    }

    @Test
    void againstFigureDrawsMeansWithErrorBarsAndFailedRunsAtTheEdge() throws IOException {
        List<RunFolder> runs = noiseGrid().stream().map(RunFolder::read).toList();
        Map<RunFolder, RunSummary> s = new IdentityHashMap<>();
        for (RunFolder r : runs) s.put(r, RunSummary.of(r));
        Against a = Against.of(runs, s, "labelNoise", List.of(), Comparison.NOT_EXPERIMENT);
        assertFalse(a.logX(), "0 on the axis: linear");
        Figure acc = a.figures(null).getFirst();
        assertEquals("Final test accuracy against labelNoise", acc.title());
        Figure.Line sgd = acc.lines().getFirst();
        assertEquals(Figure.Style.ERROR_BARS, sgd.style());
        assertEquals(List.of(91.0, 72.0), List.of(round(sgd.y()[0]), round(sgd.y()[1])));
        assertEquals(Math.sqrt(8), sgd.spread()[1], 1e-9);
        List<Figure.Line> crosses = acc.lines().stream().filter(l -> l.style() == Figure.Style.CROSSES).toList();
        assertEquals(2, crosses.size(), "the legend entry and sam's own crosses");
        assertEquals("diverged or stopped early (not in the means)", crosses.getFirst().label());
        assertEquals(0.4, crosses.get(1).x()[0]);
        double lowest = 72 - Math.sqrt(8), highest = 91 + Math.sqrt(2);
        assertEquals(lowest - 0.08 * (highest - lowest), crosses.get(1).y()[0], 1e-9, "8 % of the data's span below its lowest bar");
        Figure loss = a.figures(null).getLast();
        assertTrue(loss.logScale(), "train loss on a log axis");

        List<RunFolder> lrs = new ArrayList<>();
        for (double lr : new double[] {0.01, 0.2}) lrs.add(RunFolder.read(run("lr" + lr, "sgd", 0, lr, 0, 1, ep(0.8, 0.5, 10))));
        assertTrue(Against.of(lrs, summaries(lrs), "lr", List.of(), Comparison.NOT_EXPERIMENT).logX(), "0.01 to 0.2 spans more than a decade: log x");
    }

    @Test
    void cliErrorsAreOneLineNamingTheInputAndWriteNothing() throws IOException {
        List<Path> runs = noiseGrid();
        Path out = tmp.resolve("never");
        Files.createDirectories(tmp.resolve("notarun"));
        String a = runs.get(0).toString(), b = runs.get(2).toString();
        assertError(tmp.resolve("notarun") + " is not a run folder (no config.json)", "compare", a, tmp.resolve("notarun").toString(), "--out", out.toString());
        assertError("--against nosuch: no run's config.json has that field (the runs differ in: labelNoise)", "compare", a, b,
                "--against", "nosuch", "--out", out.toString());
        assertError("--against optimizer: not a number in " + runs.get(0).resolve("config.json") + ": \"sgd\"", "compare", a, b, "--against", "optimizer",
                "--out", out.toString());
        assertError("--metrics lambda_max: no run logged it in metrics.jsonl (logged: epoch, epoch_seconds, step, test_acc, test_loss, train_loss)",
                "compare", a, b, "--metrics", "test_acc,lambda_max", "--out", out.toString());
        assertError("--labels color: no run's config.json has that field (the runs differ in: labelNoise)", "compare", a, b, "--labels", "color",
                "--out", out.toString());
        assertError("--labels: an empty field name in 'optimizer,,seed'", "compare", a, b, "--labels", "optimizer,,seed", "--out", out.toString());
        assertFalse(Files.exists(out), "nothing written");

        assertEquals(0, Main.execute("compare", a, b, "--title", "Two runs", "--labels", "label_noise", "--out", out.toString()));
        assertTrue(Files.readString(out.resolve(Comparison.SUMMARY)).startsWith("# Two runs\n"));
        assertTrue(Files.readString(out.resolve(Comparison.HTML)).contains("<td class=\"k\">labelNoise=0.4</td>"));
    }

    @Test
    void aDivergedTrainingRunSaysSoInItsFolder() throws IOException {
        Path dir = tmp.resolve("diverged");
        PrintStream old = System.out;
        System.setOut(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Main.execute("train", "--model", "mlp", "--optimizer", "sgd", "--lr", "1e30", "--steps", "20", "--batch", "64",
                    "--threads", "1", "--no-report", "--out", dir.toString());
        } finally {
            System.setOut(old);
        }
        assertEquals(1, code, "divergence is a failure of the run");
        ObjectNode marker = RunFolder.readObject(dir.resolve("diverged.json"));
        assertEquals(2, marker.path("step").asInt(), "the first step whose loss is not finite (docs/errors.md)");
        assertTrue(marker.path("message").asText().startsWith("training diverged at step 2: loss NaN"), marker.toString());
        assertEquals("diverged at epoch 1 (step 2)", RunSummary.of(RunFolder.read(dir)).failure());
    }

    private static void assertError(String message, String... args) {
        PrintStream old = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Main.execute(args);
        } finally {
            System.setErr(old);
        }
        assertEquals("sam4j: error: " + message, err.toString(StandardCharsets.UTF_8).strip());
        assertEquals(2, code);
    }

    private static Map<RunFolder, RunSummary> summaries(List<RunFolder> runs) {
        Map<RunFolder, RunSummary> s = new IdentityHashMap<>();
        for (RunFolder r : runs) s.put(r, RunSummary.of(r));
        return s;
    }

    private static double round(double v) {
        return Math.round(v * 1e9) / 1e9;
    }
}
