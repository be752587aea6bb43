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
}
