package io.sam4j.kernels;

/**
 * All the element loops of one implementation, as {@link KernelsProvider#get()} hands them to the layers,
 * {@link FlatOps} and the optimizers: three narrow families, each with its scalar reference and its
 * Vector-API version (Lucene's pattern), that code needing one family can hold on their own:
 * <ul>
 *   <li>{@link MathKernels}: BLAS-1 and activations ({@link ScalarMathKernels});
 *   <li>{@link LayerKernels}: normalisation and pooling, plain and over blocked channel lanes
 *       ({@link ScalarLayerKernels});
 *   <li>{@link OptimizerKernels}: the fused SAM-family and base-optimizer passes ({@link ScalarOptimizerKernels}).
 * </ul>
 * {@link ScalarKernels} is the reference set; {@code VectorKernels}, loaded reflectively, must agree with
 * it up to FMA rounding at every vector width ({@link VectorWidth}).
 */
public interface Kernels extends MathKernels, LayerKernels, OptimizerKernels {
    /** "vector" or "scalar", for logs. */
    String name();
}
