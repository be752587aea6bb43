package io.sam4j.cli;

import io.sam4j.train.TrainConfig;
import picocli.CommandLine.Option;

/**
 * The optimizer step's flags, shared by {@code train} and {@code bench} (a picocli mixin): the SAM family's
 * hyperparameters and how the batch is split ({@code --accumulate}, {@code --m}).
 * A flag left out keeps the command's default (TrainConfig's for train, the PyTorch reference script's for
 * bench), so every field is boxed and null when not given.
 */
final class SamFamilyOptions {
    @Option(names = "--base", paramLabel = "O", description = "Base optimizer of the SAM family: sgd or adamw (default: sgd).")
    String base;

    @Option(names = "--rho", description = "SAM-family perturbation radius; rho_max with --rho-min (default: 0.05).")
    Float rho;

    @Option(names = "--rho-min", paramLabel = "RHO", description = "rho follows the learning rate, from --rho at the first lr "
            + "to RHO at the last (GSAM's schedule, big_vision code; default: off, rho constant).")
    Float rhoMin;

    @Option(names = "--sigma", description = "F-SAM: weight of the gradient EMA subtracted (default: 1).")
    Float sigma;

    @Option(names = "--lambda", description = "F-SAM: EMA decay (default: 0.9; bench: 0.6).")
    Float lambda;

    @Option(names = "--eta", description = "ASAM (official form): T = |w| + eta (default: 0.01).")
    Float eta;

    @Option(names = "--adaptive", description = "Adaptive (ASAM) direction on top of sam, usam, fsam, gsam, looksam, aesam, rst.")
    boolean adaptive;

    @Option(names = "--asam-form", paramLabel = "F", description = "official (|w|+eta on weight tensors, SamsungLabs) or elementwise "
            + "(|w| on every tensor, davda54) (default: official).")
    String asamForm;

    @Option(names = "--stable", description = "StableSAM: rescale the perturbed gradient to the norm of the exact one "
            + "(not with gsam or looksam: undefined).")
    boolean stable;

    @Option(names = "--friendly", description = "F-SAM's direction on the SAM steps of gsam, looksam, aesam, rst and esam (beta 1).")
    boolean friendly;

    @Option(names = "--gsam-alpha", paramLabel = "A", description = "GSAM: ascent weight along the part of g orthogonal "
            + "to g_adv (default: 0.4, the author's PyTorch example; the paper's ResNet runs use 0.01, ViT 0.6).")
    Float gsamAlpha;

    @Option(names = "--looksam-k", paramLabel = "K", description = "LookSAM: a SAM step every K steps (default: 5; UNVERIFIED, "
            + "no author code: ports use 5 or 10).")
    Integer lookSamK;

    @Option(names = "--looksam-alpha", paramLabel = "A", description = "LookSAM: weight of the reused component (default: 0.7; "
            + "UNVERIFIED, from the ports).")
    Float lookSamAlpha;

    @Option(names = "--ae-delta", paramLabel = "D", description = "AE-SAM: decay of the running mean/variance of |g|^2 "
            + "(default: 0.9; UNVERIFIED, no author code).")
    Float aeDelta;

    @Option(names = "--ae-lambda1", paramLabel = "L", description = "AE-SAM: threshold factor at the end of training "
            + "(default: -1; UNVERIFIED).")
    Float aeLambda1;

    @Option(names = "--ae-lambda2", paramLabel = "L", description = "AE-SAM: threshold factor at the start (default: 1; UNVERIFIED).")
    Float aeLambda2;

    @Option(names = "--rst-schedule", paramLabel = "S", description = "RST: probability of a SAM step over training: "
            + "constant:P, piecewise:PA:PB:TAU0, linear:PS:PE or trig:PS:PE (default: constant:0.5; our parametrisation "
            + "of the paper's four families, UNVERIFIED).")
    String rstSchedule;

    @Option(names = "--esam-beta", paramLabel = "B", description = "ESAM: probability that a parameter tensor is perturbed "
            + "(default: 0.6, the authors' run.sh for ResNet-18; their class default is 1).")
    Float esamBeta;

    @Option(names = "--esam-gamma", paramLabel = "G", description = "ESAM: fraction of the batch (largest loss rise at w + e) "
            + "in the second pass (default: 0.5, run.sh; class default 1).")
    Float esamGamma;

    /** Copies the flags that were given into {@code c}. */
    @Option(names = "--accumulate", paramLabel = "N", description = "Split each batch into N micro-batches and average their "
            + "gradients before the step (SAM: one perturbation from the accumulated gradient) (default: 1).")
    Integer accumulate;

    @Option(names = "--m", paramLabel = "M", description = "m-sharpness in one process: each micro-batch of M examples perturbs "
            + "along its own gradient, the final gradients are averaged, as data-parallel local perturbations do "
            + "(SAM family; default: off).")
    Integer m;

    void applyTo(TrainConfig c) {
        if (base != null) c.base = base;
        if (rho != null) c.rho = rho;
        if (rhoMin != null) c.rhoMin = rhoMin;
        if (sigma != null) c.sigma = sigma;
        if (lambda != null) c.lambda = lambda;
        if (eta != null) c.eta = eta;
        c.adaptive |= adaptive;
        if (asamForm != null) c.asamForm = asamForm;
        c.stable |= stable;
        c.friendly |= friendly;
        if (gsamAlpha != null) c.gsamAlpha = gsamAlpha;
        if (lookSamK != null) c.lookSamK = lookSamK;
        if (lookSamAlpha != null) c.lookSamAlpha = lookSamAlpha;
        if (aeDelta != null) c.aeDelta = aeDelta;
        if (aeLambda1 != null) c.aeLambda1 = aeLambda1;
        if (aeLambda2 != null) c.aeLambda2 = aeLambda2;
        if (rstSchedule != null) c.rstSchedule = rstSchedule;
        if (esamBeta != null) c.esamBeta = esamBeta;
        if (esamGamma != null) c.esamGamma = esamGamma;
        if (accumulate != null) c.accumulate = accumulate;
        if (m != null) c.m = m;
    }
}
