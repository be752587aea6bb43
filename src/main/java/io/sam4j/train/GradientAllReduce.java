package io.sam4j.train;

import io.sam4j.distributed.Communicator;
import io.sam4j.distributed.PendingSums;
import io.sam4j.kernels.FlatOps;
import io.sam4j.nn.GradientListener;
import io.sam4j.nn.ParameterStore;
import io.sam4j.optim.GradientReducer;
import java.lang.foreign.MemorySegment;

/**
 * Averages the flat gradient buffer across ranks: an in-place sum, then a 1/ranks scale.
 *
 * <p><b>Overlap.</b> With a bucket size, the sum runs in buckets started during backward: the buffer is
 * in layer order, so the last layers' gradients form a tail that is final while the earlier layers'
 * backward still runs ({@link GradientListener}). Each time the final tail has grown by a bucket, that
 * bucket's non-blocking sum starts; every notice also lets MPI progress the started ones (this is the
 * thread that initialised MPI). {@link #reduce()} starts the rest of the buffer and waits for all, before
 * the optimizer reads the gradient. Each element is summed by exactly one all-reduce either way, so on 2
 * ranks (where a float sum of two values does not depend on the algorithm) the result is bit-identical
 * to the blocking path; with more ranks the library may pick a different algorithm per message size.
 * Only gradients the optimizer announces ({@link #expectGradient()}) are overlapped; the others (local
 * perturbations' first pass, which is never reduced) leave the buffer alone.
 */
public final class GradientAllReduce implements GradientReducer, GradientListener {
    private final Communicator comm;
    private final FlatOps ops;
    private final MemorySegment grads;
    private final long length;
    /** Floats per bucket; 0: one blocking all-reduce after backward. */
    private final long bucket;
    private final PendingSums pending;
    private boolean armed;
    /** Everything from here to the end of the buffer has its sum started (when armed). */
    private long startedFrom;
    private long blockedNanos;

    /** {@code bucketFloats} 0 reduces in one blocking call after backward. */
    public GradientAllReduce(Communicator comm, ParameterStore store, FlatOps ops, long bucketFloats) {
        if (bucketFloats < 0) throw new IllegalArgumentException("bucket size must be >= 0, got " + bucketFloats);
        this.comm = comm;
        this.ops = ops;
        this.grads = store.grads();
        this.length = store.paramLength();
        this.bucket = bucketFloats;
        // Room for every bucket, the remaining head, and the splitting of buffers over 2^31 floats.
        int capacity = bucket == 0 ? 1 : (int) Math.min(Integer.MAX_VALUE - 2, (length + bucket - 1) / bucket
                + length / Integer.MAX_VALUE + 2);
        this.pending = bucket == 0 ? null : comm.pendingSums(capacity);
    }

    /** Floats per bucket for a size in megabytes (0: no overlap). */
    public static long bucketFloats(double megabytes) {
        if (!(megabytes >= 0) || Double.isInfinite(megabytes)) {
            throw new IllegalArgumentException("--allreduce-bucket-mb must be >= 0, got " + megabytes);
        }
        return megabytes == 0 ? 0 : Math.max(1, (long) (megabytes * 1e6 / 4));
    }

    @Override
    public void expectGradient() {
        if (pending == null) return;
        armed = true;
        startedFrom = length;
    }

    @Override
    public void gradientsFinalFrom(long paramOffset) {
        if (!armed) return;
        while (startedFrom - paramOffset >= bucket) {
            startedFrom -= bucket;
            pending.start(grads.asSlice(4 * startedFrom, 4 * bucket), bucket);
        }
        pending.progress();
    }

    @Override
    public void reduce() {
        long t = System.nanoTime();
        if (armed) {
            if (startedFrom > 0) pending.start(grads, startedFrom);
            pending.waitAll();
            armed = false;
        } else {
            comm.allReduceSum(grads, length);
        }
        ops.scale(1f / comm.size(), grads, length);
        blockedNanos += System.nanoTime() - t;
    }

    /** Time spent inside {@link #reduce()} (waiting for sums, and the scale) since the last reset. */
    public long blockedNanos() {
        return blockedNanos;
    }

    public void resetBlockedNanos() {
        blockedNanos = 0;
    }
}
