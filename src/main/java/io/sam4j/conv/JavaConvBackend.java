package io.sam4j.conv;

import io.sam4j.kernels.Parallel;

/**
 * Pure-Java convolutions: im2col + {@link io.sam4j.kernels.Gemm#sgemm} on the thread team. Always
 * available; the fallback when oneDNN is not, and the reference the oneDNN backend is compared with.
 */
public final class JavaConvBackend implements ConvBackend {
    /**
     * GEMM columns (output pixels) to aim for per call. Deep layers have tiny feature maps (4x4 = 16
     * pixels), so several images are batched into one column matrix to give the GEMM a wide N.
     */
    static final int DEFAULT_TARGET_COLUMNS = 512;

    private final Parallel par;
    private final int targetColumns;

    public JavaConvBackend(Parallel par) {
        this(par, DEFAULT_TARGET_COLUMNS);
    }

    /** {@code targetColumns} is exposed to tests so that they can force every image-grouping case. */
    JavaConvBackend(Parallel par, int targetColumns) {
        if (targetColumns < 1) throw new IllegalArgumentException("targetColumns must be >= 1");
        this.par = par;
        this.targetColumns = targetColumns;
    }

    @Override
    public String name() {
        return "java";
    }

    @Override
    public Convolution conv(ConvShape shape, boolean bias) {
        return new JavaConvolution(shape, par, targetColumns);
    }
}
