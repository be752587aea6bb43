package io.sam4j.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sam4j.data.DataSource;
import io.sam4j.data.Dataset;
import io.sam4j.kernels.*;
import io.sam4j.nn.*;
import io.sam4j.optim.*;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The README's library snippet, compiled and run: the code between the README markers below must be the
 * README's ```java block line for line (imports aside), so the two cannot drift apart.
 */
class LibraryExampleTest {
    /** The README snippet, verbatim between the markers; {@code images}, {@code labels} come from the test. */
    static void readmeExample(float[] images, int[] labels) {
        // README-BEGIN
        // images: float[64 * 28 * 28] (64 examples 1x28x28, row-major, normalised); labels: int[64], classes 0..9
        try (Model model = Models.create("mlp", new int[] {1, 28, 28}, 10, 0f, Context.defaults());
             Batch batch = Batch.of(images, labels, 1, 28, 28)) {    // off-heap, in an arena every worker may read
            model.initialize(42);
            FlatOps ops = new FlatOps(KernelsProvider.get(), Parallel.common());
            Optimizer opt = new SharpnessAware(model.store(), ops,
                    new Sgd(model.store(), ops, 0.9f, false, 5e-4f),
                    SharpnessAware.Config.sam(0.05f));                 // or FRIENDLY / ADAPTIVE / stable ...
            LossFunction f = mode -> model.lossAndGrad(batch.x(), batch.labels(), batch.size(), mode); // TRAIN at w, TRAIN_FROZEN_STATS at w + e
            for (int step = 1; step <= 20; step++) {
                StepStats s = opt.step(f, 0.05f);                     // loss, loss at w+e, norms, cosine, ...
                System.out.printf("step %d loss %.4f%n", step, s.loss());
            }
        }
        // README-END
    }

    @Test
    void theReadmeSnippetTrainsOnABatchBuiltFromFloatArrays() {
        Dataset train = DataSource.loadEmbedded().train();
        int n = 64, size = train.imageSize();
        float[] images = new float[n * size];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            for (int p = 0; p < size; p++) images[i * size + p] = ((train.pixels()[i * size + p] & 0xff) / 255f - 0.286f) / 0.353f;
            labels[i] = train.labels()[i];
        }
        PrintStream stdout = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            readmeExample(images, labels);
        } finally {
            System.setOut(stdout);
        }
        List<Double> losses = new ArrayList<>();
        Matcher m = Pattern.compile("loss ([0-9.]+)").matcher(captured.toString(StandardCharsets.UTF_8));
        while (m.find()) losses.add(Double.parseDouble(m.group(1)));
        assertEquals(20, losses.size());
        assertTrue(losses.getLast() < 0.5 * losses.getFirst(), "20 SAM steps on one batch fit it: " + losses);
    }

    @Test
    void theReadmeShowsExactlyThisSnippet() throws IOException {
        String readme = Files.readString(Path.of("README.md"));
        Matcher block = Pattern.compile("```java\\n(.*?)```", Pattern.DOTALL).matcher(readme);
        assertTrue(block.find(), "README.md has a ```java block");
        List<String> shown = lines(block.group(1));
        shown.removeIf(l -> l.startsWith("import "));
        String source = Files.readString(Path.of("src/test/java/io/sam4j/examples/LibraryExampleTest.java"));
        String region = source.substring(source.indexOf("// README-BEGIN") + 15, source.indexOf("        // README-END"));
        assertEquals(lines(region), shown);
    }

    private static List<String> lines(String text) {
        List<String> out = new ArrayList<>();
        for (String l : text.split("\n")) if (!l.isBlank()) out.add(l.strip());
        return out;
    }
}
