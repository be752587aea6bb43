/**
 * Training runs: {@link io.sam4j.train.RunSetup} (one run's wiring: threads, kernels, convolution
 * backend, model, optimizer, data-parallel reducer, loss function; {@code sam4j bench}, {@code sam4j sharpness}
 * and the JMH benchmarks build from it too), {@link io.sam4j.train.Trainer} (data, run folder, resume) and
 * {@link io.sam4j.train.TrainingLoop} (steps, evaluation, checkpoints, metrics.jsonl), the settings
 * {@link io.sam4j.train.TrainConfig}, {@link io.sam4j.train.Optimizers} (optimizer names to optimizers) and
 * {@link io.sam4j.train.Schedule}.
 *
 * <p>Why here: the orchestration layer; it composes every library package but none of them knows it.
 *
 * <p><b>May import:</b> config, kernels, conv, nn, optim, formats, data, distributed, sharpness.
 * (Enforced by {@code io.sam4j.LayeringTest}; other sam4j packages are named only in strings, by class
 * name, if at all.)
 */
package io.sam4j.train;
