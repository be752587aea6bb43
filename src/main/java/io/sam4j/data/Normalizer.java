package io.sam4j.data;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;

/**
 * Maps uint8 pixels p to {@code (p/255 - mean) / std} as float32, with one scalar mean and std for all
 * channels.
 *
 * <p>{@link #fit} computes both over every pixel value {@code p/255} of the training images, in double, with
 * the population standard deviation (divide by the count, not count-1). It sums a 256-bin histogram
 * (two passes: mean, then squared deviations), which equals summing every pixel up to double rounding
 * and does not depend on the pixel order. The conversion itself goes through a
 * 256-entry table computed in double and rounded once to float, so {@code apply} is a table lookup per pixel.
 *
 * <p>Immutable and thread-safe.
 */
public final class Normalizer {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private final double mean, std;
    private final float[] table;

    /**
     * A normalizer with given statistics (e.g. restored from a checkpoint's metadata).
     *
     * @param mean mean of p/255 over the training pixels
     * @param std  population standard deviation of p/255 over the training pixels, {@code > 0}
     */
    public Normalizer(double mean, double std) {
        if (!Double.isFinite(mean) || !Double.isFinite(std) || std <= 0) {
            throw new IllegalArgumentException("normalizer needs a finite mean and a positive std, got mean="
                    + mean + " std=" + std);
        }
        this.mean = mean;
        this.std = std;
        this.table = new float[256];
        for (int v = 0; v < 256; v++) table[v] = (float) ((v / 255.0 - mean) / std);
    }

    /** Mean of p/255 over the training pixels. */
    public double mean() { return mean; }

    /** Population standard deviation of p/255 over the training pixels. */
    public double std() { return std; }

    /** Mean and population std of p/255 over every training pixel. */
    public static Normalizer fit(Dataset train) {
        byte[] px = train.pixels();
        if (px.length == 0) {
            throw new DataException(train.name() + ": cannot fit a normalizer to an empty data set");
        }
        long[] hist = new long[256];
        for (byte b : px) hist[b & 0xff]++;
        double n = px.length;
        double sum = 0;
        for (int v = 0; v < 256; v++) sum += hist[v] * (v / 255.0);
        double mean = sum / n;
        double ss = 0;
        for (int v = 0; v < 256; v++) {
            double d = v / 255.0 - mean;
            ss += hist[v] * d * d;
        }
        double std = Math.sqrt(ss / n);
        if (!(std > 0)) {
            throw new DataException(train.name() + ": all training pixels have the same value, std is 0; "
                    + "cannot normalise");
        }
        return new Normalizer(mean, std);
    }

    /** The float each uint8 value maps to; a fresh copy. */
    public float[] table() {
        return table.clone();
    }

    /** The normalised value of one uint8 pixel {@code u8} in 0..255. */
    public float normalize(int u8) {
        return table[u8 & 0xff];
    }

    /**
     * {@code dst[dstOff + i] = normalize(src[srcOff + i])} for {@code i < len}. Offsets and length count
     * pixels (use {@code image * dataset.imageSize()} to address whole images).
     */
    public void apply(byte[] src, int srcOff, int len, float[] dst, int dstOff) {
        Objects.checkFromIndexSize(srcOff, len, src.length);
        Objects.checkFromIndexSize(dstOff, len, dst.length);
        float[] t = table;
        for (int i = 0; i < len; i++) dst[dstOff + i] = t[src[srcOff + i] & 0xff];
    }

    /**
     * Writes {@code normalize(src[srcOff + i])} as native-order float32 to {@code dst} at float index
     * {@code dstFloatOff + i} (byte offset {@code 4*(dstFloatOff + i)}), for {@code i < len}.
     */
    public void apply(byte[] src, int srcOff, int len, MemorySegment dst, long dstFloatOff) {
        Objects.checkFromIndexSize(srcOff, len, src.length);
        if (dstFloatOff < 0 || (dstFloatOff + len) * 4L > dst.byteSize()) {
            throw new IndexOutOfBoundsException("floats [" + dstFloatOff + ", " + (dstFloatOff + len)
                    + ") outside a segment of " + dst.byteSize() + " bytes");
        }
        float[] t = table;
        for (int i = 0; i < len; i++) dst.setAtIndex(F32, dstFloatOff + i, t[src[srcOff + i] & 0xff]);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Normalizer n && Double.compare(n.mean, mean) == 0 && Double.compare(n.std, std) == 0;
    }

    @Override
    public int hashCode() {
        return Double.hashCode(mean) * 31 + Double.hashCode(std);
    }

    @Override
    public String toString() {
        return "Normalizer[mean=" + mean + ", std=" + std + "]";
    }
}
