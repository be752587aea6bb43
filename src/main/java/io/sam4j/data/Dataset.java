package io.sam4j.data;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * An in-memory image-classification data set: {@code size()} images of {@code channels() x height() x
 * width()} unsigned-byte pixels stored contiguously in NCHW order, and one label in
 * {@code [0, numClasses())} per image.
 *
 * <p>{@link #pixels()} and {@link #labels()} return the backing arrays without copying (a training set is
 * 47 MB); callers must treat them as read-only. Instances are immutable as long as nobody writes to those
 * arrays, and so may be shared between threads.
 */
public final class Dataset {
    /** Fashion-MNIST and MNIST have ten classes. */
    public static final int IDX_NUM_CLASSES = 10;

    private final String name;
    private final int size, channels, height, width, numClasses;
    private final byte[] pixels;
    private final int[] labels;

    private Dataset(String name, int channels, int height, int width, int numClasses, byte[] pixels, int[] labels) {
        this.name = name;
        this.size = labels.length;
        this.channels = channels;
        this.height = height;
        this.width = width;
        this.numClasses = numClasses;
        this.pixels = pixels;
        this.labels = labels;
    }

    /**
     * Wraps arrays (not copied) as a data set after checking their sizes and the label range.
     *
     * @throws IllegalArgumentException if the shapes disagree or a label is outside {@code [0, numClasses)}
     */
    public static Dataset of(String name, int channels, int height, int width, int numClasses,
                             byte[] pixels, int[] labels) {
        if (channels <= 0 || height <= 0 || width <= 0 || numClasses <= 0) {
            throw new IllegalArgumentException(name + ": non-positive shape C=" + channels + " H=" + height
                    + " W=" + width + " classes=" + numClasses);
        }
        long expect = (long) labels.length * channels * height * width;
        if (expect != pixels.length) {
            throw new IllegalArgumentException(name + ": " + labels.length + " labels x " + channels + "x" + height
                    + "x" + width + " needs " + expect + " pixels, got " + pixels.length);
        }
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= numClasses) {
                throw new IllegalArgumentException(name + ": label at index " + i + " is " + labels[i]
                        + ", expected 0.." + (numClasses - 1));
            }
        }
        return new Dataset(name, channels, height, width, numClasses, pixels, labels);
    }

    /**
     * Loads an MNIST-style pair of IDX files: images {@code [N, H, W]} (one channel) and labels {@code [N]}
     * with values 0..9.
     *
     * @throws DataException naming the offending file(s) if either file is unreadable or they disagree
     */
    public static Dataset fromIdx(Path images, Path labels, String name) {
        return fromIdx(IdxReader.read(images), images.toString(), IdxReader.read(labels), labels.toString(), name);
    }

    /** As {@link #fromIdx(Path, Path, String)} for already-read files; the names are used in messages. */
    public static Dataset fromIdx(IdxReader.IdxFile img, String imagesName, IdxReader.IdxFile lab,
                                  String labelsName, String name) {
        if (img.dims().length != 3) {
            throw new DataException(imagesName + ": expected a 3-D image file [N, H, W], got dims "
                    + Arrays.toString(img.dims()));
        }
        if (lab.dims().length != 1) {
            throw new DataException(labelsName + ": expected a 1-D label file [N], got dims "
                    + Arrays.toString(lab.dims()));
        }
        int n = img.dims()[0];
        if (lab.dims()[0] != n) {
            throw new DataException(imagesName + " has " + n + " images but " + labelsName + " has "
                    + lab.dims()[0] + " labels");
        }
        byte[] raw = lab.data();
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            int v = raw[i] & 0xff;
            if (v >= IDX_NUM_CLASSES) {
                throw new DataException(labelsName + ": label at index " + i + " (byte offset " + (8 + i) + ") is "
                        + v + ", expected 0.." + (IDX_NUM_CLASSES - 1));
            }
            labels[i] = v;
        }
        return new Dataset(name, 1, img.dims()[1], img.dims()[2], IDX_NUM_CLASSES, img.data(), labels);
    }

    /**
     * The same images with other labels (e.g. from {@link Batcher#withLabelNoise}); pixels are shared.
     *
     * @throws IllegalArgumentException if the count differs or a label is out of range
     */
    public Dataset withLabels(int[] newLabels, String newName) {
        if (newLabels.length != size) {
            throw new IllegalArgumentException(name + ": " + newLabels.length + " labels for " + size + " images");
        }
        return of(newName, channels, height, width, numClasses, pixels, newLabels);
    }

    /**
     * The first {@code n} examples in stored order (pixels and labels copied), named {@code <name>[:n]}.
     *
     * @throws IllegalArgumentException unless {@code 1 <= n <= size()}
     */
    public Dataset head(int n) {
        if (n < 1 || n > size) throw new IllegalArgumentException(name + ": cannot take the first " + n + " of " + size + " examples");
        return of(name + "[:" + n + "]", channels, height, width, numClasses, Arrays.copyOf(pixels, n * imageSize()),
                Arrays.copyOf(labels, n));
    }

    public String name() { return name; }

    public int size() { return size; }

    public int channels() { return channels; }

    public int height() { return height; }

    public int width() { return width; }

    public int numClasses() { return numClasses; }

    /** Values per image, {@code C*H*W}. */
    public int imageSize() { return channels * height * width; }

    /** All pixels, uint8, {@code N*C*H*W} in NCHW order. The backing array: do not modify. */
    public byte[] pixels() { return pixels; }

    /** All labels, {@code N} values in {@code [0, numClasses)}. The backing array: do not modify. */
    public int[] labels() { return labels; }

    /** Number of examples of each class. */
    public int[] classCounts() {
        int[] c = new int[numClasses];
        for (int l : labels) c[l]++;
        return c;
    }

    @Override
    public String toString() {
        return name + " [" + size + " x " + channels + "x" + height + "x" + width + ", " + numClasses + " classes]";
    }
}
