package io.sam4j.train;

import io.sam4j.optim.StepStats;

/** Running means of the per-step signals over one epoch (NaN-aware: plain steps have no adversarial pass). */
final class EpochStats {
    private final double[] sum = new double[10];
    private final int[] count = new int[10];
    long correct, seen;
    private long steps, sharpnessSteps;

    void add(StepStats s) {
        steps++;
        if (s.sharpnessStep()) sharpnessSteps++;
        double[] v = {s.loss(), s.lossAdv(), s.lossAdv() - s.loss(), s.gradNorm(), s.advGradNorm(), s.cosine(),
                s.perturbNorm(), s.curvature(), s.sharpnessStep() ? s.gradScale() : Double.NaN, s.gradEvaluations()};
        for (int i = 0; i < v.length; i++) {
            if (Double.isFinite(v[i])) {
                sum[i] += v[i];
                count[i]++;
            }
        }
    }

    double mean(int i) {
        return count[i] == 0 ? Double.NaN : sum[i] / count[i];
    }

    double loss() { return mean(0); }
    double lossAdv() { return mean(1); }
    double samGap() { return mean(2); }
    double gradNorm() { return mean(3); }
    double advGradNorm() { return mean(4); }
    double cosine() { return mean(5); }
    double perturbNorm() { return mean(6); }
    double curvature() { return mean(7); }
    /** Mean factor on the final gradient over the SAM steps (StableSAM's ||g||/||g_adv||, GSAM's, clipping's). */
    double gradScale() { return mean(8); }
    /** Mean work per step in whole-batch gradient evaluations (SAM 2, a skipped step 1, ESAM ~1.8). */
    double gradEvaluations() { return mean(9); }

    /** The fraction of this epoch's steps that ran the second, perturbed pass. */
    double samFraction() { return steps == 0 ? Double.NaN : (double) sharpnessSteps / steps; }
}
