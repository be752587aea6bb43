package io.sam4j.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.EnumSet;
import java.util.NoSuchElementException;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class BatchLoaderTest {
    static final int C = 3, H = 6, W = 5, N = 37, B = 8; // 4 batches per epoch, 5 examples dropped

    static Dataset data() {
        byte[] px = new byte[N * C * H * W];
        new Random(1).nextBytes(px);
        int[] lab = new int[N];
        for (int i = 0; i < N; i++) lab[i] = i % 10;
        return Dataset.of("rand", C, H, W, 10, px, lab);
    }

    static final Dataset DATA = data();
    static final Normalizer NORM = Normalizer.fit(DATA);

    static Batcher batcher() {
        return new Batcher(DATA, NORM, B, 99, true);
    }

    static Augmentation aug() {
        return new Augmentation(EnumSet.allOf(Augmentation.Op.class), NORM, C, H, W, 99);
    }

    /**
     * Delivers steps [start, total) through a loader and compares each with a direct Batcher.fill plus
     * Augmentation.apply on separate instances; {@code sleepy} makes the consumer slow at random steps so the
     * loader runs ahead sometimes and the consumer waits other times.
     */
    static void compare(long start, long total, int depth, boolean withAug, boolean sleepy) throws InterruptedException {
        Batcher ref = batcher();
        Augmentation refAug = withAug ? aug() : null;
        Random r = new Random(start * 31 + depth);
        try (Arena a = Arena.ofConfined();
             BatchLoader loader = new BatchLoader(batcher(), withAug ? aug() : null, start, total, depth)) {
            assertEquals(4, loader.batchesPerEpoch());
            MemorySegment want = a.allocate(ref.batchBytes()), got = a.allocate(ref.batchBytes());
            int[] wantL = new int[B], gotL = new int[B];
            for (long s = start; s < total; s++) {
                assertEquals(s, loader.nextStep());
                if (sleepy && r.nextInt(3) == 0) Thread.sleep(r.nextInt(3));
                loader.next(got, gotL);
                int epoch = (int) (s / 4), bi = (int) (s % 4);
                ref.fill(epoch, bi, want, wantL);
                if (refAug != null) refAug.apply(want, B, epoch, bi);
                assertEquals(-1, want.mismatch(got), "step " + s);
                assertArrayEquals(wantL, gotL, "labels of step " + s);

                // the synchronous helper gives the same
                BatchLoader.fill(ref, refAug, s, want, wantL);
                assertEquals(-1, want.mismatch(got), "fill(step " + s + ")");
            }
            assertThrows(NoSuchElementException.class, () -> loader.next(got, gotL));
            assertTrue(loader.waitNanos() >= 0);
        }
    }

    @Test
    void sameSequenceAsDirectFillAcrossEpochs() throws InterruptedException {
        compare(0, 14, BatchLoader.DEFAULT_DEPTH, true, false); // 3.5 epochs
        compare(0, 9, 1, false, true);
    }

    @Test
    void resumesFromNonZeroStep() throws InterruptedException {
        compare(6, 17, 2, true, true); // starts in the middle of epoch 1
        compare(8, 9, 3, true, false); // a single step at an epoch boundary
    }

    @Test
    void augmentationChangesTheBatchesAndDependsOnTheEpoch() {
        try (Arena a = Arena.ofConfined();
             BatchLoader plain = new BatchLoader(new Batcher(DATA, NORM, B, 99, false), null, 0, 8);
             BatchLoader augd = new BatchLoader(new Batcher(DATA, NORM, B, 99, false), aug(), 0, 8)) {
            long bytes = 4L * B * C * H * W;
            MemorySegment[] p = new MemorySegment[8], q = new MemorySegment[8];
            int[] l = new int[B];
            for (int s = 0; s < 8; s++) {
                p[s] = a.allocate(bytes);
                q[s] = a.allocate(bytes);
                plain.next(p[s], l);
                augd.next(q[s], l);
                assertNotEquals(-1, p[s].mismatch(q[s]), "augmented step " + s);
            }
            // without shuffling, epochs 0 and 1 hold the same images; only the augmentation differs
            assertEquals(-1, p[0].mismatch(p[4]));
            assertNotEquals(-1, q[0].mismatch(q[4]));
        }
    }

    @Test
    void exceptionIsRethrownAfterTheGoodBatches() {
        try (Arena a = Arena.ofConfined();
             BatchLoader loader = new BatchLoader((step, x, labels) -> {
                 if (step == 5) throw new DataException("some/file.bin: broken at step 5");
                 labels[0] = (int) step;
             }, 4, 2, 64, 2, 10, 3)) {
            MemorySegment x = a.allocate(64);
            int[] l = new int[2];
            for (int s = 2; s < 5; s++) {
                loader.next(x, l);
                assertEquals(s, l[0]);
            }
            DataException e = assertThrows(DataException.class, () -> loader.next(x, l));
            assertEquals("some/file.bin: broken at step 5", e.getMessage());
            DataException again = assertThrows(DataException.class, () -> loader.next(x, l));
            assertSame(e, again);
        }
    }

    @Test
    void errorsAreRethrownWithTheirType() {
        try (Arena a = Arena.ofConfined();
             BatchLoader loader = new BatchLoader((step, x, labels) -> {
                 throw new OutOfMemoryError("fake");
             }, 4, 2, 64, 0, 10, 3)) {
            OutOfMemoryError e = assertThrows(OutOfMemoryError.class, () -> loader.next(a.allocate(64), new int[2]));
            assertEquals("fake", e.getMessage());
        }
    }

    @Test
    void closeStopsTheThreadAndFreesTheBuffers() throws InterruptedException {
        BatchLoader loader = new BatchLoader(batcher(), aug(), 0, 1_000_000);
        Thread t = loader.thread();
        assertTrue(t.isDaemon());
        assertEquals("sam4j-batch-loader", t.getName());
        try (Arena a = Arena.ofConfined()) {
            MemorySegment x = a.allocate(batcher().batchBytes());
            loader.next(x, new int[B]);
            // let the loader fill its ring and block waiting for a free slot
            for (int i = 0; i < 200 && t.getState() != Thread.State.WAITING; i++) Thread.sleep(5);
            loader.close();
            assertFalse(t.isAlive());
            assertThrows(IllegalStateException.class, () -> loader.next(x, new int[B]));
            loader.close(); // idempotent
        }
    }

    @Test
    void argumentChecks() {
        assertThrows(IllegalArgumentException.class, () -> new BatchLoader(batcher(), null, -1, 4));
        assertThrows(IllegalArgumentException.class, () -> new BatchLoader(batcher(), null, 5, 4));
        assertThrows(IllegalArgumentException.class, () -> new BatchLoader(batcher(), null, 0, 4, 0));
        try (Arena a = Arena.ofConfined(); BatchLoader loader = new BatchLoader(batcher(), null, 0, 4)) {
            assertThrows(IllegalArgumentException.class, () -> loader.next(a.allocate(4), new int[B]));
            assertThrows(IllegalArgumentException.class, () -> loader.next(a.allocate(batcher().batchBytes()), new int[B - 1]));
        }
        try (Arena a = Arena.ofConfined(); BatchLoader empty = new BatchLoader(batcher(), null, 4, 4)) {
            assertThrows(NoSuchElementException.class, () -> empty.next(a.allocate(batcher().batchBytes()), new int[B]));
        }
    }
}
