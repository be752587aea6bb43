package io.sam4j.data;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Decides where the training and test data come from.
 *
 * <ul>
 *   <li>No directory: the embedded, class-balanced Fashion-MNIST subset shipped on the class path under
 *       {@value #EMBEDDED_DIR} (12,000 training and 2,000 test images; see the README.md next to the files).
 *   <li>A directory: it must hold the four standard MNIST-layout files, each raw or gzip with a
 *       {@code .gz} suffix: {@code train-images-idx3-ubyte[.gz]}, {@code train-labels-idx1-ubyte[.gz]},
 *       {@code t10k-images-idx3-ubyte[.gz]}, {@code t10k-labels-idx1-ubyte[.gz]}. When both the raw and the
 *       {@code .gz} name exist, the raw one is used. (Compression is detected from the content either way.)
 * </ul>
 */
public final class DataSource {
    /** Class-path folder of the embedded subset. */
    public static final String EMBEDDED_DIR = "/datasets/fashion-mnist-subset";
    public static final String TRAIN_IMAGES = "train-images-idx3-ubyte";
    public static final String TRAIN_LABELS = "train-labels-idx1-ubyte";
    public static final String TEST_IMAGES = "t10k-images-idx3-ubyte";
    public static final String TEST_LABELS = "t10k-labels-idx1-ubyte";

    private static final String EXPECTED = TRAIN_IMAGES + "[.gz], " + TRAIN_LABELS + "[.gz], " + TEST_IMAGES
            + "[.gz], " + TEST_LABELS + "[.gz]";

    private DataSource() {}

    /** Training and test sets plus a one-line human description of where they came from. */
    public record Split(Dataset train, Dataset test, String description) {}

    /**
     * Loads the data: the embedded subset when {@code dirOrNull} is null, otherwise the four IDX files in
     * that directory.
     *
     * @throws DataException one line naming the missing/broken path and what was expected
     */
    public static Split load(Path dirOrNull) {
        return dirOrNull == null ? loadEmbedded() : loadDir(dirOrNull);
    }

    /** The embedded class-balanced subset. */
    public static Split loadEmbedded() {
        Dataset train = Dataset.fromIdx(resource(TRAIN_IMAGES), EMBEDDED_DIR + "/" + TRAIN_IMAGES + ".gz",
                resource(TRAIN_LABELS), EMBEDDED_DIR + "/" + TRAIN_LABELS + ".gz", "fashion-mnist-subset/train");
        Dataset test = Dataset.fromIdx(resource(TEST_IMAGES), EMBEDDED_DIR + "/" + TEST_IMAGES + ".gz",
                resource(TEST_LABELS), EMBEDDED_DIR + "/" + TEST_LABELS + ".gz", "fashion-mnist-subset/test");
        return new Split(train, test, "embedded Fashion-MNIST subset (class-balanced, " + train.size()
                + " train / " + test.size() + " test images, " + train.height() + "x" + train.width() + ")");
    }

    private static IdxReader.IdxFile resource(String base) {
        String path = EMBEDDED_DIR + "/" + base + ".gz";
        try (InputStream in = DataSource.class.getResourceAsStream(path)) {
            if (in == null) {
                throw new DataException("class-path resource " + path + " not found: the embedded data set is "
                        + "missing from this build (the jar must include the datasets/ folder); pass a data "
                        + "directory instead");
            }
            return IdxReader.read(in, "class-path resource " + path);
        } catch (IOException e) {
            throw new DataException("class-path resource " + path + ": read error: " + e.getMessage(), e);
        }
    }

    /** Loads the four standard files from {@code dir}. */
    public static Split loadDir(Path dir) {
        if (!Files.exists(dir)) {
            throw new DataException(dir + ": data directory does not exist; expected a directory holding "
                    + EXPECTED);
        }
        if (!Files.isDirectory(dir)) {
            throw new DataException(dir + ": is not a directory; expected a directory holding " + EXPECTED);
        }
        Path trI = find(dir, TRAIN_IMAGES), trL = find(dir, TRAIN_LABELS);
        Path teI = find(dir, TEST_IMAGES), teL = find(dir, TEST_LABELS);
        String base = dir.getFileName() == null ? dir.toString() : dir.getFileName().toString();
        Dataset train = Dataset.fromIdx(trI, trL, base + "/train");
        Dataset test = Dataset.fromIdx(teI, teL, base + "/test");
        if (train.height() != test.height() || train.width() != test.width()) {
            throw new DataException(teI + ": test images are " + test.height() + "x" + test.width()
                    + " but training images (" + trI + ") are " + train.height() + "x" + train.width());
        }
        return new Split(train, test, "IDX files from " + dir + " (" + train.size() + " train / " + test.size()
                + " test images, " + train.height() + "x" + train.width() + ")");
    }

    private static Path find(Path dir, String base) {
        Path raw = dir.resolve(base);
        if (Files.isRegularFile(raw)) return raw;
        Path gz = dir.resolve(base + ".gz");
        if (Files.isRegularFile(gz)) return gz;
        throw new DataException(dir + ": missing " + base + " (or " + base + ".gz); expected the four files "
                + EXPECTED);
    }
}
