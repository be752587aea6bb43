package io.sam4j.data;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class NormalizerTest {
    @Test
    void tinyDatasetByHand() {
        // p/255 = 0, 1, 0.2, 0.4 -> mean 0.4; deviations -0.4, 0.6, -0.2, 0 -> variance 0.56/4 = 0.14
        Dataset d = Dataset.of("hand", 1, 1, 2, 10, new byte[] {0, (byte) 255, 51, 102}, new int[] {0, 1});
        Normalizer n = Normalizer.fit(d);
        assertEquals(0.4, n.mean(), 1e-15);
        assertEquals(Math.sqrt(0.14), n.std(), 1e-15);
        assertEquals((float) ((1 - 0.4) / Math.sqrt(0.14)), n.normalize(255));
        assertEquals((float) ((0 - 0.4) / Math.sqrt(0.14)), n.normalize(0));
    }

    @Test
    void matchesDirectDoubleComputation() {
        byte[] px = new byte[3 * 5 * 7 * 11];
        new Random(7).nextBytes(px);
        Dataset d = Dataset.of("rand", 3, 5, 7, 4, px, new int[11]);
        double sum = 0;
        for (byte b : px) sum += (b & 0xff) / 255.0;
        double mean = sum / px.length;
        double ss = 0;
        for (byte b : px) ss += ((b & 0xff) / 255.0 - mean) * ((b & 0xff) / 255.0 - mean);
        double std = Math.sqrt(ss / px.length);
        Normalizer n = Normalizer.fit(d);
        assertEquals(mean, n.mean(), 1e-14);
        assertEquals(std, n.std(), 1e-14);
    }

    @Test
    void applyToArrayAndSegment() {
        Normalizer n = new Normalizer(0.25, 0.5);
        byte[] src = {0, 10, (byte) 128, (byte) 255};
        float[] out = new float[6];
        n.apply(src, 1, 3, out, 2);
        assertEquals(0f, out[0]);
        assertEquals(0f, out[1]);
        for (int i = 0; i < 3; i++) {
            assertEquals((float) (((src[1 + i] & 0xff) / 255.0 - 0.25) / 0.5), out[2 + i]);
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment seg = a.allocate(4L * 6);
            n.apply(src, 0, 4, seg, 2);
            for (int i = 0; i < 4; i++) {
                assertEquals(n.normalize(src[i]), seg.getAtIndex(ValueLayout.JAVA_FLOAT, 2 + i));
            }
            assertThrows(IndexOutOfBoundsException.class, () -> n.apply(src, 0, 4, seg, 3));
        }
        assertThrows(IllegalArgumentException.class, () -> new Normalizer(0, 0));
        DataException e = assertThrows(DataException.class,
                () -> Normalizer.fit(Dataset.of("flat", 1, 1, 2, 2, new byte[] {7, 7}, new int[] {0})));
        assertTrue(e.getMessage().startsWith("flat: "), e.getMessage());
    }
    @Test
    void perChannelStatisticsAndApply() {
        // 2 images of 3x2x2: channel c of image i holds values that give each channel its own statistics
        int n = 2, ch = 3, plane = 4;
        byte[] px = new byte[n * ch * plane];
        Random r = new Random(11);
        for (int i = 0; i < n; i++) {
            for (int c = 0; c < ch; c++) {
                for (int p = 0; p < plane; p++) px[(i * ch + c) * plane + p] = (byte) (40 * c + r.nextInt(60));
            }
        }
        Dataset d = Dataset.of("rgb", ch, 2, 2, 10, px, new int[] {1, 2});
        Normalizer norm = Normalizer.fit(d);
        assertEquals(3, norm.channels());
        assertEquals(4, norm.planeSize());
        assertTrue(norm.fits(3, 2, 2));
        assertTrue(norm.fits(3, 1, 4)); // only H*W matters
        assertFalse(norm.fits(1, 2, 2));
        assertFalse(norm.fits(3, 4, 4));
        for (int c = 0; c < ch; c++) {
            double sum = 0, ss = 0;
            for (int i = 0; i < n; i++) for (int p = 0; p < plane; p++) sum += (px[(i * ch + c) * plane + p] & 0xff) / 255.0;
            double mean = sum / (n * plane);
            for (int i = 0; i < n; i++) {
                for (int p = 0; p < plane; p++) {
                    double v = (px[(i * ch + c) * plane + p] & 0xff) / 255.0 - mean;
                    ss += v * v;
                }
            }
            assertEquals(mean, norm.mean(c), 1e-15);
            assertEquals(Math.sqrt(ss / (n * plane)), norm.std(c), 1e-15);
            assertEquals((float) ((0 - norm.mean(c)) / norm.std(c)), norm.normalize(c, 0));
        }
        // the pooled accessors equal the single-statistics fit
        Normalizer global = Normalizer.fitGlobal(d);
        assertEquals(1, global.channels());
        assertEquals(global.mean(), norm.mean(), 1e-15);
        assertEquals(global.std(), norm.std(), 1e-15);
        assertTrue(norm.describe().matches("mean \\(\\d\\.\\d{4}, \\d\\.\\d{4}, \\d\\.\\d{4}\\) std \\(.*\\)"), norm.describe());
        assertTrue(global.describe().matches("mean \\d\\.\\d{4} std \\d\\.\\d{4}"), global.describe());

        // apply picks the channel from the pixel offset, also for runs that start mid-plane and span images
        float[] all = new float[px.length];
        norm.apply(px, 0, px.length, all, 0);
        for (int o = 0; o < px.length; o++) assertEquals(norm.normalize((o / plane) % ch, px[o]), all[o], "offset " + o);
        float[] part = new float[15];
        norm.apply(px, 6, 15, part, 0);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment seg = a.allocate(4L * 16);
            norm.apply(px, 6, 15, seg, 1);
            for (int i = 0; i < 15; i++) {
                assertEquals(all[6 + i], part[i]);
                assertEquals(all[6 + i], seg.getAtIndex(ValueLayout.JAVA_FLOAT, 1 + i));
            }
        }
        assertThrows(IllegalStateException.class, () -> norm.normalize(0));
        assertThrows(IllegalStateException.class, norm::table);
        for (int v = 0; v < 256; v++) assertEquals(norm.normalize(2, v), norm.table(2)[v]);

        // equality and validation of the array constructor
        assertEquals(norm, new Normalizer(norm.means(), norm.stds(), 4));
        assertNotEquals(norm, new Normalizer(norm.means(), norm.stds(), 8));
        assertEquals(new Normalizer(0.5, 0.25), new Normalizer(new double[] {0.5}, new double[] {0.25}, 0));
        assertThrows(IllegalArgumentException.class, () -> new Normalizer(new double[] {0, 0}, new double[] {1, 1}, 0));
        assertThrows(IllegalArgumentException.class, () -> new Normalizer(new double[] {0, 0}, new double[] {1}, 4));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Normalizer(new double[] {0, 0}, new double[] {1, 0}, 4));
        assertTrue(e.getMessage().contains("channel 1"), e.getMessage());

        // a channel without spread is named
        byte[] flat = px.clone();
        for (int i = 0; i < n; i++) for (int p = 0; p < plane; p++) flat[(i * ch + 1) * plane + p] = 9;
        DataException de = assertThrows(DataException.class,
                () -> Normalizer.fit(Dataset.of("flat1", ch, 2, 2, 10, flat, new int[] {0, 0})));
        assertTrue(de.getMessage().startsWith("flat1: all training pixels of channel 1"), de.getMessage());
    }

    @Test
    void oneChannelFitIsTheGlobalFit() {
        byte[] px = new byte[5 * 6 * 7];
        new Random(3).nextBytes(px);
        Dataset d = Dataset.of("gray", 1, 6, 7, 10, px, new int[5]);
        Normalizer a = Normalizer.fit(d), b = Normalizer.fitGlobal(d);
        assertEquals(b, a);
        assertEquals(1, a.channels());
        assertEquals(0, a.planeSize());
        assertArrayEquals(b.table(), a.table());
    }

    @Test
    void batcherRejectsNormalizerOfOtherShape() {
        Dataset d = Dataset.of("rgb", 3, 2, 2, 10, new byte[24], new int[2]);
        Normalizer other = new Normalizer(new double[] {0, 0, 0}, new double[] {1, 1, 1}, 9);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Batcher(d, other, 1, 0, false));
        assertTrue(e.getMessage().contains("3x2x2"), e.getMessage());
        new Batcher(d, new Normalizer(0, 1), 1, 0, false); // a single-channel normalizer fits anything
    }
}
