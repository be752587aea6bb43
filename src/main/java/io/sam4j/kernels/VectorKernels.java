package io.sam4j.kernels;

/**
 * The Vector-API kernels. Loaded only reflectively by {@link KernelsProvider}, so the rest of sam4j loads
 * without {@code jdk.incubator.vector}.
 */
final class VectorKernels extends KernelSet {
    VectorKernels() {
        super("vector", new VectorMathKernels(), new VectorLayerKernels(), new VectorOptimizerKernels());
    }
}
