package io.sam4j.report;

import java.awt.BasicStroke;
import java.awt.Color;
import java.nio.file.Files;
import java.util.Arrays;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Draws {@link Figure}s with XChart, headless: PNG through XChart's bitmap encoder, SVG by painting the same
 * chart onto Batik's SVG-writing Graphics2D. Files are written atomically.
 */
public final class Charts {
    static {
        // Before any AWT class loads: no display is needed or wanted (servers, CI, MPI ranks).
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    public static final int WIDTH = 640, HEIGHT = 400;
    /** Tableau-like palette, distinguishable in colour and in grey. */
    static final Color[] PALETTE = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c), new Color(0xff7f0e),
            new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2), new Color(0x7f7f7f), new Color(0xbcbd22), new Color(0x17becf)};

    private Charts() {}

    /** The figure as an XChart chart. */
    public static XYChart chart(Figure f) {
        boolean outside = legendOutside(f);
        int width = outside ? WIDTH + legendWidth(f) : WIDTH;
        XYChart c = new XYChartBuilder().width(width).height(HEIGHT).title(f.title()).xAxisTitle(f.xLabel()).yAxisTitle(f.yLabel()).build();
        boolean log = f.logScale();
        var st = c.getStyler();
        st.setChartBackgroundColor(Color.WHITE);
        st.setPlotBorderVisible(true);
        st.setLegendPosition(outside ? Styler.LegendPosition.OutsideE : Styler.LegendPosition.InsideNE);
        st.setLegendBackgroundColor(new Color(255, 255, 255, 200));
        st.setYAxisLogarithmic(log);
        st.setXAxisLogarithmic(f.logX());
        st.setXAxisDecimalPattern(f.logX() && minPositiveX(f) < 1e-3 ? "0.###E0" : "#,##0.####");
        st.setXAxisTickMarkSpacingHint(90);
        st.setYAxisDecimalPattern(log ? "0.###E0" : "#,##0.####");
        st.setLegendVisible(f.lines().stream().filter(l -> l.label() != null).count() > 1);
        int colour = 0;
        for (Figure.Line l : f.lines()) {
            Color col = l.color() != null ? l.color() : PALETTE[colour++ % PALETTE.length];
            addLine(c, l, col, log, f.logX(), outside);
        }
        return c;
    }

    /**
     * The legend goes to the right of the plot, on a wider image, when it would cover much of it: more than four
     * entries, or values against a setting (their points spread over the whole plot, no corner is free).
     */
    private static boolean legendOutside(Figure f) {
        long entries = f.lines().stream().filter(l -> l.label() != null && l.style() != Figure.Style.BAND).count();
        return entries > 4 || (entries > 1 && f.lines().stream().anyMatch(l -> l.style() == Figure.Style.ERROR_BARS));
    }

    /** Room for the longest legend line (about 7 pixels a character at XChart's legend font). */
    private static int legendWidth(Figure f) {
        int chars = f.lines().stream().filter(l -> l.label() != null)
                .flatMapToInt(l -> wrap(l.label()).lines().mapToInt(String::length)).max().orElse(0);
        return 60 + 7 * chars;
    }

    /** Legend lines of at most this many characters, so that long group names do not squeeze the plot. */
    static final int LEGEND_LINE = 48;

    /** The label broken at spaces into lines of at most {@link #LEGEND_LINE} characters (XChart draws "\n" as a new line). */
    static String wrap(String label) {
        StringBuilder out = new StringBuilder();
        int lineLength = 0;
        for (String word : label.split(" ")) {
            if (lineLength > 0 && lineLength + 1 + word.length() > LEGEND_LINE) {
                out.append('\n');
                lineLength = 0;
            } else if (lineLength > 0) {
                out.append(' ');
                lineLength++;
            }
            out.append(word);
            lineLength += word.length();
        }
        return out.toString();
    }

    private static double minPositiveX(Figure f) {
        double min = Double.POSITIVE_INFINITY;
        for (Figure.Line l : f.lines()) for (double x : l.x()) if (x > 0) min = Math.min(min, x);
        return min;
    }

    private static void addLine(XYChart c, Figure.Line l, Color col, boolean logY, boolean logX, boolean wrapLabel) {
        double[][] xy = finite(l, logY, logX);
        if (xy[0].length == 0) return;
        // XChart needs a unique name per series, also for lines kept out of the legend.
        String name = l.label() == null ? "unlabelled " + c.getSeriesMap().size() : wrapLabel ? wrap(l.label()) : l.label();
        XYSeries s = c.addSeries(name, xy[0], xy[1]);
        s.setLineColor(col);
        s.setMarkerColor(col);
        s.setShowInLegend(l.label() != null);
        switch (l.style()) {
            case TRACE -> {
                s.setLineColor(new Color(col.getRed(), col.getGreen(), col.getBlue(), 90));
                s.setLineStyle(new BasicStroke(1f));
                s.setMarker(SeriesMarkers.NONE);
            }
            case EPOCHS -> {
                s.setLineStyle(new BasicStroke(2f));
                s.setMarker(xy[0].length <= 60 ? SeriesMarkers.CIRCLE : SeriesMarkers.NONE);
            }
            case LINE -> {
                s.setLineStyle(new BasicStroke(1.6f));
                s.setMarker(SeriesMarkers.NONE);
            }
            case BAND -> {
                s.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.PolygonArea);
                s.setFillColor(new Color(col.getRed(), col.getGreen(), col.getBlue(), 60));
                s.setLineColor(new Color(0, 0, 0, 0));
                s.setMarker(SeriesMarkers.NONE);
                s.setShowInLegend(false);
            }
            case ERROR_BARS -> {
                s.setLineStyle(new BasicStroke(2f));
                s.setMarker(SeriesMarkers.CIRCLE);
                addErrorBars(c, name, l, col, logY, logX);
            }
            case CROSSES -> {
                s.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
                s.setMarker(SeriesMarkers.CROSS);
            }
        }
    }

    /**
     * One vertical bar per point from y - spread to y + spread, as a two-point series kept out of the legend
     * (drawn by hand so that a log axis can cut a bar at its lower end instead of dropping it).
     */
    private static void addErrorBars(XYChart c, String name, Figure.Line l, Color col, boolean logY, boolean logX) {
        if (l.spread() == null) return;
        for (int i = 0; i < Math.min(l.x().length, l.y().length); i++) {
            double x = l.x()[i], y = l.y()[i], s = i < l.spread().length ? l.spread()[i] : 0;
            if (!Double.isFinite(x) || !Double.isFinite(y) || !Double.isFinite(s) || s <= 0 || (logX && x <= 0) || (logY && y <= 0)) continue;
            double lo = logY && y - s <= 0 ? y : y - s;
            XYSeries bar = c.addSeries(name + " error bar " + i, new double[] {x, x}, new double[] {lo, y + s});
            bar.setLineColor(col);
            bar.setLineStyle(new BasicStroke(1.5f));
            bar.setMarker(SeriesMarkers.NONE);
            bar.setShowInLegend(false);
        }
    }

    /** The drawable points: finite, positive on a log axis; a band becomes its closed outline y+s forward, y-s back. */
    private static double[][] finite(Figure.Line l, boolean log, boolean logX) {
        int n = Math.min(l.x().length, l.y().length);
        double[] x = new double[n], lo = new double[n], hi = new double[n];
        int k = 0;
        for (int i = 0; i < n; i++) {
            double s = l.spread() != null && l.style() == Figure.Style.BAND ? l.spread()[i] : 0;
            double a = l.y()[i] - s, b = l.y()[i] + s;
            if (!Double.isFinite(l.x()[i]) || !Double.isFinite(a) || !Double.isFinite(b) || (log && a <= 0) || (logX && l.x()[i] <= 0)) continue;
            x[k] = l.x()[i];
            lo[k] = a;
            hi[k++] = b;
        }
        if (l.style() == Figure.Style.TRACE && k > 2 * MAX_TRACE_BUCKETS) return envelope(x, hi, k);
        if (l.style() != Figure.Style.BAND) return new double[][] {Arrays.copyOf(x, k), Arrays.copyOf(hi, k)};
        double[] px = new double[2 * k], py = new double[2 * k];
        for (int i = 0; i < k; i++) {
            px[i] = x[i];
            py[i] = hi[i];
            px[2 * k - 1 - i] = x[i];
            py[2 * k - 1 - i] = lo[i];
        }
        return new double[][] {px, py};
    }

    /** Long per-step traces are drawn as their envelope over this many buckets (small SVGs, same look). */
    static final int MAX_TRACE_BUCKETS = 600;

    /** The minimum and the maximum of each bucket of consecutive points, in x order. */
    private static double[][] envelope(double[] x, double[] y, int n) {
        double[] ox = new double[2 * MAX_TRACE_BUCKETS], oy = new double[2 * MAX_TRACE_BUCKETS];
        int k = 0;
        for (int b = 0; b < MAX_TRACE_BUCKETS; b++) {
            int from = (int) ((long) n * b / MAX_TRACE_BUCKETS), to = (int) ((long) n * (b + 1) / MAX_TRACE_BUCKETS);
            int lo = from, hi = from;
            for (int i = from; i < to; i++) {
                if (y[i] < y[lo]) lo = i;
                if (y[i] > y[hi]) hi = i;
            }
            int first = Math.min(lo, hi), second = Math.max(lo, hi);
            ox[k] = x[first];
            oy[k++] = y[first];
            if (second != first) {
                ox[k] = x[second];
                oy[k++] = y[second];
            }
        }
        return new double[][] {Arrays.copyOf(ox, k), Arrays.copyOf(oy, k)};
    }
}
