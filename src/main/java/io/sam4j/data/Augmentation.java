package io.sam4j.data;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Collections;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.StringJoiner;

/**
 * Seeded, on-the-fly training augmentation of a normalised float batch (NCHW, as written by
 * {@link Batcher#fill}), in place. The operations, always applied in this order whatever the order of the spec:
 *
 * <ol>
 *   <li><b>crop</b>: {@code RandomCrop(size, padding=4)} of torchvision. The image is padded by {@value #PAD}
 *       pixels of raw value 0 on each side and a window of the original size is cut out at a uniformly random
 *       offset in {@code [0, 2*PAD]} on each axis, i.e. the content moves by {@code dy, dx} in {@code [-4, 4]}.
 *       Because torchvision pads the uint8 image before {@code Normalize}, a padded pixel of channel c here
 *       gets the normalised value of raw 0, {@link Normalizer#normalize(int, int) normalize(c, 0)}
 *       {@code = -mean[c]/std[c]}, not 0.
 *   <li><b>flip</b>: {@code RandomHorizontalFlip(p=0.5)}: mirrors the columns.
 *   <li><b>cutout</b>: the Cutout of F-SAM (and of DeVries and Taylor), applied after normalisation with
 *       probability {@value #CUTOUT_P}: a centre {@code (cy, cx)} uniform over the image, and the
 *       {@value #CUTOUT_SIZE}x{@value #CUTOUT_SIZE} square of rows {@code [cy-8, cy+8)} and columns
 *       {@code [cx-8, cx+8)}, clipped at the borders, set to 0 in every channel (0 in the normalised space,
 *       i.e. the channel mean).
 * </ol>
 *
 * <p><b>Randomness.</b> The draws of the image at position k of training batch {@code batchIndex} of epoch
 * {@code epoch} are a pure function of {@code (seed, epoch, batchIndex, k)} (a SplitMix64 stream keyed by
 * hashing the four), so a resumed run, or a background loader running ahead, reproduces exactly the same
 * augmentations. Each operation uses its own fixed draws, so enabling or disabling one operation does not
 * change the decisions of the others. The seed is salted, so the same seed as the shuffle gives unrelated
 * streams.
 *
 * <p>Not thread-safe (it owns two image-sized scratch arrays and allocates nothing per batch): use one
 * instance per thread.
 */
public final class Augmentation {
    /** The operations, in the order they are applied. */
    public enum Op {
        CROP, FLIP, CUTOUT;

        /** The name used in specs: {@code crop}, {@code flip}, {@code cutout}. */
        public String specName() { return name().toLowerCase(Locale.ROOT); }
    }

    /** Zero padding of the random crop, in pixels per side. */
    public static final int PAD = 4;
    /** Side of the cutout square. */
    public static final int CUTOUT_SIZE = 16;
    /** Probability of a horizontal flip. */
    public static final double FLIP_P = 0.5;
    /** Probability that cutout is applied to an image. */
    public static final double CUTOUT_P = 0.5;
    /** The spec of no augmentation. */
    public static final String NONE = "none";

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;
    private static final long SALT = 0x41554720_43524F50L; // "AUG CROP"

    private final Set<Op> ops;
    private final boolean crop, flip, cutout;
    private final int channels, height, width, plane, imageSize;
    private final float[] pad; // per channel: the normalised value of raw 0
    private final long key;
    private final float[] in, out;

    /**
     * @param ops    the operations to apply (any subset; empty is allowed and leaves batches unchanged)
     * @param norm   the batches' normalizer (gives the crop's padding value per channel); must fit the shape
     * @param seed   the run's seed
     */
    public Augmentation(Set<Op> ops, Normalizer norm, int channels, int height, int width, long seed) {
        if (channels <= 0 || height <= 0 || width <= 0) {
            throw new IllegalArgumentException("non-positive image shape " + channels + "x" + height + "x" + width);
        }
        if (!norm.fits(channels, height, width)) {
            throw new IllegalArgumentException("normalizer " + norm + " does not fit " + channels + "x" + height
                    + "x" + width + " images");
        }
        EnumSet<Op> set = EnumSet.noneOf(Op.class);
        set.addAll(ops);
        this.ops = Collections.unmodifiableSet(set);
        this.crop = set.contains(Op.CROP);
        this.flip = set.contains(Op.FLIP);
        this.cutout = set.contains(Op.CUTOUT);
        this.channels = channels;
        this.height = height;
        this.width = width;
        this.plane = height * width;
        this.imageSize = channels * plane;
        this.pad = new float[channels];
        for (int c = 0; c < channels; c++) pad[c] = norm.normalize(c, 0);
        this.key = mix64(seed ^ SALT);
        this.in = new float[imageSize];
        this.out = new float[imageSize];
    }

