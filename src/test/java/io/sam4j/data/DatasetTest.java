package io.sam4j.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class DatasetTest {
    @TempDir
    Path dir;

    private Path images(String name, int n, int h, int w) {
        Path p = dir.resolve(name);
        byte[] px = new byte[n * h * w];
        for (int i = 0; i < px.length; i++) px[i] = (byte) i;
        IdxReader.write(p, new int[] {n, h, w}, px, false);
        return p;
    }

    private Path labels(String name, byte... values) {
        Path p = dir.resolve(name);
        IdxReader.write(p, new int[] {values.length}, values, true);
        return p;
    }

    @Test
    void loadsShapesAndLabels() {
        Dataset d = Dataset.fromIdx(images("img", 3, 2, 4), labels("lab", (byte) 0, (byte) 9, (byte) 4), "tiny");
        assertEquals(3, d.size());
        assertEquals(1, d.channels());
        assertEquals(2, d.height());
        assertEquals(4, d.width());
        assertEquals(8, d.imageSize());
        assertEquals(10, d.numClasses());
        assertEquals("tiny", d.name());
        assertArrayEquals(new int[] {0, 9, 4}, d.labels());
        assertEquals(24, d.pixels().length);
        assertEquals(9, d.pixels()[9]);
        assertArrayEquals(new int[] {1, 0, 0, 0, 1, 0, 0, 0, 0, 1}, d.classCounts());
    }

    @Test
    void labelOutOfRange() {
        Path lab = labels("lab", (byte) 1, (byte) 10, (byte) 2);
        DataException e = assertThrows(DataException.class, () -> Dataset.fromIdx(images("img", 3, 2, 2), lab, "x"));
        assertEquals(lab + ": label at index 1 (byte offset 9) is 10, expected 0..9", e.getMessage());
        Path lab2 = labels("lab2", (byte) 0, (byte) 0, (byte) 200);
        e = assertThrows(DataException.class, () -> Dataset.fromIdx(images("img", 3, 2, 2), lab2, "x"));
        assertTrue(e.getMessage().contains("index 2") && e.getMessage().contains("is 200"), e.getMessage());
    }

    @Test
    void mismatchedCountsNameBothFiles() {
        Path img = images("img", 4, 2, 2);
        Path lab = labels("lab", (byte) 1, (byte) 2, (byte) 3);
        DataException e = assertThrows(DataException.class, () -> Dataset.fromIdx(img, lab, "x"));
        assertEquals(img + " has 4 images but " + lab + " has 3 labels", e.getMessage());
    }

    @Test
    void wrongRanks() {
        Path lab = labels("lab", (byte) 1, (byte) 2);
        Path img2d = dir.resolve("img2d");
        IdxReader.write(img2d, new int[] {2, 4}, new byte[8], false);
        DataException e = assertThrows(DataException.class, () -> Dataset.fromIdx(img2d, lab, "x"));
        assertTrue(e.getMessage().startsWith(img2d + ": expected a 3-D image file"), e.getMessage());
        Path lab2d = dir.resolve("lab2d");
        IdxReader.write(lab2d, new int[] {2, 1}, new byte[2], false);
        e = assertThrows(DataException.class, () -> Dataset.fromIdx(images("img", 2, 2, 2), lab2d, "x"));
        assertTrue(e.getMessage().startsWith(lab2d + ": expected a 1-D label file"), e.getMessage());
    }

    @Test
    void ofValidatesAndWithLabelsSharesPixels() {
        byte[] px = new byte[2 * 3 * 2 * 2];
        assertThrows(IllegalArgumentException.class, () -> Dataset.of("x", 3, 2, 2, 5, px, new int[] {0, 5}));
        assertThrows(IllegalArgumentException.class, () -> Dataset.of("x", 3, 2, 2, 5, px, new int[] {0, 1, 2}));
        Dataset d = Dataset.of("x", 3, 2, 2, 5, px, new int[] {0, 4});
        Dataset e = d.withLabels(new int[] {1, 1}, "y");
        assertSame(d.pixels(), e.pixels());
        assertArrayEquals(new int[] {1, 1}, e.labels());
        assertEquals(3, e.channels());
    }

    @Test
    void headCopiesTheFirstExamplesInStoredOrder() {
        Dataset d = Dataset.fromIdx(images("img", 3, 2, 4), labels("lab", (byte) 0, (byte) 9, (byte) 4), "tiny");
        Dataset h = d.head(2);
        assertEquals("tiny[:2]", h.name());
        assertEquals(2, h.size());
        assertArrayEquals(new int[] {0, 9}, h.labels());
        byte[] want = new byte[16];
        for (int i = 0; i < want.length; i++) want[i] = (byte) i; // images() writes pixel i as i
        assertArrayEquals(want, h.pixels());
        assertEquals(3, d.head(3).size());
        assertThrows(IllegalArgumentException.class, () -> d.head(0));
        assertThrows(IllegalArgumentException.class, () -> d.head(4));
    }
}
