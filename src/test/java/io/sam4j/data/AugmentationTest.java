package io.sam4j.data;

import io.sam4j.data.Augmentation.Draw;
import io.sam4j.data.Augmentation.Op;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.EnumSet;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class AugmentationTest {
    static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    static final int C = 3, H = 32, W = 32, PLANE = H * W, IMG = C * PLANE;
    /** Per-channel statistics with distinct padding values -0.5, -2, -1.8 per channel. */
    static final Normalizer NORM = new Normalizer(new double[] {0.1, 0.5, 0.9}, new double[] {0.2, 0.25, 0.5}, PLANE);
    static final Set<Op> ALL = EnumSet.allOf(Op.class);

    /** A crafted float image: every value distinct, non-zero and unlike any padding value. */
    static float orig(int c, int y, int x) {
        return 1000 + c * 10000 + y * 100 + x;
    }

    static void put(MemorySegment s, long off) {
        for (int c = 0; c < C; c++) {
            for (int y = 0; y < H; y++) {
                for (int x = 0; x < W; x++) s.setAtIndex(F, off + c * PLANE + y * W + x, orig(c, y, x));
            }
        }
    }

    static float at(MemorySegment s, long off, int c, int y, int x) {
        return s.getAtIndex(F, off + c * PLANE + y * W + x);
    }

    @Test
    void cropShiftsContentAndPadsWithNormalisedZero() {
        Augmentation aug = new Augmentation(ALL, NORM, C, H, W, 1);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(4L * IMG);
            // spot checks of one shift: output (y, x) is input (y+2, x-3)
            put(s, 0);
            aug.apply(s, 0, new Draw(2, -3, false, false, 0, 0));
            for (int c = 0; c < C; c++) {
                float pad = (float) ((0 - NORM.mean(c)) / NORM.std(c));
                assertEquals(pad, at(s, 0, c, 0, 0));
                assertEquals(pad, at(s, 0, c, 5, 2)); // x-3 < 0
                assertEquals(orig(c, 2, 0), at(s, 0, c, 0, 3));
                assertEquals(orig(c, 31, 28), at(s, 0, c, 29, 31));
                assertEquals(pad, at(s, 0, c, 30, 10)); // y+2 = 32 is padding
                assertEquals(pad, at(s, 0, c, 31, 31));
            }
            // every shift and both flips against the definition
            for (int dy = -4; dy <= 4; dy++) {
                for (int dx = -4; dx <= 4; dx++) {
                    for (boolean flip : new boolean[] {false, true}) {
                        put(s, 0);
                        aug.apply(s, 0, new Draw(dy, dx, flip, false, 0, 0));
                        for (int c = 0; c < C; c++) {
                            for (int y = 0; y < H; y++) {
                                for (int x = 0; x < W; x++) {
                                    int sy = y + dy, sx = (flip ? W - 1 - x : x) + dx;
                                    float want = sy < 0 || sy >= H || sx < 0 || sx >= W ? NORM.normalize(c, 0) : orig(c, sy, sx);
                                    assertEquals(want, at(s, 0, c, y, x));
                                }
                            }
                        }
                    }
                }
            }
            assertThrows(IllegalArgumentException.class, () -> aug.apply(s, 0, new Draw(5, 0, false, false, 0, 0)));
        }
    }

    /** torchvision: pad the uint8 image with 0, crop a window at (i, j), then normalise. */
    @Test
    void cropMatchesPadThenCropThenNormalise() {
        byte[] raw = new byte[IMG];
        new Random(5).nextBytes(raw);
        Dataset d = Dataset.of("one", C, H, W, 10, raw, new int[] {0});
        Batcher b = new Batcher(d, NORM, 1, 0, false);
        Augmentation aug = new Augmentation(EnumSet.of(Op.CROP), NORM, C, H, W, 1);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(b.batchBytes());
            for (int i = 0; i <= 8; i += 4) {
                for (int j = 0; j <= 8; j += 2) {
                    byte[] padded = new byte[C * (H + 8) * (W + 8)];
                    for (int c = 0; c < C; c++) {
                        for (int y = 0; y < H; y++) {
                            System.arraycopy(raw, c * PLANE + y * W, padded, (c * (H + 8) + y + 4) * (W + 8) + 4, W);
                        }
                    }
                    b.fill(0, 0, s, new int[1]);
                    aug.apply(s, 0, new Draw(i - 4, j - 4, false, false, 0, 0));
                    for (int c = 0; c < C; c++) {
                        for (int y = 0; y < H; y++) {
                            for (int x = 0; x < W; x++) {
                                byte p = padded[(c * (H + 8) + y + i) * (W + 8) + x + j];
                                assertEquals(NORM.normalize(c, p), at(s, 0, c, y, x));
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void flipMirrorsExactly() {
        Augmentation aug = new Augmentation(EnumSet.of(Op.FLIP), NORM, C, H, W, 1);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(4L * IMG * 2);
            put(s, IMG);
            aug.apply(s, IMG, new Draw(0, 0, true, false, 0, 0));
            for (int c = 0; c < C; c++) {
                for (int y = 0; y < H; y++) {
                    for (int x = 0; x < W; x++) assertEquals(orig(c, y, W - 1 - x), at(s, IMG, c, y, x));
                }
            }
            aug.apply(s, IMG, new Draw(0, 0, true, false, 0, 0));
            for (int c = 0; c < C; c++) {
                for (int y = 0; y < H; y++) {
                    for (int x = 0; x < W; x++) assertEquals(orig(c, y, x), at(s, IMG, c, y, x));
                }
            }
            for (int i = 0; i < IMG; i++) assertEquals(0f, s.getAtIndex(F, i), "first image untouched");
        }
    }

    @Test
    void cutoutZeroesTheClippedSquareOnly() {
        Augmentation aug = new Augmentation(ALL, NORM, C, H, W, 1);
        int[][] centres = {{16, 16}, {0, 0}, {31, 31}, {5, 20}, {8, 8}, {24, 0}};
        int[] area = {256, 64, 81, 13 * 16, 256, 16 * 8};
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(4L * IMG);
            for (int t = 0; t < centres.length; t++) {
                int cy = centres[t][0], cx = centres[t][1];
                put(s, 0);
                aug.apply(s, 0, new Draw(0, 0, false, true, cy, cx));
                for (int c = 0; c < C; c++) {
                    int zeros = 0;
                    for (int y = 0; y < H; y++) {
                        for (int x = 0; x < W; x++) {
                            boolean inside = y >= cy - 8 && y < cy + 8 && x >= cx - 8 && x < cx + 8;
                            assertEquals(inside ? 0f : orig(c, y, x), at(s, 0, c, y, x), "centre " + cy + "," + cx);
                            if (inside) zeros++;
                        }
                    }
                    assertEquals(area[t], zeros);
                }
            }
        }
    }

    @Test
    void drawsCoverTheirRangesAndOpsAreIndependent() {
        Augmentation all = new Augmentation(ALL, NORM, C, H, W, 7);
        Augmentation flipOnly = new Augmentation(EnumSet.of(Op.FLIP), NORM, C, H, W, 7);
        int[] dy = new int[9], dx = new int[9], cy = new int[H];
        int flips = 0, cuts = 0, n = 0;
        for (int bi = 0; bi < 20; bi++) {
            for (int k = 0; k < 100; k++, n++) {
                Draw d = all.draw(3, bi, k);
                dy[d.dy() + 4]++;
                dx[d.dx() + 4]++;
                cy[d.cy()]++;
                if (d.flip()) flips++;
                if (d.cutout()) cuts++;
                Draw f = flipOnly.draw(3, bi, k);
                assertEquals(new Draw(0, 0, d.flip(), false, d.cy(), d.cx()), f);
            }
        }
        for (int v : dy) assertTrue(v > n / 9 * 0.8 && v < n / 9 * 1.2, "dy histogram");
        for (int v : dx) assertTrue(v > n / 9 * 0.8 && v < n / 9 * 1.2, "dx histogram");
        for (int v : cy) assertTrue(v > 0, "every cutout row drawn");
        assertEquals(0.5, flips / (double) n, 0.04);
        assertEquals(0.5, cuts / (double) n, 0.04);
    }

    @Test
    void deterministicPerSeedEpochBatchAndPosition() {
        int bs = 4;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment base = a.allocate(4L * IMG * bs);
            for (int k = 0; k < bs; k++) put(base, (long) k * IMG);
            MemorySegment r1 = run(a, base, bs, 42, 2, 5), r2 = run(a, base, bs, 42, 2, 5);
            assertEquals(-1, r1.mismatch(r2), "same seed, epoch and batch");
            assertNotEquals(-1, r1.mismatch(run(a, base, bs, 42, 3, 5)), "another epoch");
            assertNotEquals(-1, r1.mismatch(run(a, base, bs, 42, 2, 6)), "another batch");
            assertNotEquals(-1, r1.mismatch(run(a, base, bs, 43, 2, 5)), "another seed");
            assertNotEquals(-1, r1.mismatch(base), "something changed");

            // the batch method equals the per-image draws
            Augmentation aug = new Augmentation(ALL, NORM, C, H, W, 42);
            MemorySegment one = a.allocate(base.byteSize());
            one.copyFrom(base);
            for (int k = 0; k < bs; k++) aug.apply(one, (long) k * IMG, aug.draw(2, 5, k));
            assertEquals(-1, r1.mismatch(one));
            // images at different positions of one batch get different draws
            Draw d0 = aug.draw(2, 5, 0), d1 = aug.draw(2, 5, 1), d2 = aug.draw(2, 5, 2);
            assertFalse(d0.equals(d1) && d1.equals(d2));
            assertThrows(IllegalArgumentException.class, () -> aug.apply(base, bs + 1, 0, 0));
        }
    }

    private static MemorySegment run(Arena a, MemorySegment base, int bs, long seed, int epoch, int bi) {
        MemorySegment s = a.allocate(base.byteSize());
        s.copyFrom(base);
        new Augmentation(ALL, NORM, C, H, W, seed).apply(s, bs, epoch, bi);
        return s;
    }

    @Test
    void specParsing() {
        assertEquals(ALL, Augmentation.parse("crop,flip,cutout"));
        assertEquals(EnumSet.of(Op.FLIP, Op.CUTOUT), Augmentation.parse(" cutout , FLIP "));
        assertEquals("flip,cutout", Augmentation.spec(Augmentation.parse("cutout,flip")));
        assertTrue(Augmentation.parse("none").isEmpty());
        assertTrue(Augmentation.parse("").isEmpty());
        assertEquals("none", Augmentation.spec(EnumSet.noneOf(Op.class)));

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Augmentation.parse("crop,rotate"));
        assertTrue(e.getMessage().startsWith("--augment: unknown augmentation 'rotate' in 'crop,rotate'"), e.getMessage());
        assertTrue(e.getMessage().contains("crop, flip, cutout"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Augmentation.parse("crop,,flip"));
        assertTrue(e.getMessage().startsWith("--augment: empty name in 'crop,,flip'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Augmentation.parse("flip,crop,flip"));
        assertEquals("--augment: 'flip' appears twice in 'flip,crop,flip'", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Augmentation.parse("none,crop"));
        assertTrue(e.getMessage().contains("'none'"), e.getMessage());

        Dataset cifar = Dataset.of("c", 3, 32, 32, 10, new byte[3072], new int[1]);
        Dataset mnist = Dataset.of("m", 1, 28, 28, 10, new byte[784], new int[1]);
        assertEquals("crop,flip", Augmentation.defaultSpec(cifar));
        assertEquals("none", Augmentation.defaultSpec(mnist));
        assertNull(Augmentation.of("none", cifar, NORM, 1));
        Augmentation aug = Augmentation.of("flip,crop", cifar, NORM, 1);
        assertEquals("crop,flip", aug.spec());
        assertEquals(EnumSet.of(Op.CROP, Op.FLIP), aug.ops());
        assertThrows(IllegalArgumentException.class, () -> Augmentation.of("crop", mnist, NORM, 1)); // shape mismatch
        assertNotNull(Augmentation.of("crop,flip,cutout", mnist, new Normalizer(0.3, 0.3), 1));
    }

    @Test
    void smallNonSquareImages() {
        // 1x3x5 with cutout larger than the image: crop/flip indexing by width, cutout clipped to everything
        Normalizer n = new Normalizer(0.5, 0.5);
        Augmentation aug = new Augmentation(ALL, n, 1, 3, 5, 1);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(4L * 15);
            for (int i = 0; i < 15; i++) s.setAtIndex(F, i, i + 1);
            aug.apply(s, 0, new Draw(1, 2, true, false, 0, 0));
            // flip then shift: out(y, x) = in(y+1, 4-x+2)
            for (int y = 0; y < 3; y++) {
                for (int x = 0; x < 5; x++) {
                    int sy = y + 1, sx = 4 - x + 2;
                    float w = sy >= 3 || sx >= 5 ? n.normalize(0) : sy * 5 + sx + 1;
                    assertEquals(w, s.getAtIndex(F, y * 5 + x), "y" + y + " x" + x);
                }
            }
            aug.apply(s, 0, new Draw(0, 0, false, true, 1, 2));
            for (int i = 0; i < 15; i++) assertEquals(0f, s.getAtIndex(F, i));
        }
    }
}
