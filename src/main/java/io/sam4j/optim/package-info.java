/**
 * The optimizers over a {@code nn.ParameterStore}: the bases ({@link io.sam4j.optim.Sgd},
 * {@link io.sam4j.optim.AdamW}), {@link io.sam4j.optim.Plain} and the SAM family as one composed optimizer
 * ({@link io.sam4j.optim.SharpnessAware}; see docs/sam-family.md), what a step reports
 * ({@link io.sam4j.optim.StepStats}), and the two callbacks a step needs: the model side
 * ({@link io.sam4j.optim.LossFunction}, called with {@code nn.Mode.TRAIN} at w and
 * {@code nn.Mode.TRAIN_FROZEN_STATS} at w + e) and the data-parallel {@link io.sam4j.optim.GradientReducer}.
 *
 * <p>Why here: an optimizer sees flat buffers and a loss callback, never a model, a data set or MPI.
 *
 * <p><b>May import:</b> config, kernels, nn.
 * (Enforced by {@code io.sam4j.LayeringTest}; other sam4j packages are named only in strings, by class
 * name, if at all.)
 */
package io.sam4j.optim;
