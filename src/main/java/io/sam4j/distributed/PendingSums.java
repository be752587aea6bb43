package io.sam4j.distributed;

import java.lang.foreign.MemorySegment;

/**
 * Float sums over all ranks that are started now and completed later, so that communication overlaps
 * computation ({@code MPI_Iallreduce}), in place or into another buffer. Every rank must start the same
 * sums, with the same counts, in the same order. Made by {@link Communicator#pendingSums}, with room for a fixed number of
 * outstanding sums (no allocation per call); used from the thread that makes the communicator's calls.
 */
public interface PendingSums {
    /**
     * Starts summing {@code count} floats of {@code floats} in place; the floats must not be read or
     * written until {@link #waitAll} returns.
     */
    void start(MemorySegment floats, long count);

    /**
     * Starts summing {@code count} floats of {@code send} into {@code recv} (out of place): {@code send}
     * may be read, not written, and {@code recv} neither, until {@link #waitAll} returns (MPI-3 allows
     * reading a send buffer while the operation is pending). The buffers must not overlap.
     */
    void start(MemorySegment send, MemorySegment recv, long count);

    /** Lets the library move started sums forward (MPI progresses only inside MPI calls); never blocks. */
    void progress();

    /** Returns once every started sum is complete; then the object can be reused. */
    void waitAll();
}
