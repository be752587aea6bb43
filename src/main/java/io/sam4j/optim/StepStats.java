package io.sam4j.optim;

/**
 * What one optimizer step measured on the way, at no extra cost (NaN where a plain step has none).
 *
 * @param loss          loss at w (first pass)
 * @param lossAdv       loss at w + e (second pass); lossAdv - loss is the SAM gap R^Asc on the batch
 * @param gradNorm      ||g|| at w (||T g|| for adaptive variants)
 * @param advGradNorm   ||g_adv|| at w + e
 * @param cosine        cos(e, g_adv): the angle between the ascent step taken and the adversarial
 *                      gradient; equals cos(g, g_adv) for SAM and USAM
 * @param perturbNorm   ||e||, the effective perturbation length
 * @param curvature     e^T (g_adv - g) / ||e||^2: a forward-difference estimate of the Hessian's
 *                      curvature along e (<= lambda_max up to O(rho))
 * @param gradScale     factor applied to the final gradient (StableSAM, GSAM and clipping), 1 if none
 * @param sharpnessStep whether the step ran the second, perturbed forward/backward
 * @param gradEvaluations the step's work in whole-batch gradient evaluations (forward + backward): 1 for a
 *                      one-pass step, 2 for SAM's; ESAM's selection forward counts 1/3 (a layer's forward is one
 *                      of its three matrix products) and its second pass the selected share of the batch
 */
public record StepStats(double loss, double lossAdv, double gradNorm, double advGradNorm, double cosine,
                        double perturbNorm, double curvature, double gradScale, boolean sharpnessStep,
                        double gradEvaluations) {

    /** A forward-only pass over the batch, in gradient evaluations (1 of a layer's 3 matrix products). */
    public static final double FORWARD_ONLY = 1.0 / 3;

    StepStats withGradEvaluations(double evaluations) {
        return new StepStats(loss, lossAdv, gradNorm, advGradNorm, cosine, perturbNorm, curvature, gradScale, sharpnessStep,
                evaluations);
    }
}
