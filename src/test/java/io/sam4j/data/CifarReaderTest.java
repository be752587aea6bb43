package io.sam4j.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class CifarReaderTest {
    @TempDir
    Path dir;

    /** The pixel the generated files hold for global image g, channel c, row y, column x. */
    static int pixel(int g, int c, int y, int x) {
        return (g * 7 + c * 50 + y * 3 + x * 5) & 0xff;
    }

    /**
     * Writes {@code labels.length} records in the official layout by hand (independently of
     * {@link CifarReader#write}); images are numbered from {@code firstImage}. For CIFAR-100 the coarse label
     * written is {@code fine / 5}.
     */
    static void writeRaw(Path file, CifarReader.Kind kind, int firstImage, int... labels) throws IOException {
        int rec = kind.recordBytes(), lb = kind.labelBytes();
        byte[] b = new byte[labels.length * rec];
        for (int i = 0; i < labels.length; i++) {
            int p = i * rec;
            if (lb == 2) b[p] = (byte) (labels[i] / 5);
            b[p + lb - 1] = (byte) labels[i];
            for (int c = 0; c < 3; c++) {
                for (int y = 0; y < 32; y++) {
                    for (int x = 0; x < 32; x++) b[p + lb + c * 1024 + y * 32 + x] = (byte) pixel(firstImage + i, c, y, x);
                }
            }
        }
        Files.createDirectories(file.getParent());
        Files.write(file, b);
    }

    static void assertImages(Dataset d, int firstImage) {
        assertEquals(3, d.channels());
        assertEquals(32, d.height());
        assertEquals(32, d.width());
        byte[] px = d.pixels();
        for (int i = 0; i < d.size(); i++) {
            for (int c = 0; c < 3; c++) {
                for (int y = 0; y < 32; y++) {
                    for (int x = 0; x < 32; x++) {
                        assertEquals(pixel(firstImage + i, c, y, x), px[i * 3072 + c * 1024 + y * 32 + x] & 0xff,
                                "image " + i + " c" + c + " y" + y + " x" + x);
                    }
                }
            }
        }
    }

    /** Writes a CIFAR-10 folder: five training batches of 2, 1, 2, 1, 2 images and a test batch of 3. */
    static void cifar10Folder(Path d) throws IOException {
        int[][] batches = {{0, 9}, {3}, {5, 5}, {1}, {2, 8}};
        int img = 0;
        for (int b = 0; b < 5; b++) {
            writeRaw(d.resolve("data_batch_" + (b + 1) + ".bin"), CifarReader.Kind.CIFAR10, img, batches[b]);
            img += batches[b].length;
        }
        writeRaw(d.resolve("test_batch.bin"), CifarReader.Kind.CIFAR10, 100, 7, 0, 4);
    }

    static void cifar100Folder(Path d) throws IOException {
        writeRaw(d.resolve("train.bin"), CifarReader.Kind.CIFAR100, 0, 99, 0, 42, 17);
        writeRaw(d.resolve("test.bin"), CifarReader.Kind.CIFAR100, 50, 63, 1);
    }

    @Test
    void cifar10FilesConcatenateInOrder() throws IOException {
        cifar10Folder(dir);
        List<Path> files = CifarReader.Kind.CIFAR10.trainFiles().stream().map(dir::resolve).toList();
        Dataset d = CifarReader.read(CifarReader.Kind.CIFAR10, files, "c10");
        assertEquals("c10", d.name());
        assertEquals(8, d.size());
        assertEquals(10, d.numClasses());
        assertArrayEquals(new int[] {0, 9, 3, 5, 5, 1, 2, 8}, d.labels());
        assertImages(d, 0);
        Dataset t = CifarReader.read(CifarReader.Kind.CIFAR10, dir.resolve("test_batch.bin"), "t");
        assertArrayEquals(new int[] {7, 0, 4}, t.labels());
        assertImages(t, 100);
    }

    @Test
    void cifar100UsesFineLabels() throws IOException {
        cifar100Folder(dir);
        Dataset d = CifarReader.read(CifarReader.Kind.CIFAR100, dir.resolve("train.bin"), "c100");
        assertEquals(100, d.numClasses());
        assertArrayEquals(new int[] {99, 0, 42, 17}, d.labels());
        assertImages(d, 0);
    }

    @Test
    void writerRoundTrip() {
        for (CifarReader.Kind kind : CifarReader.Kind.values()) {
            byte[] px = new byte[3 * 3072];
            for (int i = 0; i < px.length; i++) px[i] = (byte) (i * 31 + 7);
            int[] labels = {kind.numClasses() - 1, 0, 3};
            Path f = dir.resolve(kind + ".bin");
            CifarReader.write(kind, f, px, labels, kind == CifarReader.Kind.CIFAR100 ? new int[] {19, 0, 4} : null);
            Dataset d = CifarReader.read(kind, f, "w");
            assertArrayEquals(labels, d.labels());
            assertArrayEquals(px, d.pixels());
        }
        assertThrows(IllegalArgumentException.class,
                () -> CifarReader.write(CifarReader.Kind.CIFAR10, dir.resolve("x"), new byte[3072], new int[] {10}, null));
        assertThrows(IllegalArgumentException.class,
                () -> CifarReader.write(CifarReader.Kind.CIFAR10, dir.resolve("x"), new byte[3071], new int[] {1}, null));
        assertThrows(IllegalArgumentException.class,
                () -> CifarReader.write(CifarReader.Kind.CIFAR10, dir.resolve("x"), new byte[3072], new int[] {1}, new int[] {0}));
    }

    @Test
    void truncatedFileNamesTheIncompleteRecord() throws IOException {
        Path f = dir.resolve("data_batch_1.bin");
        writeRaw(f, CifarReader.Kind.CIFAR10, 0, 1, 2, 3);
        byte[] b = Files.readAllBytes(f);
        Files.write(f, Arrays.copyOf(b, 2 * 3073 + 100));
        DataException e = assertThrows(DataException.class, () -> CifarReader.read(CifarReader.Kind.CIFAR10, f, "x"));
        assertEquals(f + ": truncated at byte offset 6146: record 2 has only 100 of 3073 bytes (the file size 6246 "
                + "is not a multiple of the 3073-byte CIFAR-10 record)", e.getMessage());

        Path g = dir.resolve("train.bin");
        Files.write(g, new byte[3074 - 1]);
        e = assertThrows(DataException.class, () -> CifarReader.read(CifarReader.Kind.CIFAR100, g, "x"));
        assertTrue(e.getMessage().startsWith(g + ": truncated at byte offset 0: record 0 has only 3073 of 3074 bytes"),
                e.getMessage());

        Files.write(g, new byte[0]);
        e = assertThrows(DataException.class, () -> CifarReader.read(CifarReader.Kind.CIFAR100, g, "x"));
        assertEquals(g + ": empty file, expected CIFAR-100 records of 3074 bytes", e.getMessage());

        Path none = dir.resolve("nope.bin");
        e = assertThrows(DataException.class, () -> CifarReader.read(CifarReader.Kind.CIFAR10, none, "x"));
        assertEquals(none + ": no such file", e.getMessage());
    }

    @Test
    void labelOutOfRangeNamesRecordAndValue() throws IOException {
        Path f = dir.resolve("test_batch.bin");
        writeRaw(f, CifarReader.Kind.CIFAR10, 0, 4, 10, 2);
        DataException e = assertThrows(DataException.class, () -> CifarReader.read(CifarReader.Kind.CIFAR10, f, "x"));
        assertEquals(f + ": label of record 1 (byte offset 3073) is 10, expected 0..9", e.getMessage());

        Path g = dir.resolve("test.bin");
        writeRaw(g, CifarReader.Kind.CIFAR100, 0, 3, 5, 7); // coarse = fine / 5, all valid
        byte[] b = Files.readAllBytes(g);
        b[2 * 3074 + 1] = (byte) 200; // fine label of record 2
        Files.write(g, b);
        e = assertThrows(DataException.class, () -> CifarReader.read(CifarReader.Kind.CIFAR100, g, "x"));
        assertEquals(g + ": fine label of record 2 (byte offset 6149) is 200, expected 0..99", e.getMessage());
        b[2 * 3074 + 1] = 7;
        b[3074] = 20; // coarse label of record 1
        Files.write(g, b);
        e = assertThrows(DataException.class, () -> CifarReader.read(CifarReader.Kind.CIFAR100, g, "x"));
        assertEquals(g + ": coarse label of record 1 (byte offset 3074) is 20, expected 0..19", e.getMessage());
    }

    // ---- DataSource ---------------------------------------------------------------------------------

    @Test
    void dataSourceDetectsCifar10DirectlyAndInSubfolder() throws IOException {
        Path direct = dir.resolve("direct");
        cifar10Folder(direct);
        DataSource.Split s = DataSource.load(direct);
        assertEquals(8, s.train().size());
        assertEquals(3, s.test().size());
        assertEquals(10, s.train().numClasses());
        assertArrayEquals(new int[] {7, 0, 4}, s.test().labels());
        assertImages(s.train(), 0);
        assertImages(s.test(), 100);
        assertEquals("direct/train", s.train().name());
        assertEquals("CIFAR-10 binary files from " + direct + " (8 train / 3 test images, 3x32x32, 10 classes)",
                s.description());

        Path parent = dir.resolve("parent");
        cifar10Folder(parent.resolve("cifar-10-batches-bin"));
        s = DataSource.load(parent);
        assertEquals(8, s.train().size());
        assertTrue(s.description().contains(parent.resolve("cifar-10-batches-bin").toString()), s.description());
    }

    @Test
    void dataSourceDetectsCifar100() throws IOException {
        Path parent = dir.resolve("p");
        cifar100Folder(parent.resolve("cifar-100-binary"));
        DataSource.Split s = DataSource.load(parent);
        assertEquals(4, s.train().size());
        assertEquals(2, s.test().size());
        assertEquals(100, s.test().numClasses());
        assertArrayEquals(new int[] {63, 1}, s.test().labels());
        assertTrue(s.description().startsWith("CIFAR-100 binary files from "), s.description());
        assertTrue(s.description().endsWith("100 classes)"), s.description());
    }

    @Test
    void dataSourceErrors() throws IOException {
        // nothing there: the message lists every format
        Path empty = Files.createDirectories(dir.resolve("empty"));
        DataException e = assertThrows(DataException.class, () -> DataSource.load(empty));
        String m = e.getMessage();
        assertTrue(m.startsWith(empty + ": no data set found; expected either the four IDX files"), m);
        for (String part : new String[] {"t10k-labels-idx1-ubyte[.gz]", "data_batch_1.bin .. data_batch_5.bin",
                "test_batch.bin", "train.bin and test.bin", "cifar-10-batches-bin/", "cifar-100-binary/"}) {
            assertTrue(m.contains(part), part + " in " + m);
        }
        assertFalse(m.contains("\n"));
        Path nope = dir.resolve("nope");
        e = assertThrows(DataException.class, () -> DataSource.load(nope));
        assertTrue(e.getMessage().contains("data_batch_1.bin .. data_batch_5.bin"), e.getMessage());

        // one CIFAR-10 file missing
        Path c10 = dir.resolve("c10");
        cifar10Folder(c10);
        Files.delete(c10.resolve("data_batch_3.bin"));
        e = assertThrows(DataException.class, () -> DataSource.load(c10));
        assertEquals(c10 + ": missing data_batch_3.bin; a CIFAR-10 directory holds data_batch_1.bin .. data_batch_5.bin "
                + "and test_batch.bin", e.getMessage());
        Path c100 = dir.resolve("c100");
        cifar100Folder(c100);
        Files.delete(c100.resolve("test.bin"));
        e = assertThrows(DataException.class, () -> DataSource.load(c100));
        assertEquals(c100 + ": missing test.bin; a CIFAR-100 directory holds train.bin and test.bin", e.getMessage());

        // a broken file inside a detected folder: the reader's message comes through
        Path broken = dir.resolve("broken");
        cifar10Folder(broken);
        Files.write(broken.resolve("data_batch_2.bin"), new byte[10]);
        e = assertThrows(DataException.class, () -> DataSource.load(broken));
        assertTrue(e.getMessage().startsWith(broken.resolve("data_batch_2.bin") + ": truncated at byte offset 0"),
                e.getMessage());

        // ambiguous folders
        Path mixed = dir.resolve("mixed");
        cifar100Folder(mixed);
        Files.write(mixed.resolve("test_batch.bin"), new byte[3073]);
        e = assertThrows(DataException.class, () -> DataSource.load(mixed));
        assertTrue(e.getMessage().startsWith(mixed + ": holds both CIFAR-10 files"), e.getMessage());
        Path withIdx = dir.resolve("withIdx");
        cifar100Folder(withIdx);
        IdxReader.write(withIdx.resolve("train-labels-idx1-ubyte"), new int[] {1}, new byte[1], false);
        e = assertThrows(DataException.class, () -> DataSource.load(withIdx));
        assertTrue(e.getMessage().startsWith(withIdx + ": holds both IDX files and CIFAR-100 files"), e.getMessage());
        Path both = dir.resolve("both");
        cifar10Folder(both.resolve("cifar-10-batches-bin"));
        cifar100Folder(both.resolve("cifar-100-binary"));
        e = assertThrows(DataException.class, () -> DataSource.load(both));
        assertTrue(e.getMessage().startsWith(both + ": holds both cifar-10-batches-bin/ and cifar-100-binary/"),
                e.getMessage());

        // the Python version gets a hint
        Path py = Files.createDirectories(dir.resolve("py"));
        Files.write(py.resolve("data_batch_1"), new byte[1]);
        e = assertThrows(DataException.class, () -> DataSource.load(py));
        assertTrue(e.getMessage().contains("Python pickle version"), e.getMessage());
    }
}
