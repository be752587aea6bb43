package io.sam4j.sharpness;

/** Called after each iteration of an estimator: a Hessian-vector product done, the running estimate. */
@FunctionalInterface
public interface IterationListener {
    IterationListener NONE = (iteration, max, estimate) -> {};

    /**
     * @param iteration products done so far in this estimate (1-based)
     * @param max       the most it may take
     * @param estimate  the current estimate (eigenvalue or running trace mean)
     */
    void onIteration(int iteration, int max, double estimate);
}
