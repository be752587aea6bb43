package io.sam4j.data;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

class BatcherTest {
    /**
     * N images of 1x2x2 whose first two pixels encode the index (low byte, high byte); label = index % 10.
     * The normalizer is the identity up to scaling (mean 0, std 1/255) so the index can be decoded exactly.
     */
    static Dataset indexed(int n) {
        byte[] px = new byte[n * 4];
        int[] lab = new int[n];
        for (int i = 0; i < n; i++) {
            px[4 * i] = (byte) i;
            px[4 * i + 1] = (byte) (i >>> 8);
            px[4 * i + 2] = (byte) 7;
            lab[i] = i % 10;
        }
        return Dataset.of("indexed", 1, 2, 2, 10, px, lab);
    }

    static final Normalizer RAW = new Normalizer(0, 1 / 255.0); // maps p to p (as float)

    static int decode(MemorySegment x, int k) {
        int lo = Math.round(x.getAtIndex(ValueLayout.JAVA_FLOAT, 4L * k));
        int hi = Math.round(x.getAtIndex(ValueLayout.JAVA_FLOAT, 4L * k + 1));
        return lo | hi << 8;
    }

    @Test
    void noShuffleBatchIsConsecutiveRange() {
        Dataset d = indexed(103);
        Batcher b = new Batcher(d, RAW, 10, 42, false);
        assertEquals(10, b.batchesPerEpoch()); // floor(103/10), tail of 3 dropped
        try (Arena a = Arena.ofConfined()) {
            MemorySegment x = a.allocate(b.batchBytes());
            int[] lab = new int[10];
            for (int epoch = 0; epoch < 2; epoch++) {
                for (int i = 0; i < b.batchesPerEpoch(); i++) {
                    b.fill(epoch, i, x, lab);
                    for (int k = 0; k < 10; k++) {
                        assertEquals(i * 10 + k, decode(x, k));
                        assertEquals((i * 10 + k) % 10, lab[k]);
                        assertEquals(7f, x.getAtIndex(ValueLayout.JAVA_FLOAT, 4L * k + 2));
                    }
                }
            }
            assertThrows(IndexOutOfBoundsException.class, () -> b.fill(0, 10, x, lab));
            assertThrows(IllegalArgumentException.class, () -> b.fill(0, 0, x, new int[9]));
            assertThrows(IllegalArgumentException.class, () -> b.fill(0, 0, a.allocate(b.batchBytes() - 4), lab));
        }
    }

