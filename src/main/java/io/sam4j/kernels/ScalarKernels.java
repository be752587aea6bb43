package io.sam4j.kernels;

/** The reference kernels: plain loops, the set every fast kernel is tested against. */
public final class ScalarKernels extends KernelSet {
    public static final ScalarKernels INSTANCE = new ScalarKernels();

    private ScalarKernels() {
        super("scalar", ScalarMathKernels.INSTANCE, ScalarLayerKernels.INSTANCE, ScalarOptimizerKernels.INSTANCE);
    }
}
