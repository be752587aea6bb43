/**
 * Sharpness diagnostics after Wen, Ma &amp; Li (ICLR 2023): Hessian-vector products
 * by central differences of gradients, lambda_max by power iteration (top-k by deflation), the Hessian trace by
 * Hutchinson, the alignment of the gradient with the top eigenvector, the ascent sharpness; the
 * {@link io.sam4j.sharpness.ModelOracle} that evaluates a model on a fixed subset, and
 * {@link io.sam4j.sharpness.SharpnessProbe}, the whole analysis of a model on the first examples of a
 * training set, as {@code sam4j sharpness} and {@code train --sharpness-every} run it.
 *
 * <p>Why here: all sharpness code in one room (the probe used to live in {@code train}).
 *
 * <p><b>May import:</b> config, kernels, nn, data, formats.
 * (Enforced by {@code io.sam4j.LayeringTest}; other sam4j packages are named only in strings, by class
 * name, if at all.)
 */
package io.sam4j.sharpness;
