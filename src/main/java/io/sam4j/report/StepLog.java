package io.sam4j.report;

import io.sam4j.optim.StepStats;
import io.sam4j.train.RunListener;
import io.sam4j.train.StepListener;
import io.sam4j.train.Trainer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Keeps every optimizer step's free signals (loss, SAM gap, norms, cosine, curvature, gradient scale) and
 * appends them to {@code <run>/steps.csv} at each epoch end, so plots can show steps rather than epoch
 * means. Rows are kept in a growing double array between epochs (heap only, no per-step formatting).
 * Records only on the rank that writes the run folder (the one that sees {@link #started}).
 */
public final class StepLog implements StepListener, RunListener {
    public static final String FILE = "steps.csv";
    static final List<String> COLUMNS = List.of("step", "epoch", "lr", "loss", "loss_adv", "sam_gap", "grad_norm",
            "adv_grad_norm", "cos_e_gadv", "perturb_norm", "curvature", "grad_scale");

    private final int width = COLUMNS.size();
    private double[] rows = new double[64 * COLUMNS.size()];
    private int count;
    private Path file;

    @Override
    public void started(Start s) {
        file = s.runDir().resolve(FILE);
        try {
            if (s.step() == 0 || !Files.isRegularFile(file)) {
                Files.writeString(file, String.join(",", COLUMNS) + "\n", StandardCharsets.UTF_8);
            } else {
                keepUpTo(file, s.step());
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void onStep(long step, int epoch, float lr, StepStats s) {
        if (file == null) return;
        if ((count + 1) * width > rows.length) rows = Arrays.copyOf(rows, rows.length * 2);
        int o = count++ * width;
        double[] v = {step, epoch, lr, s.loss(), s.lossAdv(), s.lossAdv() - s.loss(), s.gradNorm(), s.advGradNorm(),
                s.cosine(), s.perturbNorm(), s.curvature(), s.gradScale()};
        System.arraycopy(v, 0, rows, o, width);
    }

    @Override
    public void epochEnded(EpochEnd e) {
        if (file == null || count == 0) return;
        StringBuilder sb = new StringBuilder(count * width * 12);
        for (int r = 0; r < count; r++) {
            for (int i = 0; i < width; i++) {
                if (i > 0) sb.append(',');
                double v = rows[r * width + i];
                if (i < 2) sb.append((long) v);
                else if (Double.isFinite(v)) sb.append(String.format(Locale.ROOT, "%.7g", v));
            }
            sb.append('\n');
        }
        try {
            Files.writeString(file, sb, StandardCharsets.UTF_8, StandardOpenOption.APPEND);
        } catch (IOException ex) {
            throw new UncheckedIOException("cannot write " + file + ": " + ex.getMessage(), ex);
        }
        count = 0;
    }

    @Override
    public void finished(Trainer.Result r) {
        file = null;
    }

    /** Drops rows after the checkpoint a resumed run starts from. */
    private static void keepUpTo(Path file, long step) throws IOException {
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        List<String> keep = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String l = lines.get(i);
            if (i == 0 || (!l.isBlank() && Long.parseLong(l.substring(0, l.indexOf(','))) <= step)) keep.add(l);
        }
        Files.writeString(file, String.join("\n", keep) + "\n", StandardCharsets.UTF_8);
    }

    /** Reads steps.csv back; an empty table if the file does not exist. */
    static RunFolder.Table read(Path f) {
        if (!Files.isRegularFile(f)) return new RunFolder.Table(List.of(), List.of());
        try {
            List<String> lines = Files.readAllLines(f, StandardCharsets.UTF_8);
            if (lines.isEmpty()) return new RunFolder.Table(List.of(), List.of());
            List<String> cols = List.of(lines.get(0).split(","));
            List<double[]> rows = new ArrayList<>();
            for (int n = 1; n < lines.size(); n++) {
                if (lines.get(n).isBlank()) continue;
                String[] cells = lines.get(n).split(",", -1);
                if (cells.length != cols.size()) throw new IllegalArgumentException(f + ": line " + (n + 1) + " has "
                        + cells.length + " cells, the header " + cols.size());
                double[] r = new double[cells.length];
                for (int i = 0; i < r.length; i++) r[i] = cells[i].isEmpty() ? Double.NaN : Double.parseDouble(cells[i]);
                rows.add(r);
            }
            return new RunFolder.Table(cols, rows);
        } catch (IOException | NumberFormatException e) {
            throw new IllegalArgumentException(f + ": cannot read: " + e.getMessage());
        }
    }
}
