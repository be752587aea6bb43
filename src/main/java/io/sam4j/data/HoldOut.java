package io.sam4j.data;

import java.util.Arrays;
import java.util.Random;

/**
 * A validation split taken from the training set: {@code floor(fraction * N)} examples chosen with the seed
 * are held out (never trained on); both parts keep the original order. Selecting checkpoints on this split
 * instead of the test set keeps the test accuracy an unbiased estimate.
 */
public final class HoldOut {
    /** The training part and the held-out validation part. */
    public record Split(Dataset train, Dataset validation) {}

    private HoldOut() {}

    public static Split of(Dataset data, double fraction, long seed) {
        if (!(fraction > 0 && fraction < 1)) throw new IllegalArgumentException("--val-split must be in (0, 1), got " + fraction);
        int n = data.size(), nVal = (int) Math.floor(fraction * n);
        if (nVal < 1 || nVal >= n) {
            throw new IllegalArgumentException("--val-split " + fraction + " leaves " + nVal + " of " + n + " examples for validation");
        }
        int[] perm = new int[n];
        for (int i = 0; i < n; i++) perm[i] = i;
        Random r = new Random(seed ^ 0x76616c5f73706c74L); // its own stream: independent of shuffling and label noise
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        boolean[] held = new boolean[n];
        for (int i = 0; i < nVal; i++) held[perm[i]] = true;
        return new Split(part(data, held, false, n - nVal, "train"), part(data, held, true, nVal, "val"));
    }

    private static Dataset part(Dataset d, boolean[] held, boolean want, int count, String suffix) {
        int img = d.imageSize();
        byte[] px = new byte[count * img];
        int[] labels = new int[count];
        int k = 0;
        for (int i = 0; i < d.size(); i++) {
            if (held[i] != want) continue;
            System.arraycopy(d.pixels(), i * img, px, k * img, img);
            labels[k++] = d.labels()[i];
        }
        return Dataset.of(d.name() + "-" + suffix, d.channels(), d.height(), d.width(), d.numClasses(), px,
                Arrays.copyOf(labels, count));
    }
}
