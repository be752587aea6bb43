package io.sam4j.sharpness;

import io.sam4j.formats.AtomicFile;
import java.awt.Dimension;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;
import org.apache.batik.svggen.SVGGraphics2D;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.HeatMapChart;
import org.knowm.xchart.HeatMapChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.markers.SeriesMarkers;
import org.w3c.dom.Document;

/** The sharpness plots (XChart, headless): spectral density and loss landscapes, each as PNG and SVG. */
public final class SharpnessPlots {
    private SharpnessPlots() {}

    /** PyHessian's density plot: log-scale density (+1e-7) against the eigenvalue. */
    public static void spectrum(SpectralDensity.Result r, Path base) {
        XYChart c = new XYChartBuilder().width(800).height(500).title("Hessian spectral density (SLQ, " + r.runs() + " run(s), "
                + r.steps() + " steps)").xAxisTitle("eigenvalue").yAxisTitle("density (log)").build();
        c.getStyler().setYAxisLogarithmic(true).setLegendVisible(false);
        double[] y = new double[r.density().length];
        for (int i = 0; i < y.length; i++) y[i] = r.density()[i] + 1e-7;
        c.addSeries("density", r.grid(), y).setMarker(SeriesMarkers.NONE);
        write(c, base);
    }

    /** One curve per direction: loss against alpha. */
    public static void lines(List<Landscape.Line> lines, Path base) {
        XYChart c = new XYChartBuilder().width(800).height(500).title("Loss along directions (EVAL mode)")
                .xAxisTitle("alpha").yAxisTitle("loss").build();
        for (Landscape.Line l : lines) {
            c.addSeries(l.direction(), l.alphas(), l.losses()).setMarker(SeriesMarkers.NONE);
        }
        write(c, base);
    }

    /** The 2-D slice as a heat map of the loss. */
    public static void plane(Landscape.Plane p, Path base) {
        HeatMapChart c = new HeatMapChartBuilder().width(700).height(600).title("Loss over two filter-normalised directions")
                .xAxisTitle("alpha").yAxisTitle("beta").build();
        c.getStyler().setShowValue(false).setLegendVisible(true);
        java.util.List<Number[]> cells = new java.util.ArrayList<>();
        for (int i = 0; i < p.alphas().length; i++) {
            for (int j = 0; j < p.betas().length; j++) cells.add(new Number[] {i, j, p.losses()[i][j]});
        }
        java.util.List<String> xs = new java.util.ArrayList<>(), ys = new java.util.ArrayList<>();
        for (double a : p.alphas()) xs.add(String.format(java.util.Locale.ROOT, "%.2f", a));
        for (double b : p.betas()) ys.add(String.format(java.util.Locale.ROOT, "%.2f", b));
        c.addSeries("loss", xs, ys, cells);
        write(c, base);
    }

    /** {@code base.png} and {@code base.svg}, each written atomically. */
    static void write(Chart<?, ?> chart, Path base) {
        byte[] png;
        try {
            png = BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot encode a PNG: " + e.getMessage(), e);
        }
        byte[] svg = svg(chart).getBytes(StandardCharsets.UTF_8);
        AtomicFile.write(Path.of(base + ".png"), o -> o.write(png));
        AtomicFile.write(Path.of(base + ".svg"), o -> o.write(svg));
    }

    private static String svg(Chart<?, ?> chart) {
        try {
            Document doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().getDOMImplementation()
                    .createDocument("http://www.w3.org/2000/svg", "svg", null);
            SVGGraphics2D g = new SVGGraphics2D(doc);
            g.setSVGCanvasSize(new Dimension(chart.getWidth(), chart.getHeight()));
            chart.paint(g, chart.getWidth(), chart.getHeight());
            StringWriter w = new StringWriter();
            g.stream(w, true);
            g.dispose();
            return w.toString().replaceFirst("<!DOCTYPE[^>]*>\\s*", ""); // no DTD: nothing tries to fetch one
        } catch (ParserConfigurationException | IOException e) {
            throw new IllegalStateException("cannot draw an SVG: " + e.getMessage(), e);
        }
    }
}
