package io.sam4j.nn;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;

/**
 * Mean softmax cross-entropy over the batch (log-sum-exp stable), optionally with PyTorch's label
 * smoothing: the target is (1 - s) one-hot + s/K. The gradient w.r.t. the logits is (p - q) / N.
 */
public final class SoftmaxCrossEntropy {
    private final int classes;
    private final float smoothing;
    private final Context ctx;
    private MemorySegment dlogits, probs, rdlogits;

    public SoftmaxCrossEntropy(int classes, float smoothing, Context ctx) {
        if (smoothing < 0 || smoothing >= 1) throw new IllegalArgumentException("label smoothing must be in [0, 1)");
        this.classes = classes;
        this.smoothing = smoothing;
        this.ctx = ctx;
    }

    /** Per-example losses summed (not averaged) and the argmax hits, for evaluation. */
    public record Eval(double lossSum, int correct) {}

    /** Mean loss; fills the gradient returned by {@link #grad()} when {@code wantGrad}. */
    public double forward(MemorySegment logits, int[] labels, int n, boolean wantGrad) {
        if (wantGrad) {
            dlogits = ctx.ensure(dlogits, (long) n * classes);
            probs = ctx.ensure(probs, (long) n * classes);
        }
        double total = 0;
        float off = smoothing / classes;
        float on = 1f - smoothing + off;
        for (int i = 0; i < n; i++) {
            long row = (long) i * classes;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < classes; j++) max = Math.max(max, logits.getAtIndex(JAVA_FLOAT, row + j));
            double sum = 0;
            for (int j = 0; j < classes; j++) sum += Math.exp(logits.getAtIndex(JAVA_FLOAT, row + j) - max);
            double logZ = max + Math.log(sum);
            int label = labels[i];
            if (label < 0 || label >= classes) throw new IllegalArgumentException("label " + label + " out of range");
            double li = 0;
            for (int j = 0; j < classes; j++) {
                double logp = logits.getAtIndex(JAVA_FLOAT, row + j) - logZ;
                float q = smoothing == 0f ? (j == label ? 1f : 0f) : (j == label ? on : off);
                if (q != 0f) li -= q * logp;
                if (wantGrad) {
                    dlogits.setAtIndex(JAVA_FLOAT, row + j, (float) ((Math.exp(logp) - q) / n));
                    probs.setAtIndex(JAVA_FLOAT, row + j, (float) Math.exp(logp));
                }
            }
            total += li;
        }
        return total / n;
    }

    public MemorySegment grad() {
        return dlogits;
    }

    /**
     * R{dlogits} = (diag p - p p^T) R{z} / N per row, p the softmax of the last {@link #forward} with
     * {@code wantGrad} (the smoothing drops out: the targets sum to 1). {@code rz} null means zero.
     */
    public MemorySegment rBackward(MemorySegment rz, int n) {
        rdlogits = ctx.ensure(rdlogits, (long) n * classes);
        for (int i = 0; i < n; i++) {
            long row = (long) i * classes;
            double pr = 0;
            if (rz != null) for (int j = 0; j < classes; j++) pr += (double) probs.getAtIndex(JAVA_FLOAT, row + j) * rz.getAtIndex(JAVA_FLOAT, row + j);
            for (int j = 0; j < classes; j++) {
                double p = probs.getAtIndex(JAVA_FLOAT, row + j), r = rz == null ? 0 : rz.getAtIndex(JAVA_FLOAT, row + j);
                rdlogits.setAtIndex(JAVA_FLOAT, row + j, (float) (p * (r - pr) / n));
            }
        }
        return rdlogits;
    }

    /** Summed loss (without smoothing) and the number of correct argmax predictions. */
    public Eval evaluate(MemorySegment logits, int[] labels, int n) {
        double total = 0;
        int correct = 0;
        for (int i = 0; i < n; i++) {
            long row = (long) i * classes;
            float max = Float.NEGATIVE_INFINITY;
            int arg = 0;
            for (int j = 0; j < classes; j++) {
                float v = logits.getAtIndex(JAVA_FLOAT, row + j);
                if (v > max) {
                    max = v;
                    arg = j;
                }
            }
            double sum = 0;
            for (int j = 0; j < classes; j++) sum += Math.exp(logits.getAtIndex(JAVA_FLOAT, row + j) - max);
            total += max + Math.log(sum) - logits.getAtIndex(JAVA_FLOAT, row + labels[i]);
            if (arg == labels[i]) correct++;
        }
        return new Eval(total, correct);
    }
}
