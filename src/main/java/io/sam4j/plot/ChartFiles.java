package io.sam4j.plot;

import io.sam4j.formats.AtomicFile;
import java.awt.Dimension;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;
import org.apache.batik.svggen.SVGGraphics2D;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.internal.chartpart.Chart;
import org.w3c.dom.Document;

/**
 * Any XChart chart as PNG bytes, as a standalone SVG document (drawn through Batik, because XChart's own SVG
 * exporter needs an LGPL library the build excludes), or as both files written atomically.
 */
public final class ChartFiles {
    private ChartFiles() {}

    /** PNG bytes of any XChart chart. */
    public static byte[] png(Chart<?, ?> chart) {
        try {
            return BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot encode a PNG: " + e.getMessage(), e);
        }
    }

    /** A standalone SVG document of any XChart chart (text kept as text). */
    public static String svg(Chart<?, ?> chart) {
        try {
            Document doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().getDOMImplementation()
                    .createDocument("http://www.w3.org/2000/svg", "svg", null);
            SVGGraphics2D g = new SVGGraphics2D(doc);
            g.setSVGCanvasSize(new Dimension(chart.getWidth(), chart.getHeight()));
            chart.paint(g, chart.getWidth(), chart.getHeight());
            StringWriter w = new StringWriter();
            g.stream(w, true);
            g.dispose();
            // SVG 1.1+ needs no DTD; without it no XML reader tries to fetch one from the network.
            return w.toString().replaceFirst("<!DOCTYPE[^>]*>\\s*", "");
        } catch (ParserConfigurationException | IOException e) {
            throw new IllegalStateException("cannot draw an SVG: " + e.getMessage(), e);
        }
    }

    /** Writes {@code dir/NAME.png} and {@code dir/NAME.svg} (creating dir); returns the PNG bytes. */
    public static byte[] write(Chart<?, ?> chart, Path dir, String name) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + dir + ": " + e.getMessage(), e);
        }
        byte[] png = png(chart);
        byte[] svg = svg(chart).getBytes(StandardCharsets.UTF_8);
        AtomicFile.write(dir.resolve(name + ".png"), o -> o.write(png));
        AtomicFile.write(dir.resolve(name + ".svg"), o -> o.write(svg));
        return png;
    }
}
