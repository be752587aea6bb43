package io.sam4j.report;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.sam4j.formats.AtomicFile;
import io.sam4j.data.Batcher;
import io.sam4j.data.Dataset;
import io.sam4j.nn.Mode;
import io.sam4j.nn.Model;
import io.sam4j.nn.SoftmaxCrossEntropy;
import java.awt.Color;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Locale;
import org.knowm.xchart.HeatMapChart;
import org.knowm.xchart.HeatMapChartBuilder;

/**
 * Scores weights on a data set exactly as training evaluates: the test split in file order, in batches of
 * the run's size, BatchNorm in eval mode, loss without label smoothing, argmax (first maximum) for the class.
 * Adds what training does not log: per-class accuracy and the confusion matrix (rows: true class, columns:
 * predicted class).
 */
public record Evaluation(String weights, String data, int examples, long correct, double accuracy, double loss,
                         int[] classCounts, double[] classAccuracy, int[][] confusion) {
    public static final String FILE = "eval.json";
    private static final ObjectMapper SNAKE = new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);

    public static Evaluation of(RunModel rm, Dataset test, int batch) {
        Model model = rm.model();
        int classes = model.classes();
        int[][] confusion = new int[classes][classes];
        double loss = 0;
        long correct = 0;
        Batcher seq = new Batcher(test, rm.normalizer(), batch, 0, false);
        int[] labels = new int[batch];
        try (Arena arena = Arena.ofShared()) {
            MemorySegment x = arena.allocate(4L * batch * model.inputSize(), 64);
            for (int from = 0; from < test.size(); from += batch) {
                int n = Math.min(batch, test.size() - from);
                seq.fillSequential(from, n, x, labels);
                SoftmaxCrossEntropy.Eval e = model.evaluate(x, labels, n);
                loss += e.lossSum();
                correct += e.correct();
                MemorySegment logits = model.logits(x, n, Mode.EVAL);
                for (int i = 0; i < n; i++) confusion[labels[i]][argmax(logits, (long) i * classes, classes)]++;
            }
        }
        int[] counts = new int[classes];
        double[] perClass = new double[classes];
        for (int t = 0; t < classes; t++) {
            for (int p = 0; p < classes; p++) counts[t] += confusion[t][p];
            perClass[t] = counts[t] == 0 ? Double.NaN : (double) confusion[t][t] / counts[t];
        }
        return new Evaluation(rm.weights().toString(), test.name(), test.size(), correct, (double) correct / test.size(),
                loss / test.size(), counts, perClass, confusion);
    }

    /** The first maximum, as the loss's own accuracy count takes it. */
    static int argmax(MemorySegment logits, long row, int classes) {
        float max = Float.NEGATIVE_INFINITY;
        int arg = 0;
        for (int j = 0; j < classes; j++) {
            float v = logits.getAtIndex(ValueLayout.JAVA_FLOAT, row + j);
            if (v > max) {
                max = v;
                arg = j;
            }
        }
        return arg;
    }

    /** Accuracy, loss, per-class accuracy and the confusion matrix as text. */
    public String toText() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%s on %s (%d examples): accuracy %.2f %% (%d correct), loss %.4f%n",
                weights, data, examples, 100 * accuracy, correct, loss));
        sb.append("per class: ");
        for (int c = 0; c < classAccuracy.length; c++) sb.append(String.format(Locale.ROOT, "%s%d %.1f %%", c == 0 ? "" : ", ", c, 100 * classAccuracy[c]));
        sb.append(String.format("%nconfusion matrix (rows: true class, columns: predicted)%n      "));
        for (int p = 0; p < confusion.length; p++) sb.append(String.format(Locale.ROOT, "%6d", p));
        sb.append('\n');
        for (int t = 0; t < confusion.length; t++) {
            sb.append(String.format(Locale.ROOT, "%6d", t));
            for (int v : confusion[t]) sb.append(String.format(Locale.ROOT, "%6d", v));
            sb.append('\n');
        }
        return sb.toString();
    }

    public String toJson() {
        try {
            return SNAKE.writer().with(SerializationFeature.INDENT_OUTPUT).writeValueAsString(this);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise the evaluation", e);
        }
    }

    /** The confusion matrix as a heat map, counts in the cells, true class on the y axis. */
    public HeatMapChart confusionChart() {
        int k = confusion.length;
        HeatMapChart c = new HeatMapChartBuilder().width(Math.max(480, 48 * k + 160)).height(Math.max(400, 40 * k + 120))
                .title(String.format(Locale.ROOT, "Confusion matrix (accuracy %.2f %%)", 100 * accuracy))
                .xAxisTitle("predicted class").yAxisTitle("true class").build();
        int[] axis = new int[k];
        for (int i = 0; i < k; i++) axis[i] = i;
        // XChart takes heat[x index][y index] and draws y index 0 at the bottom: true class 0 goes on top.
        int[][] cells = new int[k][k];
        int[] yAxis = new int[k];
        for (int t = 0; t < k; t++) {
            yAxis[k - 1 - t] = t;
            for (int p = 0; p < k; p++) cells[p][k - 1 - t] = confusion[t][p];
        }
        c.getStyler().setShowValue(k <= 20).setRangeColors(new Color[] {Color.WHITE, new Color(0x9ecae1), new Color(0x08519c)});
        c.getStyler().setChartBackgroundColor(Color.WHITE);
        c.getStyler().setLegendVisible(false);
        c.addSeries("confusion", axis, yAxis, cells);
        return c;
    }

    /** Writes {@code dir/eval.json} and {@code dir/plots/confusion.png|svg}. */
    public void write(Path dir) {
        byte[] json = (toJson() + "\n").getBytes(StandardCharsets.UTF_8);
        AtomicFile.write(dir.resolve(FILE), o -> o.write(json));
        Charts.write(confusionChart(), dir.resolve(RunReport.PLOTS), RunReport.CONFUSION);
    }
}
