package io.sam4j.data;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Locale;
import java.util.Objects;

/**
 * Maps a uint8 pixel p of channel c to {@code (p/255 - mean[c]) / std[c]} as float32: per-channel statistics,
 * as {@code torchvision.transforms.Normalize} does for CIFAR. A single-channel normalizer (every IDX data set,
 * or one built with {@link #Normalizer(double, double)} or {@link #fitGlobal}) applies its one mean and std to
 * every pixel, whatever the number of channels.
 *
 * <p>{@link #fit} computes, for each channel separately, the mean and the population standard deviation
 * (divide by the count, not count-1) of {@code p/255} over every pixel of that channel in the training images,
 * in double. It sums a 256-bin histogram per channel (two passes: mean, then squared deviations), which equals
 * summing every pixel up to double rounding and does not depend on the pixel order. For one-channel data this
 * is exactly the single mean and std over all pixels. The conversion itself goes through a 256-entry table per
 * channel computed in double and rounded once to float, so {@code apply} is a table lookup per pixel.
 *
 * <p><b>Channel addressing.</b> A per-channel normalizer knows the plane size {@code H*W} of the images it was
 * fitted to. The {@code apply} methods take pixel offsets into an NCHW pixel array whose images start at 0
 * (such as {@link Dataset#pixels()}), so pixel offset {@code o} belongs to channel {@code (o / (H*W)) mod C}.
 * {@link Batcher} checks that its normalizer matches its data set's shape.
 *
 * <p>Immutable and thread-safe.
 */
public final class Normalizer {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private final double[] means, stds;
    private final int planeSize; // H*W for a per-channel normalizer; 0 for a single-channel one
    private final double mean, std; // pooled over all channels (equal pixel counts per channel)
    private final float[][] tables;

    /**
     * A single-channel normalizer with given statistics (e.g. restored from a checkpoint's metadata), applied
     * to every pixel whatever its channel.
     *
     * @param mean mean of p/255 over the training pixels
     * @param std  population standard deviation of p/255 over the training pixels, {@code > 0}
     */
    public Normalizer(double mean, double std) {
        this(new double[] {mean}, new double[] {std}, 0);
    }

    /**
     * A per-channel normalizer with given statistics.
     *
     * @param means     mean of p/255 of each channel; its length is the number of channels C
     * @param stds      population standard deviation of p/255 of each channel, all {@code > 0}
     * @param planeSize pixels per channel plane, {@code H*W}; must be positive when C > 1, ignored when C = 1
     */
    public Normalizer(double[] means, double[] stds, int planeSize) {
        if (means.length == 0 || means.length != stds.length) {
            throw new IllegalArgumentException("normalizer needs as many means as stds, at least one, got "
                    + means.length + " and " + stds.length);
        }
        for (int c = 0; c < means.length; c++) {
            if (!Double.isFinite(means[c]) || !Double.isFinite(stds[c]) || stds[c] <= 0) {
                throw new IllegalArgumentException("normalizer needs a finite mean and a positive std, got mean="
                        + means[c] + " std=" + stds[c] + (means.length > 1 ? " for channel " + c : ""));
            }
        }
        if (means.length > 1 && planeSize <= 0) {
            throw new IllegalArgumentException("a per-channel normalizer needs a positive plane size H*W, got "
                    + planeSize);
        }
        int ch = means.length;
        this.means = means.clone();
        this.stds = stds.clone();
        this.planeSize = ch == 1 ? 0 : planeSize;
        this.tables = new float[ch][256];
        double m = 0, msq = 0;
        for (int c = 0; c < ch; c++) {
            for (int v = 0; v < 256; v++) tables[c][v] = (float) ((v / 255.0 - means[c]) / stds[c]);
            m += means[c];
        }
        m /= ch;
        for (int c = 0; c < ch; c++) msq += stds[c] * stds[c] + (means[c] - m) * (means[c] - m);
        this.mean = ch == 1 ? means[0] : m;
        this.std = ch == 1 ? stds[0] : Math.sqrt(msq / ch);
    }

    /**
     * Mean of p/255 over all training pixels. For a per-channel normalizer this is the pooled value over all
     * channels (each channel has the same number of pixels), i.e. what a single-channel fit would give.
     */
    public double mean() { return mean; }

