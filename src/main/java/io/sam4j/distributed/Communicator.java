package io.sam4j.distributed;

import java.lang.foreign.MemorySegment;

/**
 * The collectives data-parallel training needs, over the ranks of one job: sum a flat float buffer in
 * place on every rank (gradients), copy one rank's buffer to all (initial weights), synchronise, and
 * end the whole job when one rank fails.
 *
 * <p>Buffers are native (off-heap) segments holding at least {@code count} floats, such as the
 * {@link io.sam4j.nn.ParameterStore} buffers. Every rank must make the same collective calls in the
 * same order with the same counts; a rank that stops calling leaves the others waiting, which is why
 * failures go through {@link #abort} (see {@link #runGuarded}).
 *
 * <p>Implementations: {@link SingleProcess} (one rank, every collective a no-op) and
 * {@link MpiCommunicator} (MPI through the FFM API). {@link Communicators#detect} picks one.
 */
public interface Communicator extends AutoCloseable {
    /** Exit code {@link #runGuarded} aborts the job with. */
    int FAILURE_EXIT_CODE = 1;

    /** This process's rank, 0 .. size() - 1. */
    int rank();

    /** Number of ranks in the job. */
    int size();

    /** True on rank 0 (the rank that logs and writes checkpoints). */
    default boolean isRoot() {
        return rank() == 0;
    }

    /** Returns once every rank has called it. */
    void barrier();

    /**
     * Copies {@code count} floats of {@code root}'s buffer into the same place of every other rank's
     * buffer. {@code floats} must be a native segment of at least {@code 4 * count} bytes.
     */
    void broadcast(MemorySegment floats, long count, int root);

    /**
     * Replaces {@code count} floats of {@code floats} on every rank by their element-wise float32 sum
     * over all ranks (in place). Counts above {@link Integer#MAX_VALUE} are split into several calls.
     */
    void allReduceSum(MemorySegment floats, long count);

    /**
     * Sums that start now and complete in {@link PendingSums#waitAll}, at most {@code capacity} started
     * between two waits (a started buffer larger than {@link Integer#MAX_VALUE} floats counts as several).
     * This default completes each sum when it is started (a blocking {@link #allReduceSum}; out of place:
     * a copy, then the sum in place).
     */
    default PendingSums pendingSums(int capacity) {
        return new PendingSums() {
            @Override
            public void start(MemorySegment floats, long count) {
                allReduceSum(floats, count);
            }

            @Override
            public void start(MemorySegment send, MemorySegment recv, long count) {
                MemorySegment.copy(send, 0, recv, 0, 4 * count);
                allReduceSum(recv, count);
            }

            @Override
            public void progress() {}

            @Override
            public void waitAll() {}
        };
    }

    /** Element-wise sum over all ranks of a few doubles, in place (per-step scalars: loss, counts). */
    void allReduceSum(double[] values);

    /** Sum over all ranks of one double. */
    default double allReduceSum(double value) {
        double[] v = {value};
        allReduceSum(v);
        return v[0];
    }

    /**
     * Ends the whole job now: prints {@code message} with this rank's number on stderr, then terminates
     * every rank with exit code {@code code} (MPI_Abort; 0 is replaced by 1). Does not return. Callable
     * from any thread.
     */
    void abort(int code, String message);

    /**
     * Ends the job with an error naming the rank when a rank hangs for more than {@code seconds} (see
     * {@link MpiCommunicator#watchForHangs}); 0 turns it off. A single process has nobody to wait for: no-op.
     */
    default void watchForHangs(long seconds) {}

    /** One line for logs, e.g. "mpi: Open MPI v4.1.4, rank 0 of 2, thread level FUNNELED, host h1". */
    String describe();

    /**
     * Shuts the communicator down (MPI_Finalize). Every rank must call it, after its last collective;
     * it returns once all ranks have. Idempotent.
     */
    @Override
    void close();

    /** Work that may throw anything; see {@link #runGuarded}. */
    @FunctionalInterface
    interface Body {
        void run() throws Exception;
    }

    /**
     * Runs {@code body}; if it throws anything, prints "sam4j: rank R failed: message" and the stack
     * trace on stderr and {@linkplain #abort aborts} the whole job with {@link #FAILURE_EXIT_CODE}, so
     * the other ranks (possibly waiting in a collective for this one) end too instead of hanging.
     * {@link SingleProcess} has no other ranks to release: there the body's exception propagates
     * unchanged, so the caller's usual error handling applies.
     *
     * <p>Wrap each rank's whole training run in it, inside any framework that would otherwise catch
     * the exception and exit normally (picocli's execution-exception handler, for one):
     * <pre>{@code
     * try (Communicator comm = Communicators.detect("auto")) {
     *     comm.runGuarded(() -> train(comm));
     * }
     * }</pre>
     */
    default void runGuarded(Body body) throws Exception {
        try {
            body.run();
        } catch (Throwable t) {
            abortOnFailure(t);
        }
    }

    /**
     * Prints "sam4j: rank R failed: message" and {@code failure}'s stack trace on stderr, then
     * {@linkplain #abort aborts} the whole job with {@link #FAILURE_EXIT_CODE}. Does not return.
     */
    default void abortOnFailure(Throwable failure) {
        String what = failure.getMessage() != null ? failure.getMessage() : failure.toString();
        System.out.flush();
        System.err.println("sam4j: rank " + rank() + " failed: " + what);
        failure.printStackTrace(System.err);
        System.err.flush();
        abort(FAILURE_EXIT_CODE, "failed: " + what);
    }
}
