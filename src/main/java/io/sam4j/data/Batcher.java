package io.sam4j.data;

import java.lang.foreign.MemorySegment;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Cuts a {@link Dataset} into normalised float32 mini-batches.
 *
 * <p><b>Training batches.</b> An epoch has {@link #batchesPerEpoch()} = {@code floor(N / B)} batches of
 * exactly B examples; the last {@code N mod B} examples of the epoch's order are dropped (PyTorch's
 * {@code drop_last=True}), so every step sees a full batch. With shuffling the order of epoch {@code e} is a
 * Fisher-Yates shuffle of {@code 0..N-1}, starting from the identity, driven by
 * {@code new SplittableRandom(epochSeed(seed, e))}: it depends only on (seed, e), not on which epochs were
 * visited before, so a resumed run sees the same batches. Different epochs therefore drop different examples.
 * Without shuffling batch i holds examples {@code [i*B, (i+1)*B)} in file order.
 *
 * <p><b>Evaluation.</b> {@link #fillSequential} writes any range in file order, so
 * {@link #evalBatches}{@code (N, B)} calls with {@code from = i*B, count = min(B, N - i*B)} cover every
 * example once, the last batch partial.
 *
 * <p>Output layout: example k of a batch occupies floats {@code [k*C*H*W, (k+1)*C*H*W)} of {@code x} (NCHW,
 * native byte order, see {@link Normalizer#apply(byte[], int, int, MemorySegment, long)}), its label
 * {@code labelsOut[k]}. The normalizer must {@linkplain Normalizer#fits fit} the data set's image shape
 * (per-channel statistics need the same C and H*W; a single-channel normalizer fits anything).
 *
 * <p>A Batcher caches the current epoch's permutation in one preallocated array and allocates nothing per
 * batch. It is not thread-safe: use one per thread (they are cheap apart from the N-int permutation).
 */
public final class Batcher {
    private final Dataset data;
    private final Normalizer norm;
    private final int batchSize;
    private final long seed;
    private final boolean shuffle;
    private final int imageSize;
    private final int[] perm; // null without shuffling
    private int permEpoch = Integer.MIN_VALUE;

    /**
     * @param batchSize B, between 1 and {@code data.size()}
     * @param seed      seeds the per-epoch shuffles
     * @param shuffle   false: batches in file order, every epoch the same
     */
    public Batcher(Dataset data, Normalizer norm, int batchSize, long seed, boolean shuffle) {
        this.data = Objects.requireNonNull(data);
        this.norm = Objects.requireNonNull(norm);
        if (batchSize <= 0) throw new IllegalArgumentException("batch size must be positive, got " + batchSize);
        if (batchSize > data.size()) {
            throw new IllegalArgumentException("batch size " + batchSize + " exceeds the " + data.size()
                    + " examples of " + data.name());
        }
        if (!norm.fits(data.channels(), data.height(), data.width())) {
            throw new IllegalArgumentException("normalizer " + norm + " does not fit the " + data.channels() + "x"
                    + data.height() + "x" + data.width() + " images of " + data.name());
        }
        this.batchSize = batchSize;
        this.seed = seed;
        this.shuffle = shuffle;
        this.imageSize = data.imageSize();
        this.perm = shuffle ? new int[data.size()] : null;
    }

    public Dataset dataset() { return data; }

    public Normalizer normalizer() { return norm; }

    public int batchSize() { return batchSize; }

    public boolean shuffles() { return shuffle; }

    /** Floats per example, {@code C*H*W}. */
    public int imageSize() { return imageSize; }

    /** Bytes {@code x} needs for a full batch: {@code 4*B*C*H*W}. */
    public long batchBytes() { return 4L * batchSize * imageSize; }

    /** {@code floor(N / B)}: the incomplete tail of each epoch is dropped. */
    public int batchesPerEpoch() { return data.size() / batchSize; }

    /** Number of evaluation batches of size b covering n examples: {@code ceil(n / b)}. */
    public static int evalBatches(int n, int b) {
        if (n < 0 || b <= 0) throw new IllegalArgumentException("n=" + n + " b=" + b);
        return (int) ((n + (long) b - 1) / b);
    }

    /**
     * Writes training batch {@code batchIndex} of epoch {@code epoch} (any int; epochs are independent) into
     * {@code x} (at least {@link #batchBytes()} bytes) and {@code labelsOut} (at least B entries).
     */
    public void fill(int epoch, int batchIndex, MemorySegment x, int[] labelsOut) {
        Objects.checkIndex(batchIndex, batchesPerEpoch());
        checkOut(batchSize, x, labelsOut);
        int base = batchIndex * batchSize;
        if (!shuffle) {
            copy(base, batchSize, x, labelsOut);
            return;
        }
        int[] order = permutation(epoch);
        byte[] px = data.pixels();
        int[] lab = data.labels();
        for (int k = 0; k < batchSize; k++) {
            int idx = order[base + k];
            norm.apply(px, idx * imageSize, imageSize, x, (long) k * imageSize);
            labelsOut[k] = lab[idx];
        }
    }

    /**
     * Writes examples {@code [from, from+count)} in file order (no shuffling, for evaluation) into {@code x}
     * and {@code labelsOut}; {@code count} may be anything from 1 to the remaining examples.
     */
    public void fillSequential(int from, int count, MemorySegment x, int[] labelsOut) {
        Objects.checkFromIndexSize(from, count, data.size());
        checkOut(count, x, labelsOut);
        copy(from, count, x, labelsOut);
    }

    /** The example order of epoch {@code epoch}: a fresh copy (file order when not shuffling). */
    public int[] order(int epoch) {
        if (!shuffle) {
            int[] id = new int[data.size()];
            for (int i = 0; i < id.length; i++) id[i] = i;
            return id;
        }
        return permutation(epoch).clone();
    }

    /**
     * The seed of epoch {@code epoch}'s shuffle: {@code mix64(seed ^ mix64(0x9E3779B97F4A7C15 * (epoch+1)))}
     * where mix64 is SplitMix64's output mixer (Stafford's variant 13), so nearby seeds and epochs give
     * unrelated streams.
     */
    public static long epochSeed(long seed, int epoch) {
        return mix64(seed ^ mix64(0x9E3779B97F4A7C15L * (epoch + 1L)));
    }

    /**
     * Returns a copy of {@code labels} in which exactly {@code floor(p * n)} positions, chosen uniformly at
     * random without replacement, get a label drawn uniformly from ALL {@code numClasses} classes, which may
     * be the original one. This is the symmetric noise of the F-SAM / DivideMix CIFAR loaders
     * ({@code num_noise = int(r*50000)} shuffled indices, {@code random.randint(0, 9)}), so the fraction of
     * labels that actually change is about {@code p * (numClasses-1)/numClasses} (0.9 p for ten classes).
     * Deterministic for a given seed (a {@link SplittableRandom} seeded with {@code seed}).
     */
    public static int[] withLabelNoise(int[] labels, int numClasses, double p, long seed) {
        if (!(p >= 0 && p <= 1)) throw new IllegalArgumentException("noise rate must be in [0, 1], got " + p);
        if (numClasses <= 0) throw new IllegalArgumentException("numClasses must be positive, got " + numClasses);
        int n = labels.length;
        int k = (int) Math.floor(p * n);
        int[] out = labels.clone();
        if (k == 0) return out;
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        // Partial Fisher-Yates: idx[0..k) becomes a uniform random k-subset (in random order).
        for (int i = 0; i < k; i++) {
            int j = i + rnd.nextInt(n - i);
            int t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        for (int i = 0; i < k; i++) out[idx[i]] = rnd.nextInt(numClasses);
        return out;
    }

    // ---- internals ------------------------------------------------------------------------------------

    private int[] permutation(int epoch) {
        if (permEpoch != epoch) {
            for (int i = 0; i < perm.length; i++) perm[i] = i;
            SplittableRandom rnd = new SplittableRandom(epochSeed(seed, epoch));
            for (int i = perm.length - 1; i > 0; i--) {
                int j = rnd.nextInt(i + 1);
                int t = perm[i];
                perm[i] = perm[j];
                perm[j] = t;
            }
            permEpoch = epoch;
        }
        return perm;
    }

    private void copy(int from, int count, MemorySegment x, int[] labelsOut) {
        norm.apply(data.pixels(), from * imageSize, count * imageSize, x, 0);
        System.arraycopy(data.labels(), from, labelsOut, 0, count);
    }

    private void checkOut(int count, MemorySegment x, int[] labelsOut) {
        long need = 4L * count * imageSize;
        if (x.byteSize() < need) {
            throw new IllegalArgumentException("batch buffer has " + x.byteSize() + " bytes, " + count
                    + " examples need " + need);
        }
        if (labelsOut.length < count) {
            throw new IllegalArgumentException("label buffer has " + labelsOut.length + " entries, need " + count);
        }
    }

    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
