package io.sam4j.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sam4j.cli.Main;
import java.awt.image.BufferedImage;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A short run through the CLI leaves a readable folder: CSVs that match the JSON, plots, a report a browser renders. */
class RunReportTest {
    @TempDir
    static Path tmp;
    static Path run;

    @BeforeAll
    static void train() {
        run = TrainedRun.mlp();
    }

    @Test
    void runFolderHoldsReportCsvAndPlots() throws Exception {
        for (String f : List.of("report.html", "metrics.csv", "metrics.jsonl", "steps.csv", "environment.json", "config.json")) {
            assertTrue(Files.isRegularFile(run.resolve(f)), f);
        }
        for (String p : List.of("loss", "accuracy", "lr", "sam_gap", "grad_norms", "cosine", "curvature")) {
            BufferedImage img = ImageIO.read(run.resolve("plots/" + p + ".png").toFile());
            assertEquals(Charts.WIDTH, img.getWidth(), p);
            assertTrue(distinctColours(img) > 10, p + ".png is not blank");
            var svg = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(run.resolve("plots/" + p + ".svg").toFile());
            assertEquals("svg", svg.getDocumentElement().getTagName(), p + ".svg");
        }
        assertFalse(Files.exists(run.resolve("plots/grad_scale.png")), "no StableSAM factor plot without --stable or clipping");
        String html = Files.readString(run.resolve("report.html"));
        assertTrue(html.contains("./sam4j train --model mlp --epochs 2"), "the command line");
        assertTrue(html.contains("data:image/png;base64,"), "plots inlined");
        assertFalse(html.contains("<script") || html.matches("(?s).*(src|href)=\"https?:.*"), "no script, nothing fetched");
        ObjectNode env = RunFolder.readObject(run.resolve("environment.json"));
        assertEquals(1, env.path("mpi_ranks").asInt());
        assertTrue(env.path("jdk").asText().contains(Runtime.version().toString()));
    }

    @Test
    void metricsCsvHasTheJsonColumnsAndValues() throws Exception {
        List<ObjectNode> json = RunFolder.jsonLines(run.resolve("metrics.jsonl"));
        List<String> csv = Files.readAllLines(run.resolve("metrics.csv"));
        assertEquals(json.size() + 1, csv.size());
        List<String> header = List.of(csv.get(0).split(","));
        List<String> keys = new java.util.ArrayList<>();
        for (Iterator<String> it = json.get(0).fieldNames(); it.hasNext(); ) keys.add(it.next());
        assertEquals(keys, header);
        for (int r = 0; r < json.size(); r++) {
            String[] cells = csv.get(r + 1).split(",", -1);
            for (int i = 0; i < header.size(); i++) {
                assertEquals(json.get(r).get(header.get(i)).asDouble(), Double.parseDouble(cells[i]), 0, header.get(i));
            }
        }
    }

    /** steps.csv holds every step; its per-epoch mean loss is the train_loss metrics.jsonl reports. */
    @Test
    void stepLogAgreesWithEpochMeans() {
        RunFolder f = RunFolder.read(run);
        double[] step = f.steps().column("step"), epoch = f.steps().column("epoch"), loss = f.steps().column("loss");
        assertEquals(48, step.length);
        for (int i = 0; i < step.length; i++) assertEquals(i + 1, step[i]);
        double[] trainLoss = f.epochs().column("train_loss");
        for (int e = 1; e <= 2; e++) {
            double sum = 0;
            int n = 0;
            for (int i = 0; i < loss.length; i++) {
                if (epoch[i] == e) {
                    sum += loss[i];
                    n++;
                }
            }
            assertEquals(24, n);
            assertEquals(trainLoss[e - 1], sum / n, 1e-6 * trainLoss[e - 1], "epoch " + e);
        }
        double[] gap = f.steps().column("sam_gap"), adv = f.steps().column("loss_adv");
        for (int i = 0; i < gap.length; i++) assertEquals(adv[i] - loss[i], gap[i], 2e-6 * Math.abs(adv[i]) + 1e-7);
    }

    /** The library call regenerates everything from the folder's files alone. */
    @Test
    void writeRegeneratesFromTheFolder() throws Exception {
        Path copy = tmp.resolve("copy");
        Files.createDirectories(copy);
        for (String f : List.of("config.json", "metrics.jsonl", "steps.csv", "environment.json")) {
            Files.copy(run.resolve(f), copy.resolve(f));
        }
        Path html = RunReport.write(copy);
        assertTrue(Files.size(html) > 10_000);
        assertEquals(Files.readString(run.resolve("metrics.csv")), Files.readString(copy.resolve("metrics.csv")));
        assertTrue(Files.isRegularFile(copy.resolve("plots/loss.svg")));
    }

    @Test
    void reportOfANonRunFolderIsAOneLineError() {
        assertEquals(2, Main.execute("report", tmp.resolve("nothing").toString()));
    }

    /** Headless Chromium renders report.html to a PNG that is not blank (Debian's chromium; skipped without it). */
    @Test
    void chromiumRendersTheReport() throws Exception {
        String chromium = List.of("/usr/bin/chromium", "/usr/bin/chromium-browser").stream()
                .filter(p -> new File(p).canExecute()).findFirst().orElse(null);
        Assumptions.assumeTrue(chromium != null, "chromium is not installed (apt-get install chromium): report rendering not checked");
        Path shot = tmp.resolve("shot.png");
        Process p = new ProcessBuilder(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                "--window-size=1280,1600", "--screenshot=" + shot, run.resolve("report.html").toUri().toString())
                .redirectErrorStream(true).redirectOutput(tmp.resolve("chromium.log").toFile()).start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "chromium finished");
        assertEquals(0, p.exitValue(), Files.readString(tmp.resolve("chromium.log"), StandardCharsets.UTF_8));
        BufferedImage img = ImageIO.read(shot.toFile());
        assertEquals(1280, img.getWidth());
        assertTrue(distinctColours(img) > 50, "the screenshot shows text and plots, not a blank page");
        assertTrue(nonWhiteFraction(img) > 0.05, "ink on the page: " + nonWhiteFraction(img));
    }

    static int distinctColours(BufferedImage img) {
        Set<Integer> c = new HashSet<>();
        for (int y = 0; y < img.getHeight(); y += 2) for (int x = 0; x < img.getWidth(); x += 2) c.add(img.getRGB(x, y));
        return c.size();
    }

    static double nonWhiteFraction(BufferedImage img) {
        long ink = 0, all = 0;
        for (int y = 0; y < img.getHeight(); y += 2) {
            for (int x = 0; x < img.getWidth(); x += 2, all++) if ((img.getRGB(x, y) & 0xffffff) < 0xf0f0f0) ink++;
        }
        return (double) ink / all;
    }
}