    /**
     * Population standard deviation of p/255 over all training pixels; for a per-channel normalizer the pooled
     * value {@code sqrt(mean_c(std_c^2 + (mean_c - mean)^2))}, i.e. what a single-channel fit would give.
     */
    public double std() { return std; }

    /** Number of channels with their own statistics (1 for a single-channel normalizer). */
    public int channels() { return means.length; }

    /** {@code H*W} of a per-channel normalizer; 0 for a single-channel one (it fits any shape). */
    public int planeSize() { return planeSize; }

    /** Mean of p/255 of channel {@code c}. */
    public double mean(int c) { return means[c]; }

    /** Population standard deviation of p/255 of channel {@code c}. */
    public double std(int c) { return stds[c]; }

    /** Per-channel means; a fresh copy. */
    public double[] means() { return means.clone(); }

    /** Per-channel standard deviations; a fresh copy. */
    public double[] stds() { return stds.clone(); }

    /**
     * Whether this normalizer can be applied to images of the given shape: a single-channel normalizer fits
     * anything, a per-channel one needs the same channel count and plane size.
     */
    public boolean fits(int channels, int height, int width) {
        return means.length == 1 || (means.length == channels && (long) height * width == planeSize);
    }

    /**
     * Statistics of every channel of the training images: C means and stds for C-channel data (a
     * single-channel normalizer for one-channel data, identical to {@link #fitGlobal}).
     *
     * @throws DataException naming the data set if it is empty or a channel has only one pixel value
     */
    public static Normalizer fit(Dataset train) {
        byte[] px = train.pixels();
        if (px.length == 0) {
            throw new DataException(train.name() + ": cannot fit a normalizer to an empty data set");
        }
        int ch = train.channels(), plane = train.height() * train.width();
        long[][] hist = new long[ch][256];
        int off = 0;
        for (int i = 0; i < train.size(); i++) {
            for (int c = 0; c < ch; c++) {
                long[] h = hist[c];
                for (int end = off + plane; off < end; off++) h[px[off] & 0xff]++;
            }
        }
        double[] m = new double[ch], s = new double[ch];
        for (int c = 0; c < ch; c++) {
            double[] ms = stats(hist[c]);
            m[c] = ms[0];
            s[c] = ms[1];
            if (!(s[c] > 0)) {
                throw new DataException(train.name() + ": all training pixels" + (ch > 1 ? " of channel " + c : "")
                        + " have the same value, std is 0; cannot normalise");
            }
        }
        return new Normalizer(m, s, plane);
    }

    /**
     * One mean and std over every pixel of every channel (the single-statistics normalisation; what
     * {@link #fit} gives for one-channel data).
     *
     * @throws DataException naming the data set if it is empty or all pixels are equal
     */
    public static Normalizer fitGlobal(Dataset train) {
        byte[] px = train.pixels();
        if (px.length == 0) {
            throw new DataException(train.name() + ": cannot fit a normalizer to an empty data set");
        }
        long[] hist = new long[256];
        for (byte b : px) hist[b & 0xff]++;
        double[] ms = stats(hist);
        if (!(ms[1] > 0)) {
            throw new DataException(train.name() + ": all training pixels have the same value, std is 0; "
                    + "cannot normalise");
        }
        return new Normalizer(ms[0], ms[1]);
    }

    /** {mean, population std} of v/255 weighted by hist[v]. */
    private static double[] stats(long[] hist) {
        double n = 0, sum = 0;
        for (int v = 0; v < 256; v++) {
            n += hist[v];
            sum += hist[v] * (v / 255.0);
        }
        double mean = sum / n;
        double ss = 0;
        for (int v = 0; v < 256; v++) {
            double d = v / 255.0 - mean;
            ss += hist[v] * d * d;
        }
        return new double[] {mean, Math.sqrt(ss / n)};
    }

    /**
     * The float each uint8 value maps to; a fresh copy.
     *
     * @throws IllegalStateException for a per-channel normalizer (use {@link #table(int)})
     */
    public float[] table() {
        return tables[single("table()")].clone();
    }

    /** The float each uint8 value of channel {@code c} maps to; a fresh copy. */
    public float[] table(int c) {
        return tables[c].clone();
    }

    /**
     * The normalised value of one uint8 pixel {@code u8} in 0..255.
     *
     * @throws IllegalStateException for a per-channel normalizer (use {@link #normalize(int, int)})
     */
    public float normalize(int u8) {
        return tables[single("normalize(u8)")][u8 & 0xff];
    }

