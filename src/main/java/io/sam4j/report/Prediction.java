package io.sam4j.report;

import io.sam4j.data.IdxReader;
import io.sam4j.nn.Mode;
import io.sam4j.nn.Model;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/**
 * Classifies images with a run's model: top-k classes with softmax probabilities. Inputs are PNG/JPEG files
 * (read with ImageIO, converted to the model's channels: luma for one channel, RGB for three; scaled to its
 * height and width with bilinear interpolation when the size differs; pixels taken as they are, so a
 * Fashion-MNIST-like image is a light object on a black background) or IDX image files (every image in them).
 * Pixels are then normalised exactly as the run's training data were.
 */
public final class Prediction {
    /** One input's top-k: classes in decreasing probability. */
    public record Result(String input, int[] classes, double[] probabilities) {
        public int top() {
            return classes[0];
        }

        public String toText() {
            StringBuilder sb = new StringBuilder(input).append(':');
            for (int i = 0; i < classes.length; i++) sb.append(String.format(Locale.ROOT, " %d (%.4f)", classes[i], probabilities[i]));
            return sb.toString();
        }
    }

    private Prediction() {}

    /** Top-k of every input file (PNG/JPEG: one image; IDX: every image, named FILE[i]). */
    public static List<Result> predict(RunModel rm, List<Path> inputs, int k) {
        int[] shape = rm.model().inputShape();
        List<String> names = new ArrayList<>();
        List<byte[]> images = new ArrayList<>();
        for (Path p : inputs) {
            if (!Files.isRegularFile(p)) throw new IllegalArgumentException(p + ": no such file");
            if (isIdx(p)) {
                byte[][] all = idxImages(p, shape);
                for (int i = 0; i < all.length; i++) {
                    names.add(p + "[" + i + "]");
                    images.add(all[i]);
                }
            } else {
                names.add(p.toString());
                images.add(pixels(p, shape));
            }
        }
        return classify(rm, names, images, Math.min(k, rm.model().classes()));
    }

    private static List<Result> classify(RunModel rm, List<String> names, List<byte[]> images, int k) {
        Model m = rm.model();
        int size = (int) m.inputSize(), batch = 256, classes = m.classes();
        List<Result> out = new ArrayList<>();
        try (Arena arena = Arena.ofShared()) {
            MemorySegment x = arena.allocate(4L * batch * size, 64);
            for (int from = 0; from < images.size(); from += batch) {
                int n = Math.min(batch, images.size() - from);
                for (int i = 0; i < n; i++) rm.normalizer().apply(images.get(from + i), 0, size, x, (long) i * size);
                MemorySegment logits = m.logits(x, n, Mode.EVAL);
                for (int i = 0; i < n; i++) out.add(topK(names.get(from + i), logits, (long) i * classes, classes, k));
            }
        }
        return out;
    }

    /** Softmax in double, then the k largest (ties: lower class first). */
    static Result topK(String name, MemorySegment logits, long row, int classes, int k) {
        double[] p = new double[classes];
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int j = 0; j < classes; j++) max = Math.max(max, logits.getAtIndex(ValueLayout.JAVA_FLOAT, row + j));
        for (int j = 0; j < classes; j++) sum += p[j] = Math.exp(logits.getAtIndex(ValueLayout.JAVA_FLOAT, row + j) - max);
        Integer[] order = new Integer[classes];
        for (int j = 0; j < classes; j++) order[j] = j;
        Arrays.sort(order, (a, b) -> p[a] != p[b] ? Double.compare(p[b], p[a]) : Integer.compare(a, b));
        int[] cls = new int[k];
        double[] prob = new double[k];
        for (int i = 0; i < k; i++) {
            cls[i] = order[i];
            prob[i] = p[order[i]] / sum;
        }
        return new Result(name, cls, prob);
    }

    private static boolean isIdx(Path p) {
        String n = p.getFileName().toString();
        return n.contains("idx") || n.endsWith(".ubyte") || n.endsWith(".ubyte.gz");
    }

    private static byte[][] idxImages(Path p, int[] shape) {
        IdxReader.IdxFile f = IdxReader.read(p);
        int[] d = f.dims();
        boolean gray = d.length == 3 && shape[0] == 1 && d[1] == shape[1] && d[2] == shape[2];
        boolean chw = d.length == 4 && d[1] == shape[0] && d[2] == shape[1] && d[3] == shape[2];
        if (!gray && !chw) {
            throw new IllegalArgumentException(p + ": IDX images of shape " + Arrays.toString(d) + " do not fit the model's input "
                    + shape[0] + "x" + shape[1] + "x" + shape[2]);
        }
        int size = shape[0] * shape[1] * shape[2];
        byte[][] out = new byte[d[0]][];
        for (int i = 0; i < out.length; i++) out[i] = Arrays.copyOfRange(f.data(), i * size, (i + 1) * size);
        return out;
    }

    /** An image file as CHW unsigned bytes of the model's shape. */
    static byte[] pixels(Path p, int[] shape) {
        BufferedImage img;
        try {
            img = ImageIO.read(p.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(p + ": cannot read the image: " + e.getMessage());
        }
        if (img == null) throw new IllegalArgumentException(p + ": not an image ImageIO can read (PNG, JPEG, GIF, BMP)");
        int c = shape[0], h = shape[1], w = shape[2];
        if (c != 1 && c != 3) throw new IllegalArgumentException("the model takes " + c + " channels; images give 1 or 3");
        img = rawRgb(img);
        if (img.getWidth() != w || img.getHeight() != h) img = scaled(img, w, h);
        byte[] out = new byte[c * h * w];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int rgb = img.getRGB(x, y), r = (rgb >> 16) & 0xff, g = (rgb >> 8) & 0xff, b = rgb & 0xff;
                if (c == 1) {
                    // A grey image has r = g = b here (see rawRgb), so this keeps its values exactly.
                    out[y * w + x] = (byte) Math.round(0.299 * r + 0.587 * g + 0.114 * b);
                } else {
                    out[y * w + x] = (byte) r;
                    out[h * w + y * w + x] = (byte) g;
                    out[2 * h * w + y * w + x] = (byte) b;
                }
            }
        }
        return out;
    }

    /**
     * The image as RGB. A one-band (grey) image is copied sample by sample: getRGB would map its linear grey
     * colour space to sRGB and change every value.
     */
    private static BufferedImage rawRgb(BufferedImage img) {
        var raster = img.getRaster();
        if (raster.getNumBands() != 1) return img;
        int bits = raster.getSampleModel().getSampleSize(0);
        BufferedImage out = new BufferedImage(img.getWidth(), img.getHeight(), BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                int v = raster.getSample(x, y, 0);
                v = bits == 8 ? v : bits < 8 ? v * 255 / ((1 << bits) - 1) : v >> (bits - 8);
                out.setRGB(x, y, v << 16 | v << 8 | v);
            }
        }
        return out;
    }

    private static BufferedImage scaled(BufferedImage img, int w, int h) {
        BufferedImage s = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = s.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.drawImage(img, 0, 0, w, h, null);
        g.dispose();
        return s;
    }
}
