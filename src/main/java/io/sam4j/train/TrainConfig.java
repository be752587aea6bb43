package io.sam4j.train;

import io.sam4j.conv.Precision;
import java.nio.file.Files;
import io.sam4j.config.ConfigException;
import java.nio.file.Path;

/**
 * Everything a training run needs, with the CLI's defaults. A plain mutable settings object: set the
 * fields you care about, keep the rest; {@link #validate()} checks them, naming the field. It is written to
 * {@code <out>/config.json} and read back by {@code --resume}, so every field must stay JSON-friendly (its
 * field names are config.json's keys, which is why it is not a record with a builder).
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
    /** > 0: train on the first N examples of the training file only (before label noise and the validation split). */
    public int trainSubset;
    public float labelSmoothing;
    public long seed;
    public int threads = Runtime.getRuntime().availableProcessors();
    public boolean shuffle = true;
    /** crop,flip,cutout subset, "none", or null for the data set's default (crop,flip on CIFAR, none on 28x28). */
    public String augment;
    /** auto | onednn | java: where convolutions run. */
    public String backend = "auto";
    /** What convolutions compute in: fp32, or bf16 mixed precision (weights, gradients, optimizer stay fp32). */
    public Precision precision = Precision.FP32;
    /** local | global: SAM perturbations per rank (m-sharpness) or from the all-reduced gradient. */
    public String perturbation = "local";
    /** Under MPI: gradient all-reduce buckets (MB) started during backward; 0: one blocking all-reduce after it. */
    public double allreduceBucketMb = 25;
    /** Under MPI: SyncBatchNorm, batch statistics over all ranks' examples. */
    public boolean syncBn;
    /**
     * Evaluate, write the metrics line and checkpoint every N epochs (and at the end): full-batch runs on a small
     * --train-subset have one step per epoch, and a test pass and a checkpoint per step would cost more than the step.
     */
    public int evalEvery = 1;
    /** > 0: sharpness diagnostics every N epochs into sharpness.jsonl and metrics.jsonl. */
    public int sharpnessEvery;
    /** Examples of the training set the diagnostics use. */
    public int sharpnessSubset = 1000;
    public Path init;
    public Path save;
    public Path out;
    /** Keep best.safetensors, the checkpoint with the best validation (or, without a split, test) accuracy. */
    public boolean keepBest;
    /** > 0: keep the last N epoch checkpoints as checkpoint-step<S>.safetensors. */
    public int keepLast;
    /** > 0: hold out this fraction of the training set (seeded) as a validation split, evaluated every epoch. */
    public float valSplit;
    public float beta1 = 0.9f;
    public float beta2 = 0.999f;
    public float adamEps = 1e-8f;

    /**
     * Checks the values no other constructor checks (the optimizer's settings are checked by its own
     * config); a {@link ConfigException} names the field.
     */
    public void validate() {
        ConfigCheck.check(this);
        if (!(valSplit >= 0 && valSplit < 1)) throw ConfigException.mustBe("valSplit", "in [0, 1)", valSplit);
        if (keepLast < 0) throw ConfigException.mustBe("keepLast", ">= 0", keepLast);
        if (!(allreduceBucketMb >= 0) || Double.isInfinite(allreduceBucketMb)) {
            throw ConfigException.mustBe("allreduceBucketMb", ">= 0", allreduceBucketMb);
        }
        if (init != null && !Files.isRegularFile(init)) throw new ConfigException("{init}: no such file " + init);
        validateMicroBatches();
    }

    /** --accumulate and --m: one way of splitting the batch, and only where the optimizer defines it. */
    public void validateMicroBatches() {
        if (accumulate < 1) throw ConfigException.mustBe("accumulate", ">= 1", accumulate);
        if (m < 0) throw ConfigException.mustBe("m", ">= 0", m);
        if (optimizer.equals("esam") && (m > 0 || accumulate > 1)) {
            throw new ConfigException("{optimizer} esam with {m} or {accumulate} is undefined (its selection needs the whole batch)");
        }
        if (m > 0 && accumulate > 1) throw new ConfigException("{m} and {accumulate} both split the batch: {m} M already runs micro-batches of M");
        if (m > 0 && (Optimizers.isPlain(this) || optimizer.matches("looksam|aesam|rst"))) {
            throw new ConfigException("{m} with {optimizer} " + optimizer + " is undefined (m-sharpness needs a SAM step on every "
                    + "micro-batch; looksam, aesam and rst decide on the whole step's gradient)");
        }
        if (m > 0 && perturbation.equals("global")) {
            throw new ConfigException("{m} and {perturbation} global contradict each other (one perturbation for all)");
        }
    }

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
