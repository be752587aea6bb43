package io.sam4j.train;

import java.io.PrintStream;
import java.util.Locale;

/**
 * Training progress on stderr: a redrawn bar (steps/s, loss, ETA) when stderr is a terminal, otherwise a plain
 * line every few seconds, so logs of batch jobs stay readable.
 */
final class ProgressLine {
    private final PrintStream err = System.err;
    private final boolean tty = System.console() != null && System.getenv("SAM4J_PLAIN_PROGRESS") == null;
    private final long total;
    private final long startNanos = System.nanoTime();
    private long lastPrint = startNanos;
    private final long plainInterval = 5_000_000_000L;
    private boolean drew;

    private final long firstStep;

    ProgressLine(long firstStep, long totalSteps) {
        this.firstStep = firstStep;
        this.total = totalSteps;
    }

    void update(long step, int epoch, double loss) {
        long now = System.nanoTime();
        boolean due = tty ? now - lastPrint > 100_000_000L : now - lastPrint > plainInterval;
        if (!due && step != total) return;
        lastPrint = now;
        double elapsed = (now - startNanos) / 1e9;
        double rate = (step - firstStep) / Math.max(elapsed, 1e-9);
        double eta = (total - step) / Math.max(rate, 1e-9);
        if (tty) {
            int width = 30;
            int filled = (int) (width * step / Math.max(total, 1));
            String bar = "#".repeat(filled) + "-".repeat(width - filled);
            err.printf(Locale.ROOT, "\r[%s] %d/%d ep %d | loss %.4f | %.1f steps/s | ETA %s   ", bar, step, total, epoch,
                    loss, rate, fmt(eta));
            drew = true;
        } else {
            err.printf(Locale.ROOT, "step %d/%d epoch %d loss %.4f %.1f steps/s ETA %s%n", step, total, epoch, loss, rate,
                    fmt(eta));
        }
        err.flush();
    }

    /** Ends the bar's line before other output. */
    void clear() {
        if (tty && drew) {
            err.print("\r" + " ".repeat(110) + "\r");
            err.flush();
            drew = false;
        }
    }

    static String fmt(double s) {
        if (!Double.isFinite(s)) return "?";
        long t = Math.round(s);
        return t >= 3600 ? String.format(Locale.ROOT, "%dh%02dm", t / 3600, t / 60 % 60)
                : String.format(Locale.ROOT, "%dm%02ds", t / 60, t % 60);
    }
}
