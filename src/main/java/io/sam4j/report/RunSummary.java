package io.sam4j.report;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sam4j.train.Trainer;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What a comparison reports of one run: its final and peak test accuracy (the peak is the maximum over the
 * logged epochs, at the first epoch that reached it), final losses, the fraction of steps that took SAM's
 * second pass, its training seconds, and whether it ended as planned.
 *
 * @param failure     null for a run that logged its planned length; otherwise why it has no final numbers:
 *                    "diverged at epoch k (step s)" (the trainer's {@code diverged.json}, or a non-finite loss in
 *                    metrics.jsonl), or "stopped after epoch k of N" / "stopped before its first epoch ended"
 *                    (killed, still running, or diverged under a sam4j that did not write diverged.json yet)
 * @param samFraction step-weighted mean of metrics.jsonl's {@code sam_fraction}; NaN when not logged
 * @param gradEvals   step-weighted mean of metrics.jsonl's {@code grad_evals} (the optimizer's own count of
 *                    whole-batch gradient evaluations per step); NaN when not logged (older runs)
 */
record RunSummary(RunFolder run, String failure, double epochs, double finalTestAcc, double finalTestLoss, double peakTestAcc,
                  double peakEpoch, double finalTrainLoss, double samFraction, double gradEvals, double seconds) {

    static RunSummary of(RunFolder r) {
        RunFolder.Table t = r.epochs();
        double[] acc = t.column("test_acc"), epoch = epochNumbers(t);
        int peak = -1;
        for (int i = 0; i < acc.length; i++) if (Double.isFinite(acc[i]) && (peak < 0 || acc[i] > acc[peak])) peak = i;
        double seconds = 0;
        for (double v : t.column("epoch_seconds")) if (Double.isFinite(v)) seconds += v;
        return new RunSummary(r, failure(r, epoch), epoch.length == 0 ? Double.NaN : epoch[epoch.length - 1], r.last("test_acc"),
                r.last("test_loss"), peak < 0 ? Double.NaN : acc[peak], peak < 0 ? Double.NaN : epoch[peak], r.last("train_loss"),
                stepWeightedMean(t, "sam_fraction"), stepWeightedMean(t, "grad_evals"), seconds);
    }

    boolean complete() {
        return failure == null;
    }

    /**
     * Whole-batch gradient evaluations per step as the optimizer counted them (ESAM's partial second pass
     * included); for runs that did not log them, 1 plus the fraction of steps that took SAM's second pass.
     */
    double gradientEvaluationsPerStep() {
        if (Double.isFinite(gradEvals)) return gradEvals;
        return 1 + (Double.isFinite(samFraction) ? samFraction : 0);
    }

    String seed() {
        return run.config().path("seed").asText("?");
    }

    /** The "epoch" column, or 1, 2, ... where a row lacks it. */
    private static double[] epochNumbers(RunFolder.Table t) {
        double[] e = t.has("epoch") ? t.column("epoch") : new double[t.size()];
        for (int i = 0; i < e.length; i++) if (!Double.isFinite(e[i]) || !t.has("epoch")) e[i] = i + 1;
        return e;
    }

    private static String failure(RunFolder r, double[] epoch) {
        Path marker = r.dir().resolve(Trainer.DIVERGED);
        if (Files.isRegularFile(marker)) {
            ObjectNode d = RunFolder.readObject(marker);
            return "diverged at epoch " + d.path("epoch").asText("?") + " (step " + d.path("step").asText("?") + ")";
        }
        RunFolder.Table t = r.epochs();
        for (String loss : new String[] {"train_loss", "test_loss"}) {
            if (!t.has(loss)) continue;
            double[] v = t.column(loss);
            for (int i = 0; i < v.length; i++) {
                if (!Double.isFinite(v[i])) return "diverged at epoch " + fmt(epoch[i]) + " (" + loss + " not finite)";
            }
        }
        if (epoch.length == 0) return "stopped before its first epoch ended";
        long steps = r.config().path("steps").asLong(0), epochs = r.config().path("epochs").asLong(0);
        double lastStep = r.last("step"), lastEpoch = epoch[epoch.length - 1];
        if (steps > 0 && Double.isFinite(lastStep) && lastStep < steps) return "stopped at step " + fmt(lastStep) + " of " + steps;
        if (steps <= 0 && epochs > 0 && lastEpoch < epochs) return "stopped after epoch " + fmt(lastEpoch) + " of " + epochs;
        return null;
    }

    /** The mean of a per-epoch column, each epoch weighted by its steps (from the "step" column when logged). */
    private static double stepWeightedMean(RunFolder.Table t, String column) {
        double[] f = t.column(column), step = t.column("step");
        double sum = 0, weight = 0;
        for (int i = 0; i < f.length; i++) {
            if (!Double.isFinite(f[i])) continue;
            double w = step.length == f.length && Double.isFinite(step[i]) ? step[i] - (i == 0 ? 0 : step[i - 1]) : 1;
            if (!(w > 0)) w = 1;
            sum += w * f[i];
            weight += w;
        }
        return weight == 0 ? Double.NaN : sum / weight;
    }

    static String fmt(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? String.valueOf((long) v) : String.valueOf(v);
    }
}
