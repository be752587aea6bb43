package io.sam4j.report;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sam4j.cli.Main;
import io.sam4j.data.DataSource;
import io.sam4j.data.Dataset;
import io.sam4j.data.IdxReader;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** eval reproduces the run's own final test numbers; predict on a PNG of a test image gives its class. */
class EvalPredictTest {
    @TempDir
    Path tmp;

    @Test
    void evalReproducesTheRunsFinalTestAccuracyExactly() {
        Path run = TrainedRun.mlp();
        RunFolder f = RunFolder.read(run);
        try (RunModel rm = RunModel.ofRun(run, null, null, null)) {
            Evaluation e = Evaluation.of(rm, rm.testSet(), rm.config().batch);
            assertEquals(f.last("test_acc"), e.accuracy(), 0, "accuracy");
            assertEquals(f.last("test_loss"), e.loss(), 0, "loss");
            long diagonal = 0;
            for (int c = 0; c < e.confusion().length; c++) {
                diagonal += e.confusion()[c][c];
                assertEquals(e.classCounts()[c], Arrays.stream(e.confusion()[c]).sum());
                assertEquals((double) e.confusion()[c][c] / e.classCounts()[c], e.classAccuracy()[c], 0);
            }
            assertEquals(e.correct(), diagonal, "the confusion matrix's diagonal is the loss's own count");
            assertEquals(2000, Arrays.stream(e.classCounts()).sum());
        }
        // The same numbers from bare weights, the normalisation refitted on the data set.
        io.sam4j.train.TrainConfig bare = new io.sam4j.train.TrainConfig();
        bare.model = "mlp";
        bare.threads = 1;
        try (RunModel rm = RunModel.ofWeights(bare, io.sam4j.formats.Checkpoint.path(run))) {
            assertEquals(f.last("test_acc"), Evaluation.of(rm, rm.testSet(), 500).accuracy(), 0);
        }
    }

    @Test
    void evalCommandWritesJsonAndTheConfusionPlot() throws Exception {
        Path run = TrainedRun.mlp();
        assertEquals(0, Main.execute("eval", "--run", run.toString(), "--json"));
        assertEquals(RunFolder.read(run).last("test_acc"), RunFolder.readObject(run.resolve(Evaluation.FILE)).get("accuracy").asDouble(), 0);
        assertTrue(Files.isRegularFile(run.resolve("plots/confusion.png")));
        assertTrue(Files.isRegularFile(run.resolve("plots/confusion.svg")));
        assertTrue(Files.readString(run.resolve("report.html")).contains("Confusion matrix"));
        assertEquals(2, Main.execute("eval", "--run", run.toString(), "--model", "cnn"), "--model with --run");
        assertEquals(2, Main.execute("eval", "--weights", tmp.resolve("none.safetensors").toString()), "missing weights");
    }

    /** Grey PNGs written from test images, classified: the same class and probabilities as the IDX bytes themselves. */
    @Test
    void predictOnAPngOfATestImageGivesItsClass() throws Exception {
        Path run = TrainedRun.mlp();
        Dataset test = DataSource.loadEmbedded().test();
        int n = 20, size = test.imageSize();
        byte[] first = Arrays.copyOf(test.pixels(), n * size);
        Path idx = tmp.resolve("t10k-images-idx3-ubyte");
        IdxReader.write(idx, new int[] {n, 28, 28}, first, false);
        List<Path> pngs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            BufferedImage img = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
            img.getRaster().setDataElements(0, 0, 28, 28, Arrays.copyOfRange(first, i * size, (i + 1) * size));
            Path p = tmp.resolve("test" + i + ".png");
            ImageIO.write(img, "png", p.toFile());
            pngs.add(p);
        }
        try (RunModel rm = RunModel.ofRun(run, null, null, null)) {
            List<Prediction.Result> fromIdx = Prediction.predict(rm, List.of(idx), 10);
            List<Prediction.Result> fromPng = Prediction.predict(rm, pngs, 10);
            int right = 0;
            for (int i = 0; i < n; i++) {
                assertArrayEquals(fromIdx.get(i).classes(), fromPng.get(i).classes(), "image " + i);
                assertArrayEquals(fromIdx.get(i).probabilities(), fromPng.get(i).probabilities(), 0, "image " + i);
                assertEquals(1, Arrays.stream(fromPng.get(i).probabilities()).sum(), 1e-9);
                if (fromPng.get(i).top() == test.labels()[i]) right++;
            }
            assertTrue(right >= 14, right + " of 20 PNGs classified as their test label (the run scores ~76 %)");
        }
        assertEquals(0, Main.execute("predict", "--run", run.toString(), "--top", "2", "--json", pngs.get(0).toString()));
        assertEquals(2, Main.execute("predict", "--run", run.toString(), tmp.resolve("missing.png").toString()));
    }
}
