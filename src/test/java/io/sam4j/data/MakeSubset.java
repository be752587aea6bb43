package io.sam4j.data;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Builds the embedded class-balanced Fashion-MNIST subset in {@code datasets/fashion-mnist-subset/}: the
 * first {@value #TRAIN_PER_CLASS} images of each class of the training set and the first
 * {@value #TEST_PER_CLASS} of each class of the test set, kept in their original file order, written as gzip
 * IDX files with the standard names.
 *
 * <pre>
 * mvn -q -B test-compile
 * /usr/lib/jvm/temurin-25-jdk-amd64/bin/java -cp target/classes:target/test-classes \
 *     io.sam4j.data.MakeSubset /usr/share/datasets/fashion-mnist datasets/fashion-mnist-subset
 * </pre>
 */
public final class MakeSubset {
    static final int TRAIN_PER_CLASS = 1200;
    static final int TEST_PER_CLASS = 200;

    private MakeSubset() {}

    public static void main(String[] args) {
        Path src = Path.of(args.length > 0 ? args[0] : "/usr/share/datasets/fashion-mnist");
        Path out = Path.of(args.length > 1 ? args[1] : "datasets/fashion-mnist-subset");
        try {
            Files.createDirectories(out);
        } catch (java.io.IOException e) {
            throw new DataException(out + ": cannot create directory: " + e.getMessage(), e);
        }
        DataSource.Split full = DataSource.loadDir(src);
        write(subset(full.train(), TRAIN_PER_CLASS), out, "train");
        write(subset(full.test(), TEST_PER_CLASS), out, "t10k");
        System.out.println("wrote " + out.toAbsolutePath());
    }

    /** The first {@code perClass} examples of each class, in file order. */
    static Dataset subset(Dataset d, int perClass) {
        int k = d.numClasses();
        int[] taken = new int[k];
        int n = 0;
        int[] keep = new int[perClass * k];
        for (int i = 0; i < d.size() && n < keep.length; i++) {
            int l = d.labels()[i];
            if (taken[l] < perClass) {
                taken[l]++;
                keep[n++] = i;
            }
        }
        for (int c = 0; c < k; c++) {
            if (taken[c] != perClass) {
                throw new DataException(d.name() + ": class " + c + " has only " + taken[c] + " examples, need "
                        + perClass);
            }
        }
        int img = d.imageSize();
        byte[] px = new byte[n * img];
        int[] lab = new int[n];
        for (int j = 0; j < n; j++) {
            System.arraycopy(d.pixels(), keep[j] * img, px, j * img, img);
            lab[j] = d.labels()[keep[j]];
        }
        return Dataset.of(d.name() + "-subset", d.channels(), d.height(), d.width(), k, px, lab);
    }

    private static void write(Dataset d, Path out, String prefix) {
        byte[] lab = new byte[d.size()];
        for (int i = 0; i < lab.length; i++) lab[i] = (byte) d.labels()[i];
        IdxReader.write(out.resolve(prefix + "-images-idx3-ubyte.gz"), new int[] {d.size(), d.height(), d.width()},
                d.pixels(), true);
        IdxReader.write(out.resolve(prefix + "-labels-idx1-ubyte.gz"), new int[] {d.size()}, lab, true);
    }
}