    /**
     * The augmentation of a spec for the images of {@code data} normalised by {@code norm}, or null when the
     * spec selects nothing ({@code none} or empty).
     *
     * @throws IllegalArgumentException for a bad spec, see {@link #parse}
     */
    public static Augmentation of(String spec, Dataset data, Normalizer norm, long seed) {
        Set<Op> ops = parse(spec);
        if (ops.isEmpty()) return null;
        return new Augmentation(ops, norm, data.channels(), data.height(), data.width(), seed);
    }

    /**
     * Parses a comma-separated subset of {@code crop}, {@code flip}, {@code cutout} (case-insensitive, blanks
     * around names ignored); {@code none} or an empty string is the empty set. The order of the names does not
     * matter: the operations always run crop, flip, cutout.
     *
     * @throws IllegalArgumentException one line starting with {@code --augment:} that names the bad word
     */
    public static Set<Op> parse(String spec) {
        EnumSet<Op> set = EnumSet.noneOf(Op.class);
        String s = spec == null ? "" : spec.trim();
        if (s.isEmpty() || s.equalsIgnoreCase(NONE)) return set;
        for (String raw : s.split(",", -1)) {
            String w = raw.trim().toLowerCase(Locale.ROOT);
            Op op = null;
            for (Op o : Op.values()) if (o.specName().equals(w)) op = o;
            if (op == null) {
                throw new IllegalArgumentException("--augment: " + (w.isEmpty() ? "empty name" : "unknown augmentation '"
                        + raw.trim() + "'") + " in '" + spec + "'; expected a comma-separated subset of crop, flip, "
                        + "cutout, or none");
            }
            if (!set.add(op)) {
                throw new IllegalArgumentException("--augment: '" + w + "' appears twice in '" + spec + "'");
            }
        }
        return set;
    }

    /**
     * The default augmentation of a data set: {@code crop,flip} for CIFAR-shaped images (3x32x32), the usual
     * CIFAR recipe; {@code none} for everything else (the 28x28 IDX sets).
     */
    public static String defaultSpec(Dataset data) {
        boolean cifar = data.channels() == 3 && data.height() == 32 && data.width() == 32;
        return cifar ? "crop,flip" : NONE;
    }

    /** The canonical spec of a set of operations, e.g. {@code crop,flip}; {@code none} when empty. */
    public static String spec(Set<Op> ops) {
        if (ops.isEmpty()) return NONE;
        StringJoiner j = new StringJoiner(",");
        for (Op o : Op.values()) if (ops.contains(o)) j.add(o.specName());
        return j.toString();
    }

    /** The enabled operations (unmodifiable). */
    public Set<Op> ops() { return ops; }

    /** The canonical spec of this augmentation, e.g. {@code crop,flip}. */
    public String spec() { return spec(ops); }

    /**
     * What happens to one image. {@code dy, dx} in {@code [-PAD, PAD]}: output pixel (y, x) before the flip is
     * the input pixel (y+dy, x+dx), or padding outside the image; both 0 without crop. {@code flip}: mirrored
     * after the crop. {@code cutout}: whether the square centred at {@code (cy, cx)} is zeroed.
     */
    public record Draw(int dy, int dx, boolean flip, boolean cutout, int cy, int cx) {}

    /** The draws of the image at {@code position} of batch {@code batchIndex} of epoch {@code epoch}. */
    public Draw draw(int epoch, int batchIndex, int position) {
        long h = exampleKey(batchKey(epoch, batchIndex), position);
        return new Draw(crop ? dyOf(h) : 0, crop ? dxOf(h) : 0, flip && flipOf(h), cutout && cutOf(h), cyOf(h), cxOf(h));
    }

