package io.sam4j.train;

import java.nio.file.Path;

/**
 * Everything a training run needs, with the CLI's defaults. A plain mutable settings object: set the
 * fields you care about, keep the rest. It is written to {@code <out>/config.json} and read back by
 * {@code --resume}, so every field must stay JSON-friendly.
 */
public final class TrainConfig {
    public String model = "cnn";
    /** IDX or CIFAR folder; null = the embedded Fashion-MNIST subset. */
    public Path data;
    public int epochs = 6;
    /** > 0: exactly this many optimizer steps (overrides epochs). */
    public long steps;
    public int batch = 128;
    public float lr = 0.05f;
    public float momentum = 0.9f;
    public boolean nesterov;
    public float weightDecay = 5e-4f;
    public Schedule schedule = Schedule.COSINE;
    /** sgd | adamw | sam | usam | asam | fsam | stablesam | gsam | looksam | aesam | rst | esam. */
    public String optimizer = "sam";
    /** sgd | adamw: the base of the SAM family. */
    public String base = "sgd";
    public float rho = 0.05f;
    public float sigma = 1f;
    public float lambda = 0.9f;
    public float eta = 0.01f;
    public boolean adaptive;
    /** official | elementwise. */
    public String asamForm = "official";
    public boolean stable;
    /** F-SAM's direction on the two-pass steps of gsam, looksam, aesam and rst. */
    public boolean friendly;
    /** GSAM: weight of the ascent along the part of g orthogonal to g_adv. */
    public float gsamAlpha = 0.4f;
    /** Non-null: rho follows the learning rate from this value (at the last lr) to rho (at the first), as GSAM's. */
    public Float rhoMin;
    public int lookSamK = 5;
    public float lookSamAlpha = 0.7f;
    public float aeDelta = 0.9f;
    public float aeLambda1 = -1f;
    public float aeLambda2 = 1f;
    /** RST's probability of a SAM step: constant:P, piecewise:PA:PB:TAU0, linear:PS:PE or trig:PS:PE. */
    public String rstSchedule = "constant:0.5";
    /** ESAM: probability that a parameter tensor is perturbed (1 = all). */
    public float esamBeta = 0.6f;
    /** ESAM: fraction of the batch in the second pass (>= 0.99 = all). */
    public float esamGamma = 0.5f;
    /** > 1: the batch is split into this many micro-batches whose gradients are averaged before the step. */
    public int accumulate = 1;
    /** > 0: m-sharpness, each micro-batch of m examples perturbs along its own gradient (SAM family). */
    public int m;
    public float gradClip;
    public float labelNoise;
    public float labelSmoothing;
    public long seed;
    public int threads = Runtime.getRuntime().availableProcessors();
    public boolean shuffle = true;
    /** crop,flip,cutout subset, "none", or null for the data set's default (crop,flip on CIFAR, none on 28x28). */
    public String augment;
    /** auto | onednn | java: where convolutions run. */
    public String backend = "auto";
    /** local | global: SAM perturbations per rank (m-sharpness) or from the all-reduced gradient. */
    public String perturbation = "local";
    /** > 0: sharpness diagnostics every N epochs into sharpness.jsonl and metrics.jsonl. */
    public int sharpnessEvery;
    /** Examples of the training set the diagnostics use. */
    public int sharpnessSubset = 1000;
    public Path init;
    public Path save;
    public Path out;
    public float beta1 = 0.9f;
    public float beta2 = 0.999f;
    public float adamEps = 1e-8f;

    public TrainConfig copy() {
        TrainConfig c = new TrainConfig();
        for (java.lang.reflect.Field f : TrainConfig.class.getFields()) {
            try {
                f.set(c, f.get(this));
            } catch (IllegalAccessException e) {
                throw new AssertionError(e);
            }
        }
        return c;
    }
}
