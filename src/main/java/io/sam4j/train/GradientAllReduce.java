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
 * Only gradients the optimizer announces are overlapped; the others (local perturbations' first pass,
 * which is never reduced) leave the buffer alone.
 *
 * <p><b>Out of place.</b> A gradient announced with {@link #expectGradientKeepingLocal()} (SAM's second
 * pass with local perturbations, whose per-rank statistics read this rank's g_adv after backward) is
 * summed into a receive buffer of the parameters' size, allocated on first use; the gradient buffer keeps
 * this rank's gradient until {@link #reduce()}, which writes {@code received * (1/ranks)} over it in one
 * pass: the same floats as the in-place sum and scale, and as many passes (the scale becomes a scaled
 * copy), so the only cost is the buffer's memory.
 */
public final class GradientAllReduce implements GradientReducer, GradientListener {
    private final Communicator comm;
    private final FlatOps ops;
    private final MemorySegment grads;
    private final long length;
    /** Floats per bucket; 0: one blocking all-reduce after backward. */
    private final long bucket;
    private final PendingSums pending;
    /** The out-of-place sums' destination (null until the first {@link #expectGradientKeepingLocal()}). */
    private MemorySegment received;
    private final ParameterStore store;
    private boolean armed;
    /** The armed gradient is summed into {@link #received}, leaving the gradient buffer alone. */
    private boolean outOfPlace;
    /** Everything from here to the end of the buffer has its sum started (when armed). */
    private long startedFrom;
    private long blockedNanos;

    /** {@code bucketFloats} 0 reduces in one blocking call after backward. */
    public GradientAllReduce(Communicator comm, ParameterStore store, FlatOps ops, long bucketFloats) {
        if (bucketFloats < 0) throw new IllegalArgumentException("bucket size must be >= 0, got " + bucketFloats);
        this.comm = comm;
        this.ops = ops;
        this.store = store;
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
        arm(false);
    }

    @Override
    public void expectGradientKeepingLocal() {
        arm(true);
    }

    private void arm(boolean keepLocal) {
        if (pending == null) return; // blocking: reduce() sums in place after the optimizer is done reading
        if (keepLocal && received == null) received = store.newStateBuffer();
        armed = true;
        outOfPlace = keepLocal;
        startedFrom = length;
    }

    @Override
    public void gradientsFinalFrom(long paramOffset) {
        if (!armed) return;
        while (startedFrom - paramOffset >= bucket) {
            startedFrom -= bucket;
            startSum(startedFrom, bucket);
        }
        pending.progress();
    }

    /** Starts the sum of the gradients [from, from + count), in place or into the receive buffer. */
    private void startSum(long from, long count) {
        MemorySegment g = grads.asSlice(4 * from, 4 * count);
        if (outOfPlace) pending.start(g, received.asSlice(4 * from, 4 * count), count);
        else pending.start(g, count);
    }

    @Override
    public void reduce() {
        long t = System.nanoTime();
        float mean = 1f / comm.size();
        if (armed) {
            if (startedFrom > 0) startSum(0, startedFrom);
            pending.waitAll();
            armed = false;
            if (outOfPlace) ops.scaleTo(mean, received, grads, length);
            else ops.scale(mean, grads, length);
        } else {
            comm.allReduceSum(grads, length);
            ops.scale(mean, grads, length);
        }
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
