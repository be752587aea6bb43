package io.sam4j.train;

import io.sam4j.conv.Precision;
import java.util.List;
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
    /** sgd | adamw | sam | usam | asam | fsam. */
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
    /** What convolutions compute in: fp32, or bf16 mixed precision (weights, gradients, optimizer stay fp32). */
    public Precision precision = Precision.FP32;
    /** local | global: SAM perturbations per rank (m-sharpness) or from the all-reduced gradient. */
    public String perturbation = "local";
    /** Under MPI: gradient all-reduce buckets (MB) started during backward; 0: one blocking all-reduce after it. */
    public double allreduceBucketMb = 25;
    /** Under MPI: SyncBatchNorm, batch statistics over all ranks' examples. */
    public boolean syncBn;
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
        if (epochs < 1 && steps <= 0) throw ConfigException.mustBe("epochs", ">= 1", epochs);
        if (steps < 0) throw ConfigException.mustBe("steps", ">= 0", steps);
        if (batch < 1) throw ConfigException.mustBe("batch", ">= 1", batch);
        if (!(lr > 0) || Float.isInfinite(lr)) throw ConfigException.mustBe("lr", "> 0", lr);
        if (threads < 1) throw ConfigException.mustBe("threads", ">= 1", threads);
        if (!(labelNoise >= 0 && labelNoise < 1)) throw ConfigException.mustBe("labelNoise", "in [0, 1)", labelNoise);
        if (!(labelSmoothing >= 0 && labelSmoothing < 1)) {
            throw ConfigException.mustBe("labelSmoothing", "in [0, 1)", labelSmoothing);
        }
        if (!(valSplit >= 0 && valSplit < 1)) throw ConfigException.mustBe("valSplit", "in [0, 1)", valSplit);
        if (keepLast < 0) throw ConfigException.mustBe("keepLast", ">= 0", keepLast);
        if (!perturbation.equals("local") && !perturbation.equals("global")) {
            throw ConfigException.unknown("perturbation", perturbation, List.of("local", "global"));
        }
        if (!(allreduceBucketMb >= 0) || Double.isInfinite(allreduceBucketMb)) {
            throw ConfigException.mustBe("allreduceBucketMb", ">= 0", allreduceBucketMb);
        }
        if (init != null && !Files.isRegularFile(init)) throw new ConfigException("{init}: no such file " + init);
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
