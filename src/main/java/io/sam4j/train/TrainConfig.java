package io.sam4j.train;

import java.nio.file.Path;

/**
 * Everything a training run needs, as the CLI parses it. Library users build one with
 * {@link #defaults()} and the {@code with...} style copy below or by calling the record constructor.
 *
 * @param optimizer sgd | adamw | sam | usam | asam | fsam
 * @param base      sgd | adamw: the base of the SAM family
 * @param steps     > 0: exactly this many optimizer steps (overrides epochs)
 */
public record TrainConfig(
        String model, Path data, int epochs, long steps, int batch, float lr, float momentum, boolean nesterov,
        float weightDecay, Schedule schedule, String optimizer, String base, float rho, float sigma, float lambda,
        float eta, boolean adaptive, String asamForm, boolean stable, float gradClip, float labelNoise,
        float labelSmoothing, long seed, int threads, boolean shuffle, boolean augment, Path init, Path save,
        Path out, float beta1, float beta2, float adamEps) {

    public static TrainConfig defaults() {
        return new TrainConfig("mlp", null, 10, 0, 128, 0.05f, 0.9f, false, 5e-4f, Schedule.COSINE, "sam", "sgd",
                0.05f, 1f, 0.9f, 0.01f, false, "official", false, 0f, 0f, 0f, 0L,
                Runtime.getRuntime().availableProcessors(), true, false, null, null, null, 0.9f, 0.999f, 1e-8f);
    }
}
