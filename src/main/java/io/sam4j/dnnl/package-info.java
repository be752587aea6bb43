/**
 * The oneDNN binding through the FFM API: library loading (the bundled {@code libdnnl.so.3}),
 * function handles and ABI values ({@link io.sam4j.dnnl.Dnnl}), native object lifetimes, and
 * {@link io.sam4j.dnnl.OneDnnConvBackend}, the {@code conv} backend on top of it (see native/README.md). Its
 * kernels share {@code OneDnnKernel}: {@code OneDnnConv} (oneDNN's convolutions), {@code OneDnnGemmConv}
 * (bf16 small-plane convolutions as im2col + matmul, its im2col on a {@code kernels.Parallel} team),
 * {@code OneDnnLinear} (bf16 linear layers).
 *
 * <p>Why here: all native code of oneDNN in one room, behind the {@code conv} interfaces; nothing outside
 * names it except by class name ({@code conv.ConvBackends}) and its own tests and benchmarks.
 *
 * <p><b>May import:</b> conv, kernels.
 * (Enforced by {@code io.sam4j.LayeringTest}; other sam4j packages are named only in strings, by class
 * name, if at all.)
 */
package io.sam4j.dnnl;
