package io.sam4j.distributed;

import java.lang.foreign.MemorySegment;

/** The one-rank communicator: rank 0 of 1; collectives leave the data as it is. */
public final class SingleProcess implements Communicator {
    public static final SingleProcess INSTANCE = new SingleProcess();

    private SingleProcess() {}

    @Override
    public int rank() {
        return 0;
    }

    @Override
    public int size() {
        return 1;
    }

    @Override
    public void barrier() {}

    @Override
    public void broadcast(MemorySegment floats, long count, int root) {
        MpiCommunicator.checkBuffer(floats, count, 4);
        if (root != 0) throw new IllegalArgumentException("root " + root + " out of range for 1 rank");
    }

    @Override
    public void allReduceSum(MemorySegment floats, long count) {
        MpiCommunicator.checkBuffer(floats, count, 4);
    }

    @Override
    public void allReduceSum(double[] values) {}

    /** Runs {@code body}; its exception, if any, propagates unchanged (no other rank can be left waiting). */
    @Override
    public void runGuarded(Body body) throws Exception {
        body.run();
    }

    /** Prints the message and halts this JVM (no shutdown hooks), like MPI_Abort. */
    @Override
    public void abort(int code, String message) {
        int c = code == 0 ? 1 : code;
        System.out.flush();
        System.err.println("sam4j: rank 0 of 1 aborting (exit code " + c + "): " + message);
        System.err.flush();
        Runtime.getRuntime().halt(c);
    }

    @Override
    public String describe() {
        return "single process (rank 0 of 1)";
    }

    @Override
    public void close() {}
}
