package io.sam4j.data;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Decides where the training and test data come from.
 *
 * <ul>
 *   <li>No directory: the embedded, class-balanced Fashion-MNIST subset shipped on the class path under
 *       {@value #EMBEDDED_DIR} (12,000 training and 2,000 test images; see the README.md next to the files).
 *   <li>A directory holding IDX files: the four standard MNIST-layout files, each raw or gzip with a
 *       {@code .gz} suffix: {@code train-images-idx3-ubyte[.gz]}, {@code train-labels-idx1-ubyte[.gz]},
 *       {@code t10k-images-idx3-ubyte[.gz]}, {@code t10k-labels-idx1-ubyte[.gz]}. When both the raw and the
 *       {@code .gz} name exist, the raw one is used. (Compression is detected from the content either way.)
 *   <li>A directory holding the CIFAR-10 binary files {@code data_batch_1.bin} .. {@code data_batch_5.bin}
 *       and {@code test_batch.bin}, or the CIFAR-100 binary files {@code train.bin} and {@code test.bin}
 *       (fine labels), read by {@link CifarReader}; also when they sit in the subfolder the official archive
 *       extracts to ({@code cifar-10-batches-bin/}, {@code cifar-100-binary/}).
 * </ul>
 *
 * The format is detected from the file names present: any IDX name means IDX (then all four are required),
 * any CIFAR-10 name means CIFAR-10 (then all six), {@code train.bin} or {@code test.bin} means CIFAR-100;
 * a directory with names of two formats is rejected as ambiguous.
 */
public final class DataSource {
    /** Class-path folder of the embedded subset. */
    public static final String EMBEDDED_DIR = "/datasets/fashion-mnist-subset";
    public static final String TRAIN_IMAGES = "train-images-idx3-ubyte";
    public static final String TRAIN_LABELS = "train-labels-idx1-ubyte";
    public static final String TEST_IMAGES = "t10k-images-idx3-ubyte";
    public static final String TEST_LABELS = "t10k-labels-idx1-ubyte";

    private static final String IDX_EXPECTED = TRAIN_IMAGES + "[.gz], " + TRAIN_LABELS + "[.gz], " + TEST_IMAGES
            + "[.gz], " + TEST_LABELS + "[.gz]";
    private static final String EXPECTED = "either the four IDX files " + IDX_EXPECTED + ", or the CIFAR-10 binary "
            + "files " + CifarReader.Kind.CIFAR10.describeFiles() + ", or the CIFAR-100 binary files "
            + CifarReader.Kind.CIFAR100.describeFiles() + " (the CIFAR files directly or in "
            + CifarReader.Kind.CIFAR10.subfolder() + "/ or " + CifarReader.Kind.CIFAR100.subfolder() + "/)";

    private DataSource() {}

    /** Training and test sets plus a one-line human description of where they came from. */
    public record Split(Dataset train, Dataset test, String description) {}

    /**
     * Loads the data: the embedded subset when {@code dirOrNull} is null, otherwise the IDX or CIFAR files in
     * that directory (see the class comment).
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

    /** Loads the IDX or CIFAR files in {@code dir}, detecting the format from the names present. */
    public static Split loadDir(Path dir) {
        if (!Files.exists(dir)) {
            throw new DataException(dir + ": data directory does not exist; expected a directory holding "
                    + EXPECTED);
        }
        if (!Files.isDirectory(dir)) {
            throw new DataException(dir + ": is not a directory; expected a directory holding " + EXPECTED);
        }
        boolean idx = hasIdx(dir);
        CifarReader.Kind cifar = cifarKind(dir);
        if (idx && cifar != null) {
            throw new DataException(dir + ": holds both IDX files and " + cifar.displayName()
                    + " files; put each data set in its own directory");
        }
        if (idx) return loadIdx(dir);
        if (cifar != null) return loadCifar(dir, cifar);
        Path found = null;
        for (CifarReader.Kind k : CifarReader.Kind.values()) {
            Path sub = dir.resolve(k.subfolder());
            if (Files.isDirectory(sub) && cifarKind(sub) != null) {
                if (found != null) {
                    throw new DataException(dir + ": holds both " + found.getFileName() + "/ and " + k.subfolder()
                            + "/; pass one of them as the data directory");
                }
                found = sub;
            }
        }
        if (found != null) return loadCifar(found, cifarKind(found));
        String hint = "";
        if (Files.isRegularFile(dir.resolve("data_batch_1")) || Files.isRegularFile(dir.resolve("batches.meta"))
                || (Files.isRegularFile(dir.resolve("train")) && Files.isRegularFile(dir.resolve("meta")))
                || Files.isDirectory(dir.resolve("cifar-10-batches-py"))
                || Files.isDirectory(dir.resolve("cifar-100-python"))) {
            hint = " (this looks like the CIFAR Python pickle version; sam4j reads the binary version, "
                    + "cifar-10-binary.tar.gz / cifar-100-binary.tar.gz)";
        }
        throw new DataException(dir + ": no data set found; expected " + EXPECTED + hint);
    }

    private static boolean hasIdx(Path dir) {
        for (String base : new String[] {TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS}) {
            if (Files.isRegularFile(dir.resolve(base)) || Files.isRegularFile(dir.resolve(base + ".gz"))) return true;
        }
        return false;
    }

    /** The CIFAR format whose file names appear in {@code dir}, or null. */
    private static CifarReader.Kind cifarKind(Path dir) {
        CifarReader.Kind found = null;
        for (CifarReader.Kind k : CifarReader.Kind.values()) {
            boolean any = false;
            for (String f : k.trainFiles()) any |= Files.isRegularFile(dir.resolve(f));
            for (String f : k.testFiles()) any |= Files.isRegularFile(dir.resolve(f));
            if (!any) continue;
            if (found != null) {
                throw new DataException(dir + ": holds both " + found.displayName() + " files ("
                        + found.describeFiles() + ") and " + k.displayName() + " files (" + k.describeFiles()
                        + "); put each data set in its own directory");
            }
            found = k;
        }
        return found;
    }

    private static Split loadIdx(Path dir) {
        Path trI = find(dir, TRAIN_IMAGES), trL = find(dir, TRAIN_LABELS);
        Path teI = find(dir, TEST_IMAGES), teL = find(dir, TEST_LABELS);
        String base = baseName(dir);
        Dataset train = Dataset.fromIdx(trI, trL, base + "/train");
        Dataset test = Dataset.fromIdx(teI, teL, base + "/test");
        if (train.height() != test.height() || train.width() != test.width()) {
            throw new DataException(teI + ": test images are " + test.height() + "x" + test.width()
                    + " but training images (" + trI + ") are " + train.height() + "x" + train.width());
        }
        return new Split(train, test, "IDX files from " + dir + " (" + train.size() + " train / " + test.size()
                + " test images, " + train.height() + "x" + train.width() + ")");
    }

    private static Split loadCifar(Path dir, CifarReader.Kind kind) {
        List<Path> train = new ArrayList<>(), test = new ArrayList<>();
        for (String f : kind.trainFiles()) train.add(cifarFile(dir, kind, f));
        for (String f : kind.testFiles()) test.add(cifarFile(dir, kind, f));
        String base = baseName(dir);
        Dataset tr = CifarReader.read(kind, train, base + "/train");
        Dataset te = CifarReader.read(kind, test, base + "/test");
        return new Split(tr, te, kind.displayName() + " binary files from " + dir + " (" + tr.size() + " train / "
                + te.size() + " test images, " + tr.channels() + "x" + tr.height() + "x" + tr.width() + ", "
                + tr.numClasses() + " classes)");
    }

    private static Path cifarFile(Path dir, CifarReader.Kind kind, String name) {
        Path p = dir.resolve(name);
        if (Files.isRegularFile(p)) return p;
        throw new DataException(dir + ": missing " + name + "; a " + kind.displayName() + " directory holds "
                + kind.describeFiles());
    }

    private static String baseName(Path dir) {
        return dir.getFileName() == null ? dir.toString() : dir.getFileName().toString();
    }

    private static Path find(Path dir, String base) {
        Path raw = dir.resolve(base);
        if (Files.isRegularFile(raw)) return raw;
        Path gz = dir.resolve(base + ".gz");
        if (Files.isRegularFile(gz)) return gz;
        throw new DataException(dir + ": missing " + base + " (or " + base + ".gz); expected the four files "
                + IDX_EXPECTED);
    }
}