    /**
     * The normalised value of uint8 pixel {@code u8} of channel {@code c} (any c for a single-channel
     * normalizer). {@code normalize(c, 0)} is what a zero-padded border pixel becomes.
     */
    public float normalize(int c, int u8) {
        return tables[means.length == 1 ? 0 : c][u8 & 0xff];
    }

    /**
     * {@code dst[dstOff + i] = normalize(channel of srcOff + i, src[srcOff + i])} for {@code i < len}. Offsets
     * and length count pixels (use {@code image * dataset.imageSize()} to address whole images).
     */
    public void apply(byte[] src, int srcOff, int len, float[] dst, int dstOff) {
        Objects.checkFromIndexSize(srcOff, len, src.length);
        Objects.checkFromIndexSize(dstOff, len, dst.length);
        if (means.length == 1) {
            float[] t = tables[0];
            for (int i = 0; i < len; i++) dst[dstOff + i] = t[src[srcOff + i] & 0xff];
            return;
        }
        for (int i = 0; i < len; ) {
            int pos = srcOff + i;
            float[] t = tables[(pos / planeSize) % means.length];
            int run = Math.min(len - i, planeSize - pos % planeSize);
            for (int j = 0; j < run; j++) dst[dstOff + i + j] = t[src[pos + j] & 0xff];
            i += run;
        }
    }

    /**
     * Writes {@code normalize(channel of srcOff + i, src[srcOff + i])} as native-order float32 to {@code dst}
     * at float index {@code dstFloatOff + i} (byte offset {@code 4*(dstFloatOff + i)}), for {@code i < len}.
     */
    public void apply(byte[] src, int srcOff, int len, MemorySegment dst, long dstFloatOff) {
        Objects.checkFromIndexSize(srcOff, len, src.length);
        if (dstFloatOff < 0 || (dstFloatOff + len) * 4L > dst.byteSize()) {
            throw new IndexOutOfBoundsException("floats [" + dstFloatOff + ", " + (dstFloatOff + len)
                    + ") outside a segment of " + dst.byteSize() + " bytes");
        }
        if (means.length == 1) {
            float[] t = tables[0];
            for (int i = 0; i < len; i++) dst.setAtIndex(F32, dstFloatOff + i, t[src[srcOff + i] & 0xff]);
            return;
        }
        for (int i = 0; i < len; ) {
            int pos = srcOff + i;
            float[] t = tables[(pos / planeSize) % means.length];
            int run = Math.min(len - i, planeSize - pos % planeSize);
            long d = dstFloatOff + i;
            for (int j = 0; j < run; j++) dst.setAtIndex(F32, d + j, t[src[pos + j] & 0xff]);
            i += run;
        }
    }

    /**
     * A short line for logs: {@code mean 0.2860 std 0.3530} for a single-channel normalizer,
     * {@code mean (0.4914, 0.4822, 0.4465) std (0.2470, 0.2435, 0.2616)} for a per-channel one.
     */
    public String describe() {
        return "mean " + fmt(means) + " std " + fmt(stds);
    }

    private static String fmt(double[] v) {
        if (v.length == 1) return String.format(Locale.ROOT, "%.4f", v[0]);
        StringBuilder b = new StringBuilder("(");
        for (int i = 0; i < v.length; i++) b.append(i > 0 ? ", " : "").append(String.format(Locale.ROOT, "%.4f", v[i]));
        return b.append(')').toString();
    }

    private int single(String what) {
        if (means.length != 1) {
            throw new IllegalStateException(what + " needs a single-channel normalizer; this one has "
                    + means.length + " channels, pass the channel");
        }
        return 0;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Normalizer n && n.planeSize == planeSize && Arrays.equals(n.means, means)
                && Arrays.equals(n.stds, stds);
    }

    @Override
    public int hashCode() {
        return (Arrays.hashCode(means) * 31 + Arrays.hashCode(stds)) * 31 + planeSize;
    }

    @Override
    public String toString() {
        if (means.length == 1) return "Normalizer[mean=" + mean + ", std=" + std + "]";
        return "Normalizer[mean=" + Arrays.toString(means) + ", std=" + Arrays.toString(stds) + ", plane="
                + planeSize + "]";
    }
}
