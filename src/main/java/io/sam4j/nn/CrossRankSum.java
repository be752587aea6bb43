package io.sam4j.nn;

/**
 * Sums a few doubles element-wise over the data-parallel ranks, in place, on every rank (SyncBatchNorm's
 * per-channel statistics). Every rank's layers make the same calls in the same order with the same array lengths.
 */
@FunctionalInterface
public interface CrossRankSum {
    void sum(double[] values);
}
