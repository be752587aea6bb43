/**
 * The element loops and the CPU machinery everything else runs on, at the bottom of the layering.
 * Three narrow kernel families, each an interface with its scalar reference and its Vector-API version:
 * {@link io.sam4j.kernels.MathKernels} (BLAS-1, activations), {@link io.sam4j.kernels.LayerKernels}
 * (normalisation and pooling, plain and over nChw8c channel lanes) and {@link io.sam4j.kernels.OptimizerKernels}
 * (the fused SAM-family and base-optimizer passes); {@link io.sam4j.kernels.Kernels} is one implementation of
 * all three, chosen once by {@link io.sam4j.kernels.KernelsProvider} (the Vector-API classes are loaded by name,
 * so the rest loads without {@code jdk.incubator.vector}); the vector width is a system property
 * ({@code sam4j.vectorBits}). Also {@link io.sam4j.kernels.FlatOps} (chunked, multi-threaded, deterministic
 * reductions over flat buffers), {@link io.sam4j.kernels.Parallel} (the thread team) and
 * {@link io.sam4j.kernels.Gemm} (packed SGEMM) with its reference.
 *
 * <p>Why here: these are the only places that know about vector species and memory layout of loops; nothing
 * in them knows about layers, models or optimizers, so they can be tested and benchmarked alone.
 *
 * <p><b>May import:</b> nothing.
 * (Enforced by {@code io.sam4j.LayeringTest}; other sam4j packages are named only in strings, by class
 * name, if at all.)
 */
package io.sam4j.kernels;
