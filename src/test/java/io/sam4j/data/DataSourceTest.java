package io.sam4j.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class DataSourceTest {
    /** The Debian package's location; tests that need it skip when it is absent. */
    static final Path FULL = Path.of("/usr/share/datasets/fashion-mnist");

    @TempDir
    Path dir;

    @Test
    void embeddedSubset() {
        DataSource.Split s = DataSource.load(null);
        assertEquals(12000, s.train().size());
        assertEquals(2000, s.test().size());
        for (Dataset d : new Dataset[] {s.train(), s.test()}) {
            assertEquals(1, d.channels());
            assertEquals(28, d.height());
            assertEquals(28, d.width());
            assertEquals(10, d.numClasses());
        }
        int[] tr = new int[10], te = new int[10];
        Arrays.fill(tr, 1200);
        Arrays.fill(te, 200);
        assertArrayEquals(tr, s.train().classCounts());
        assertArrayEquals(te, s.test().classCounts());
        assertTrue(s.description().contains("embedded"), s.description());
        // classes stay interleaved as in the source file, not sorted
        assertNotEquals(s.train().labels()[0], s.train().labels()[1]);
    }

    @Test
    void directoryWithRawAndGzFiles() {
        write(dir, "train-images-idx3-ubyte", new int[] {4, 3, 3}, false);
        write(dir, "train-labels-idx1-ubyte.gz", new int[] {4}, true);
        write(dir, "t10k-images-idx3-ubyte.gz", new int[] {2, 3, 3}, true);
        write(dir, "t10k-labels-idx1-ubyte", new int[] {2}, false);
        DataSource.Split s = DataSource.load(dir);
        assertEquals(4, s.train().size());
        assertEquals(2, s.test().size());
        assertEquals(3, s.train().height());
        assertTrue(s.description().contains(dir.toString()), s.description());
    }

    @Test
    void missingDirectoryAndFiles() {
        Path nope = dir.resolve("nope");
        DataException e = assertThrows(DataException.class, () -> DataSource.load(nope));
        assertTrue(e.getMessage().startsWith(nope + ": data directory does not exist"), e.getMessage());
        assertTrue(e.getMessage().contains("t10k-labels-idx1-ubyte[.gz]"), e.getMessage());

        write(dir, "train-images-idx3-ubyte", new int[] {4, 3, 3}, false);
        write(dir, "train-labels-idx1-ubyte", new int[] {4}, false);
        write(dir, "t10k-images-idx3-ubyte", new int[] {2, 3, 3}, false);
        e = assertThrows(DataException.class, () -> DataSource.load(dir));
        assertTrue(e.getMessage().startsWith(dir + ": missing t10k-labels-idx1-ubyte (or t10k-labels-idx1-ubyte.gz)"),
                e.getMessage());
        assertFalse(e.getMessage().contains("\n"));

        Path file = dir.resolve("train-images-idx3-ubyte");
        e = assertThrows(DataException.class, () -> DataSource.load(file));
        assertTrue(e.getMessage().startsWith(file + ": is not a directory"), e.getMessage());
    }

    @Test
    void fullFashionMnistIfInstalled() {
        assumeTrue(Files.isDirectory(FULL), "Fashion-MNIST not installed at " + FULL);
        DataSource.Split s = DataSource.load(FULL);
        assertEquals(60000, s.train().size());
        assertEquals(10000, s.test().size());
        assertEquals(28, s.train().height());
        int[] tr = new int[10], te = new int[10];
        Arrays.fill(tr, 6000);
        Arrays.fill(te, 1000);
        assertArrayEquals(tr, s.train().classCounts());
        assertArrayEquals(te, s.test().classCounts());

        // The embedded subset is exactly what MakeSubset selects from the full data.
        DataSource.Split sub = DataSource.load(null);
        Dataset expTrain = MakeSubset.subset(s.train(), MakeSubset.TRAIN_PER_CLASS);
        Dataset expTest = MakeSubset.subset(s.test(), MakeSubset.TEST_PER_CLASS);
        assertArrayEquals(expTrain.labels(), sub.train().labels());
        assertArrayEquals(expTrain.pixels(), sub.train().pixels());
        assertArrayEquals(expTest.labels(), sub.test().labels());
        assertArrayEquals(expTest.pixels(), sub.test().pixels());
    }

    private static void write(Path dir, String name, int[] dims, boolean gzip) {
        int n = 1;
        for (int d : dims) n *= d;
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte) (dims.length == 1 ? i % 10 : i);
        IdxReader.write(dir.resolve(name), dims, b, gzip);
    }
}
