/**
 * Convolutions: the {@link io.sam4j.conv.ConvBackend} interface, the problem
 * {@link io.sam4j.conv.ConvShape}, the per-shape {@link io.sam4j.conv.Convolution} (forward, backward-data,
 * backward-weights), the pure-Java backend (im2col + GEMM) and {@link io.sam4j.conv.ConvBackends}, which picks
 * a backend by name.
 *
 * <p>Why here: before, the interface lived in {@code nn}, the oneDNN backend in {@code dnnl} and the choice in
 * {@code train}, so the CLI and the benchmarks imported {@code train} only to get a backend. The oneDNN
 * binding implements these interfaces, so it depends on this package and not the other way round:
 * {@code ConvBackends} loads {@code io.sam4j.dnnl.OneDnnConvBackend} by class name, as
 * {@code KernelsProvider} loads the Vector-API kernels.
 *
 * <p><b>May import:</b> config, kernels.
 * (Enforced by {@code io.sam4j.LayeringTest}; other sam4j packages are named only in strings, by class
 * name, if at all.)
 */
package io.sam4j.conv;
