package io.sam4j.report;

import java.awt.Color;
import java.util.ArrayList;
import java.util.List;

/**
 * One plot, independent of the library that draws it: a title, axis labels and lines over a shared x axis.
 * {@link Charts} turns it into PNG and SVG.
 *
 * @param name  file name without extension (plots/NAME.png, plots/NAME.svg)
 * @param logY  null = decide from the data (log when the positive values span two decades or more)
 * @param logX  a logarithmic x axis (points with x <= 0 are then dropped)
 */
public record Figure(String name, String title, String xLabel, String yLabel, List<Line> lines, Boolean logY, boolean logX) {
    /**
     * How a line is drawn: a thin light trace (per step), a bold line with markers (per epoch), a thin line, a band,
     * a line with markers and vertical error bars of +- spread, or crosses without a line (e.g. failed runs).
     */
    public enum Style { TRACE, EPOCHS, LINE, BAND, ERROR_BARS, CROSSES }

    /**
     * One series; a {@link Style#BAND} line fills between {@code y - spread} and {@code y + spread}, an
     * {@link Style#ERROR_BARS} line draws a bar from {@code y - spread} to {@code y + spread} at each point.
     * Points whose x or y is not finite are dropped (on a log axis, also values <= 0). A null label keeps the
     * line out of the legend.
     */
    public record Line(String label, double[] x, double[] y, double[] spread, Style style, Color color) {
        public Line(String label, double[] x, double[] y, Style style) {
            this(label, x, y, null, style, null);
        }

        boolean hasPoints() {
            for (int i = 0; i < Math.min(x.length, y.length); i++) if (Double.isFinite(x[i]) && Double.isFinite(y[i])) return true;
            return false;
        }
    }

    public Figure {
        lines = List.copyOf(lines.stream().filter(Line::hasPoints).toList());
    }

    /** A figure over a linear x axis. */
    public Figure(String name, String title, String xLabel, String yLabel, List<Line> lines, Boolean logY) {
        this(name, title, xLabel, yLabel, lines, logY, false);
    }

    public boolean isEmpty() {
        return lines.isEmpty();
    }

    /** Log scale when asked, or when every finite y is positive and max/min >= 100. */
    public boolean logScale() {
        if (logY != null) return logY;
        double lo = Double.POSITIVE_INFINITY, hi = 0;
        for (Line l : lines) {
            for (double v : l.y) {
                if (!Double.isFinite(v)) continue;
                if (v <= 0) return false;
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
            }
        }
        return hi > 0 && hi / lo >= 100;
    }

    /** A mutable list of lines, for code that builds figures line by line. */
    static List<Line> newLines() {
        return new ArrayList<>();
    }
}
