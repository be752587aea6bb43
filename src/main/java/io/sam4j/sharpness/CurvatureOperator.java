package io.sam4j.sharpness;

import io.sam4j.kernels.FlatOps;
import io.sam4j.nn.ParameterStore;
import java.lang.foreign.MemorySegment;

/**
 * A symmetric matrix of the parameter space applied to vectors of the store's flat layout: the Hessian of
 * the loss (exact by the R-operator, {@link ExactHessianVectorProduct}, or by finite differences,
 * {@link HessianVectorProduct}), or its Gauss-Newton part. The estimators ({@link PowerIteration},
 * {@link Lanczos}, {@link Hutchinson}, {@link HutchPlusPlus}, {@link SpectralDensity}) see only this.
 * Not thread-safe: one product at a time.
 */
public interface CurvatureOperator extends AutoCloseable {
    /** Writes A v into {@code out} (may be {@code v} itself); v must be zero on the padding. Returns ||v||. */
    double apply(MemorySegment v, MemorySegment out);

    /** A zeroed buffer of the store's layout, valid until {@link #close()}. */
    MemorySegment newBuffer();

    ParameterStore store();

    FlatOps ops();

    /** Floats in the flat layout (padding included). */
    default long length() {
        return store().paramLength();
    }

    /** Products computed so far. */
    long products();

    /** Gradient evaluations (forward + backward over the whole set) the products took so far. */
    long gradientEvaluations();

    /** "exact", "gauss-newton" or "fd", for reports. */
    String kind();

    @Override
    void close();
}