    /**
     * Augments the first {@code count} images of {@code x} in place, image k with the draws of
     * {@code (epoch, batchIndex, k)}. Allocates nothing.
     */
    public void apply(MemorySegment x, int count, int epoch, int batchIndex) {
        if (count < 0 || 4L * count * imageSize > x.byteSize()) {
            throw new IllegalArgumentException("batch buffer has " + x.byteSize() + " bytes, " + count
                    + " images need " + 4L * count * imageSize);
        }
        long bk = batchKey(epoch, batchIndex);
        for (int k = 0; k < count; k++) {
            long h = exampleKey(bk, k);
            apply(x, (long) k * imageSize, crop ? dyOf(h) : 0, crop ? dxOf(h) : 0, flip && flipOf(h),
                    cutout && cutOf(h), cyOf(h), cxOf(h));
        }
    }

    /**
     * Applies given draws to the image at float offset {@code floatOffset} of {@code x}, whichever operations
     * this instance has enabled (for tests and tools).
     */
    public void apply(MemorySegment x, long floatOffset, Draw d) {
        Objects.checkFromIndexSize(floatOffset * 4, 4L * imageSize, x.byteSize());
        if (Math.abs(d.dy()) > PAD || Math.abs(d.dx()) > PAD) {
            throw new IllegalArgumentException("crop shift " + d.dy() + "," + d.dx() + " exceeds the padding " + PAD);
        }
        apply(x, floatOffset, d.dy(), d.dx(), d.flip(), d.cutout(), d.cy(), d.cx());
    }

    private void apply(MemorySegment x, long floatOff, int dy, int dx, boolean mirror, boolean cut, int cy, int cx) {
        if (dy != 0 || dx != 0 || mirror) {
            long byteOff = floatOff * 4;
            MemorySegment.copy(x, F32, byteOff, in, 0, imageSize);
            int h = height, w = width;
            for (int c = 0; c < channels; c++) {
                float p = pad[c];
                int cb = c * plane;
                for (int y = 0; y < h; y++) {
                    int sy = y + dy, ob = cb + y * w;
                    if (sy < 0 || sy >= h) {
                        for (int xx = 0; xx < w; xx++) out[ob + xx] = p;
                        continue;
                    }
                    int ib = cb + sy * w;
                    for (int xx = 0; xx < w; xx++) {
                        int sx = (mirror ? w - 1 - xx : xx) + dx;
                        out[ob + xx] = sx < 0 || sx >= w ? p : in[ib + sx];
                    }
                }
            }
            MemorySegment.copy(out, 0, x, F32, byteOff, imageSize);
        }
        if (cut) {
            int half = CUTOUT_SIZE / 2;
            int y1 = Math.max(0, cy - half), y2 = Math.min(height, cy + half);
            int x1 = Math.max(0, cx - half), x2 = Math.min(width, cx + half);
            for (int c = 0; c < channels; c++) {
                for (int y = y1; y < y2; y++) {
                    long row = floatOff + (long) c * plane + (long) y * width;
                    for (int xx = x1; xx < x2; xx++) x.setAtIndex(F32, row + xx, 0f);
                }
            }
        }
    }

    // ---- randomness: draw i of an example is mix64(h + (i+1) * GOLDEN), a SplitMix64 stream --------------

    private long batchKey(int epoch, int batchIndex) {
        long h = mix64(key + GOLDEN * (epoch + 1L));
        return mix64(h ^ (0xD1B54A32D192ED03L * (batchIndex + 1L)));
    }

    private static long exampleKey(long batchKey, int position) {
        return mix64(batchKey + 0xAEF17502108EF2D9L * (position + 1L));
    }

    private static long draw(long h, int i) {
        return mix64(h + GOLDEN * (i + 1L));
    }

    /** Uniform in [0, n) from the high 32 bits (multiply-shift; bias below 2^-32 * n). */
    private static int below(long r, int n) {
        return (int) (((r >>> 32) * n) >>> 32);
    }

    private static boolean chance(long r, double p) {
        return (r >>> 11) * 0x1.0p-53 < p;
    }

    private static int dyOf(long h) { return below(draw(h, 0), 2 * PAD + 1) - PAD; }

    private static int dxOf(long h) { return below(draw(h, 1), 2 * PAD + 1) - PAD; }

    private static boolean flipOf(long h) { return chance(draw(h, 2), FLIP_P); }

    private static boolean cutOf(long h) { return chance(draw(h, 3), CUTOUT_P); }

    private int cyOf(long h) { return below(draw(h, 4), height); }

    private int cxOf(long h) { return below(draw(h, 5), width); }

    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    @Override
    public String toString() {
        return "Augmentation[" + spec() + ", " + channels + "x" + height + "x" + width + "]";
    }
}
