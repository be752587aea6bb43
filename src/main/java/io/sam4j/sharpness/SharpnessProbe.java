package io.sam4j.sharpness;

import io.sam4j.config.ConfigException;
import io.sam4j.data.Batcher;
import io.sam4j.data.Dataset;
import io.sam4j.data.Normalizer;
import io.sam4j.nn.Mode;
import io.sam4j.nn.Model;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.Locale;

/**
 * Sharpness diagnostics of a model on a FIXED subset of the training set (the first {@code subset}
 * examples, no augmentation), so every Hessian-vector product sees the same data. Built once; each
 * {@link #analyse} leaves the weights and BatchNorm statistics bit for bit as they were.
 */
public final class SharpnessProbe implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private final ModelOracle oracle;
    private final Sharpness.Options options;

    /** {@code bn}: "eval" (running statistics, as PyHessian) or "batch" (each batch's own statistics). */
    public SharpnessProbe(Model model, Dataset train, Normalizer norm, int subset, int batch, String bn, Sharpness.Options options) {
        if (subset < 1) throw ConfigException.mustBe("subset", ">= 1", subset);
        Mode mode = switch (bn) {
            case "eval" -> Mode.EVAL;
            case "batch" -> Mode.TRAIN_FROZEN_STATS;
            default -> throw ConfigException.unknown("bn", bn, List.of("eval", "batch"));
        };
        Batcher seq = new Batcher(train, norm, 1, 0, false);
        List<ModelOracle.Batch> batches = ModelOracle.sequential(seq, 0, Math.min(subset, train.size()), batch, arena);
        this.oracle = new ModelOracle(model, batches, mode);
        this.options = options;
    }

    /** Runs the analysis; progress lines go to {@code log} (null: quiet). */
    public SharpnessReport analyse(PrintStream log) {
        long[] last = {System.nanoTime()};
        return Sharpness.analyse(oracle, options, (phase, done, max, est) -> {
            long now = System.nanoTime();
            if (log != null && now - last[0] > 2_000_000_000L) {
                last[0] = now;
                log.printf(Locale.ROOT, "  sharpness: %s %d/%d, estimate %.4g%n", phase.name().toLowerCase(Locale.ROOT), done, max, est);
            }
        });
    }

    /** The fixed subset and BatchNorm mode the analyses run on (for the spectrum and landscapes). */
    public ModelOracle oracle() {
        return oracle;
    }

    /** One line for logs. */
    public static String summary(SharpnessReport r) {
        StringBuilder s = new StringBuilder(String.format(Locale.ROOT, "loss %.4f  lambda_max %.4g (%s, %s, %d products)", r.loss(),
                r.lambdaMax(), r.hvp(), r.eigenMethod(), r.lambdaMaxIterations()));
        if (r.topEigenvalues() != null) s.append("  top ").append(r.topEigenvalues().stream()
                .map(v -> String.format(Locale.ROOT, "%.4g", v)).toList());
        if (r.trace() != null) s.append(String.format(Locale.ROOT, "  trace %.4g +- %.2g (%s)", r.trace(), r.traceStdError(), r.traceMethod()));
        if (r.alignment() != null) s.append(String.format(Locale.ROOT, "  alignment %.3f", r.alignment()));
        if (r.ascentSharpness() != null) s.append(String.format(Locale.ROOT, "  ascent sharpness %.4g (rho %s)", r.ascentSharpness(), r.rho()));
        return s.toString();
    }

    @Override
    public void close() {
        oracle.close();
        arena.close();
    }
}
