package io.sam4j.report;

import java.awt.Color;
import java.util.ArrayList;
import java.util.List;

/**
 * The plots of one run, all over the optimizer step: losses, accuracy, learning rate, the SAM family's
 * per-step signals (thin trace per step, bold epoch means), StableSAM's factor, and the sharpness
 * diagnostics when they were logged. Figures without data (e.g. SAM signals of an SGD run) are left out.
 */
public final class RunPlots {
    private RunPlots() {}

    public static List<Figure> of(RunFolder run) {
        RunFolder.Table ep = run.epochs(), st = run.steps();
        List<Figure> figs = new ArrayList<>();
        List<Figure.Line> loss = Figure.newLines();
        if (st.hasValues("loss")) loss.add(line("batch loss", st, "loss", 1, Figure.Style.TRACE, Charts.PALETTE[0]));
        loss.add(line("train loss (epoch mean)", ep, "train_loss", 1, Figure.Style.EPOCHS, Charts.PALETTE[0]));
        loss.add(line("test loss", ep, "test_loss", 1, Figure.Style.EPOCHS, Charts.PALETTE[1]));
        if (ep.hasValues("val_loss")) loss.add(line("validation loss", ep, "val_loss", 1, Figure.Style.EPOCHS, Charts.PALETTE[2]));
        figs.add(new Figure("loss", "Loss", "step", "cross-entropy", loss, null));

        List<Figure.Line> acc = Figure.newLines();
        acc.add(line("test accuracy", ep, "test_acc", 100, Figure.Style.EPOCHS, Charts.PALETTE[1]));
        if (ep.hasValues("val_acc")) acc.add(line("validation accuracy", ep, "val_acc", 100, Figure.Style.EPOCHS, Charts.PALETTE[2]));
        figs.add(new Figure("accuracy", "Accuracy", "step", "%", acc, false));

        figs.add(new Figure("lr", "Learning rate", "step", "lr", List.of(st.hasValues("lr")
                ? line("lr", st, "lr", 1, Figure.Style.LINE, Charts.PALETTE[0])
                : line("lr", ep, "lr", 1, Figure.Style.EPOCHS, Charts.PALETTE[0])), false));
        figs.add(signal(run, "sam_gap", "SAM gap L(w+e) - L(w)", "loss difference", "sam_gap"));
        figs.add(signal(run, "grad_norms", "Gradient norms ||g|| and ||g_adv||", "norm", "grad_norm", "adv_grad_norm"));
        figs.add(signal(run, "cosine", "cos(e, g_adv)", "cosine", "cos_e_gadv"));
        figs.add(signal(run, "curvature", "Curvature along e: e^T(g_adv - g) / ||e||^2", "curvature", "curvature"));
        if (scaled(st)) {
            boolean stable = run.config().path("stable").asBoolean(false);
            figs.add(new Figure("grad_scale", stable ? "StableSAM factor ||g|| / ||g_adv||" : "Final-gradient scale (clipping)",
                    "step", "factor", List.of(line("factor", st, "grad_scale", 1, Figure.Style.TRACE, Charts.PALETTE[4])), null));
        }
        List<Figure.Line> sharp = Figure.newLines();
        sharp.add(line("lambda_max", ep, "lambda_max", 1, Figure.Style.EPOCHS, Charts.PALETTE[0]));
        sharp.add(line("Hessian trace", ep, "hessian_trace", 1, Figure.Style.EPOCHS, Charts.PALETTE[1]));
        figs.add(new Figure("sharpness", "Sharpness: lambda_max and Hessian trace", "step", "value", sharp, null));
        List<Figure.Line> align = Figure.newLines();
        align.add(line("|cos(g, v1)|", ep, "alignment", 1, Figure.Style.EPOCHS, Charts.PALETTE[2]));
        align.add(line("ascent sharpness", ep, "ascent_sharpness", 1, Figure.Style.EPOCHS, Charts.PALETTE[3]));
        figs.add(new Figure("alignment", "Gradient / top-eigenvector alignment, ascent sharpness", "step", "value", align, null));
        return figs.stream().filter(f -> !f.isEmpty()).toList();
    }

    /** Per-step trace and epoch means of each column, one colour per column. */
    private static Figure signal(RunFolder run, String name, String title, String yLabel, String... columns) {
        List<Figure.Line> lines = Figure.newLines();
        for (int i = 0; i < columns.length; i++) {
            Color c = Charts.PALETTE[i];
            if (run.steps().hasValues(columns[i])) lines.add(line(columns[i] + " (step)", run.steps(), columns[i], 1, Figure.Style.TRACE, c));
            lines.add(line(columns[i] + " (epoch mean)", run.epochs(), columns[i], 1, Figure.Style.EPOCHS, c));
        }
        return new Figure(name, title, "step", yLabel, lines, null);
    }

    private static Figure.Line line(String label, RunFolder.Table t, String column, double scale, Figure.Style style, Color c) {
        double[] y = t.column(column);
        for (int i = 0; i < y.length; i++) y[i] *= scale;
        double[] x = t.column("step");
        return new Figure.Line(label, x.length == y.length ? x : new double[0], y, null, style, c);
    }

    /** True when some step's final gradient was rescaled (StableSAM or clipping). */
    private static boolean scaled(RunFolder.Table st) {
        for (double v : st.column("grad_scale")) if (Double.isFinite(v) && v != 1) return true;
        return false;
    }
}
