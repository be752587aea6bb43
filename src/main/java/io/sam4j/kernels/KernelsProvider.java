package io.sam4j.kernels;

/**
 * Picks the kernel implementation once per process: the Vector-API one when the incubator module is
 * readable, else the scalar reference (with one line on stderr saying why).
 * TODO(helper): reflective loading of VectorKernels as Lucene does.
 */
public final class KernelsProvider {
    private KernelsProvider() {}

    public static Kernels get() {
        return scalar();
    }

    public static Kernels scalar() {
        return ScalarKernels.INSTANCE;
    }
}