    @Test
    void normalisedValuesAreWritten() {
        Dataset d = indexed(4);
        Normalizer n = Normalizer.fit(d);
        Batcher b = new Batcher(d, n, 2, 0, false);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment x = a.allocate(b.batchBytes());
            b.fill(0, 1, x, new int[2]);
            for (int j = 0; j < 8; j++) {
                assertEquals(n.normalize(d.pixels()[8 + j]), x.getAtIndex(ValueLayout.JAVA_FLOAT, j));
            }
        }
    }

    @Test
    void shuffledEpochsArePermutationsAndReproducible() {
        int n = 1000, bs = 32;
        Dataset d = indexed(n);
        Batcher b = new Batcher(d, RAW, bs, 1234, true);
        Batcher same = new Batcher(d, RAW, bs, 1234, true);
        Batcher other = new Batcher(d, RAW, bs, 1235, true);
        assertEquals(31, b.batchesPerEpoch());
        try (Arena a = Arena.ofConfined()) {
            MemorySegment x = a.allocate(b.batchBytes());
            int[] lab = new int[bs];
            int[][] seen = new int[3][];
            for (int epoch = 0; epoch < 3; epoch++) {
                int[] order = b.order(epoch);
                int[] sorted = order.clone();
                Arrays.sort(sorted);
                for (int i = 0; i < n; i++) assertEquals(i, sorted[i], "epoch order is a permutation");
                assertFalse(isIdentity(order));

                // every batch delivers order[i*B + k]; over the epoch no example repeats
                boolean[] hit = new boolean[n];
                for (int i = 0; i < b.batchesPerEpoch(); i++) {
                    b.fill(epoch, i, x, lab);
                    for (int k = 0; k < bs; k++) {
                        int idx = decode(x, k);
                        assertEquals(order[i * bs + k], idx);
                        assertEquals(idx % 10, lab[k]);
                        assertFalse(hit[idx], "example twice in one epoch");
                        hit[idx] = true;
                    }
                }
                seen[epoch] = order;
                assertArrayEquals(order, same.order(epoch), "same seed, same epoch");
                assertFalse(Arrays.equals(order, other.order(epoch)), "other seed");
            }
            assertFalse(Arrays.equals(seen[0], seen[1]), "epochs differ");
            assertFalse(Arrays.equals(seen[1], seen[2]), "epochs differ");
            // random access: going back to epoch 0 gives the same order again
            assertArrayEquals(seen[0], b.order(0));
            b.fill(0, 0, x, lab);
            assertEquals(seen[0][0], decode(x, 0));
        }
    }

    @Test
    void sequentialEvaluationCoversEverythingOnce() {
        int n = 103, bs = 25;
        Dataset d = indexed(n);
        Batcher b = new Batcher(d, RAW, bs, 0, true);
        assertEquals(5, Batcher.evalBatches(n, bs));
        assertEquals(4, Batcher.evalBatches(100, 25));
        assertEquals(0, Batcher.evalBatches(0, 25));
        try (Arena a = Arena.ofConfined()) {
            MemorySegment x = a.allocate(b.batchBytes());
            int[] lab = new int[bs];
            int next = 0;
            for (int i = 0; i < Batcher.evalBatches(n, bs); i++) {
                int count = Math.min(bs, n - i * bs);
                b.fillSequential(i * bs, count, x, lab);
                for (int k = 0; k < count; k++) {
                    assertEquals(next, decode(x, k));
                    assertEquals(next % 10, lab[k]);
                    next++;
                }
            }
            assertEquals(n, next);
            assertThrows(IndexOutOfBoundsException.class, () -> b.fillSequential(100, 4, x, lab));
        }
    }

    @Test
    void batchSizeChecks() {
        Dataset d = indexed(10);
        assertThrows(IllegalArgumentException.class, () -> new Batcher(d, RAW, 0, 0, true));
        assertThrows(IllegalArgumentException.class, () -> new Batcher(d, RAW, 11, 0, true));
        assertEquals(1, new Batcher(d, RAW, 10, 0, true).batchesPerEpoch());
    }

    @Test
    void labelNoise() {
        int n = 100_000;
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) labels[i] = (i * 7) % 10;
        for (double p : new double[] {0.2, 0.5, 0.8}) {
            int[] noisy = Batcher.withLabelNoise(labels, 10, p, 99);
            int changed = 0;
            int[] hist = new int[10];
            for (int i = 0; i < n; i++) {
                if (noisy[i] != labels[i]) changed++;
                hist[noisy[i]]++;
            }
            // floor(p*n) labels are redrawn from all 10 classes, so ~p*0.9 of them change
            double expected = p * 0.9 * n, sd = Math.sqrt(p * n * 0.9 * 0.1);
            assertEquals(expected, changed, 5 * sd, "p=" + p);
            assertTrue(changed <= (int) (p * n));
            for (int c = 0; c < 10; c++) assertEquals(n / 10.0, hist[c], 0.05 * n / 10, "classes stay balanced");
            assertArrayEquals(noisy, Batcher.withLabelNoise(labels, 10, p, 99), "deterministic per seed");
            assertFalse(Arrays.equals(noisy, Batcher.withLabelNoise(labels, 10, p, 100)), "seed matters");
        }
        assertArrayEquals(labels, Batcher.withLabelNoise(labels, 10, 0.0, 1));
        int[] copy = labels.clone();
        Batcher.withLabelNoise(labels, 10, 1.0, 1);
        assertArrayEquals(copy, labels, "input untouched");
        assertThrows(IllegalArgumentException.class, () -> Batcher.withLabelNoise(labels, 10, 1.5, 1));
    }

    private static boolean isIdentity(int[] a) {
        for (int i = 0; i < a.length; i++) if (a[i] != i) return false;
        return true;
    }
}
