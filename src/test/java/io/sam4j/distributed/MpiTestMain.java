package io.sam4j.distributed;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The program each rank runs in {@link MpiLoopbackTest}, started by mpirun:
 * {@code MpiTestMain SCENARIO}. Prints "PASS rank R" after the checks of "collectives"; any failed
 * check throws inside {@link Communicator#runGuarded}, which aborts the job.
 */
public final class MpiTestMain {
    /** Collectives are split into calls of at most this many floats, to exercise the chunking. */
    static final int TEST_MAX_COUNT = 300_007;

    private MpiTestMain() {}

    public static void main(String[] args) throws Exception {
        String scenario = args.length > 0 ? args[0] : "collectives";
        switch (scenario) {
            case "collectives" -> {
                MpiCommunicator comm = MpiCommunicator.init(MpiCommunicator.configuredLibrary(), TEST_MAX_COUNT);
                comm.runGuarded(() -> collectives(comm));
                comm.close();
                comm.close(); // idempotent
                expectThrows(IllegalStateException.class, comm::barrier, "barrier after close");
                System.out.println("PASS rank " + comm.rank());
            }
            case "throw" -> {
                Communicator comm = Communicators.detect("mpi");
                boolean busy = args.length > 1 && args[1].equals("busy");
                comm.runGuarded(() -> {
                    comm.barrier();
                    if (comm.rank() == 1) throw new IllegalStateException("deliberate failure in the test");
                    if (busy) busy(30_000); // rank 0 computes (no MPI call) when the abort comes
                    comm.barrier(); // rank 0 waits here for a rank that never comes
                });
                comm.close();
                System.out.println("UNEXPECTED: rank " + comm.rank() + " finished");
            }
            case "uncaught" -> {
                Communicator comm = Communicators.detect("auto");
                comm.barrier();
                if (comm.rank() == 1) throw new IllegalStateException("deliberate uncaught failure");
                comm.barrier();
                comm.close();
                System.out.println("UNEXPECTED: rank " + comm.rank() + " finished");
            }
            case "kill" -> {
                Communicator comm = Communicators.detect("mpi");
                comm.barrier();
                if (comm.rank() == 1) {
                    long pid = ProcessHandle.current().pid();
                    System.out.println("rank 1 (pid " + pid + ") sends itself SIGKILL");
                    System.out.flush();
                    new ProcessBuilder("kill", "-KILL", Long.toString(pid)).inheritIO().start().waitFor();
                    Thread.sleep(60_000);
                }
                if (args.length > 1 && args[1].equals("busy")) {
                    busy(30_000); // rank 0 computes (no MPI call) when mpirun ends the job
                }
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment buf = a.allocate(4L * 1000, 64);
                    comm.allReduceSum(buf, 1000); // rank 0 waits here for the killed rank
                }
                comm.close();
                System.out.println("UNEXPECTED: rank " + comm.rank() + " finished");
            }
            case "exit" -> {
                // Rank 1 calls System.exit(3) without close() while rank 0 waits in a barrier: the shutdown
                // hook's MPI_Finalize cannot complete, so its watchdog halts the rank and mpirun ends the job.
                Communicator comm = Communicators.detect("mpi");
                comm.barrier();
                if (comm.rank() == 1) System.exit(3);
                comm.barrier();
                System.out.println("UNEXPECTED: rank " + comm.rank() + " finished");
            }
            case "hang" -> {
                // Rank 1 stops making MPI calls (an endless computation) while rank 0 waits in a barrier: rank 1's
                // hang watchdog ends the job after 3 s, naming rank 1.
                Communicator comm = Communicators.detect("mpi");
                comm.watchForHangs(3);
                comm.barrier();
                if (comm.rank() == 1) busy(120_000);
                comm.barrier();
                System.out.println("UNEXPECTED: rank " + comm.rank() + " finished");
            }
            case "noclose" -> {
                // Both ranks end main without close(): the shutdown hook finalizes and the job exits 0.
                Communicator comm = Communicators.detect("mpi");
                comm.barrier();
                System.out.println("DONE rank " + comm.rank() + " (" + comm.describe() + ")");
            }
            default -> throw new IllegalArgumentException("unknown scenario " + scenario);
        }
    }

    static void collectives(MpiCommunicator comm) throws Exception {
        int r = comm.rank();
        int p = comm.size();
        System.out.println("rank " + r + ": " + comm.describe());
        check(p == 2, "size " + p + ", expected 2");
        check(comm.threadLevel() >= 1, "thread level " + comm.threadLevel());
        try (Arena arena = Arena.ofConfined()) {
            // (a) exact float sums of small integers, in place, across chunk boundaries
            for (long n : new long[] {1, 1000, 1_000_003}) {
                MemorySegment buf = arena.allocate(4 * n, 64);
                for (long i = 0; i < n; i++) buf.setAtIndex(JAVA_FLOAT, i, (r + 1) * (float) (i % 1001 - 500));
                comm.allReduceSum(buf, n);
                float ranks = p * (p + 1) / 2f;
                for (long i = 0; i < n; i++) {
                    float want = ranks * (i % 1001 - 500);
                    float got = buf.getAtIndex(JAVA_FLOAT, i);
                    if (got != want) throw new AssertionError("n=" + n + " [" + i + "] = " + got + ", want " + want);
                }
            }
            // a partial count leaves the rest of the buffer alone
            MemorySegment part = arena.allocate(4 * 10, 64);
            for (int i = 0; i < 10; i++) part.setAtIndex(JAVA_FLOAT, i, 1f);
            comm.allReduceSum(part, 7);
            for (int i = 0; i < 10; i++) {
                check(part.getAtIndex(JAVA_FLOAT, i) == (i < 7 ? p : 1f), "partial count [" + i + "]");
            }
            // random data against a double reference (every rank regenerates every rank's data)
            long n = 1_000_003;
            MemorySegment buf = arena.allocate(4 * n, 64);
            fillRandom(buf, n, r);
            comm.allReduceSum(buf, n);
            double[] ref = new double[(int) n];
            double[] mag = new double[(int) n];
            MemorySegment other = arena.allocate(4 * n, 64);
            for (int q = 0; q < p; q++) {
                fillRandom(other, n, q);
                for (int i = 0; i < n; i++) {
                    float v = other.getAtIndex(JAVA_FLOAT, i);
                    ref[i] += v;
                    mag[i] += Math.abs(v);
                }
            }
            for (int i = 0; i < n; i++) {
                double got = buf.getAtIndex(JAVA_FLOAT, i);
                double tol = p * Math.ulp((float) mag[i]);
                if (Math.abs(got - ref[i]) > tol) {
                    throw new AssertionError("random [" + i + "] = " + got + ", reference " + ref[i]);
                }
            }

            // (b) broadcast from rank 0, then from the last rank
            for (int root : new int[] {0, p - 1}) {
                n = 1_000_003;
                MemorySegment b = arena.allocate(4 * n, 64);
                for (long i = 0; i < n; i++) b.setAtIndex(JAVA_FLOAT, i, r == root ? i * 0.5f + root : -1f);
                comm.broadcast(b, n, root);
                for (long i = 0; i < n; i++) {
                    if (b.getAtIndex(JAVA_FLOAT, i) != i * 0.5f + root) {
                        throw new AssertionError("broadcast from " + root + ": [" + i + "] = "
                                + b.getAtIndex(JAVA_FLOAT, i));
                    }
                }
            }

            // scalars
            check(comm.allReduceSum(r + 1.5) == p * (p + 1) / 2.0 + p * 0.5, "scalar sum");
            double[] v = {r, 1, 0.25 * r};
            comm.allReduceSum(v);
            check(v[0] == p * (p - 1) / 2.0 && v[1] == p && v[2] == 0.25 * p * (p - 1) / 2.0, "double[] sum");

            // non-blocking sums pending together, two in place and one out of place (the send buffer stays)
            PendingSums sums = comm.pendingSums(3);
            int m = 1000;
            MemorySegment inPlace = arena.allocate(4L * m, 64), send = arena.allocate(4L * m, 64), recv = arena.allocate(4L * m, 64);
            for (int i = 0; i < m; i++) {
                float mine = (r + 1) * (float) (i % 101 - 50);
                inPlace.setAtIndex(JAVA_FLOAT, i, mine);
                send.setAtIndex(JAVA_FLOAT, i, mine);
                recv.setAtIndex(JAVA_FLOAT, i, -7f);
            }
            sums.start(inPlace.asSlice(4L * (m / 2)), m - m / 2);
            sums.start(send, recv, m);
            sums.start(inPlace, m / 2);
            sums.progress();
            sums.waitAll();
            for (int i = 0; i < m; i++) {
                float want = p * (p + 1) / 2f * (i % 101 - 50);
                check(inPlace.getAtIndex(JAVA_FLOAT, i) == want, "pending sum in place [" + i + "]");
                check(recv.getAtIndex(JAVA_FLOAT, i) == want, "pending sum out of place [" + i + "]");
                check(send.getAtIndex(JAVA_FLOAT, i) == (r + 1) * (float) (i % 101 - 50), "send buffer kept [" + i + "]");
            }
            expectThrows(IllegalArgumentException.class, () -> sums.start(send, send.asSlice(4), 10), "overlapping buffers");

            // (c) barrier: rank 0 must wait for the last rank, which sleeps first
            long t0 = System.nanoTime();
            if (r == p - 1) Thread.sleep(400);
            comm.barrier();
            double waited = (System.nanoTime() - t0) / 1e6;
            if (r == 0) {
                check(waited >= 350, "barrier returned after " + waited + " ms, before the last rank arrived");
                System.out.printf("rank 0 waited %.0f ms in the barrier%n", waited);
            }

            // argument checks (Java side) and MPI errors returned as codes (MPI_ERRORS_RETURN)
            MemorySegment one = arena.allocate(4, 64);
            expectThrows(IllegalArgumentException.class, () -> comm.broadcast(one, 1, p), "root out of range");
            expectThrows(IllegalArgumentException.class, () -> comm.allReduceSum(one, 2), "buffer too small");
            expectThrows(IllegalArgumentException.class,
                    () -> comm.allReduceSum(MemorySegment.ofArray(new float[4]), 4), "heap segment");
            MpiException e = expectThrows(MpiException.class, () -> comm.bcastChunks(one, 1, 99), "MPI root check");
            check(e.call().equals("MPI_Bcast") && e.rank() == r && e.errorCode() != 0, "exception fields");
            check(e.getMessage().contains("rank " + r), "message names the rank: " + e.getMessage());
            System.out.println("rank " + r + ": MPI error returned as: " + e.getMessage());

            // FUNNELED: only the initialising thread may call MPI
            AtomicReference<Throwable> fromThread = new AtomicReference<>();
            Thread t = new Thread(() -> {
                try {
                    comm.barrier();
                } catch (Throwable x) {
                    fromThread.set(x);
                }
            });
            t.start();
            t.join();
            check(fromThread.get() instanceof IllegalStateException, "call from another thread: " + fromThread.get());

            comm.barrier(); // still in step after all that
        }
    }

    /** Keeps a core busy for up to {@code ms} milliseconds, like a training step between collectives. */
    private static void busy(long ms) {
        long end = System.nanoTime() + ms * 1_000_000;
        double x = 0;
        while (System.nanoTime() < end) {
            for (int i = 0; i < 100_000; i++) x += Math.sqrt(i + x);
        }
        if (x == 42) System.out.println(x);
    }

    private static void fillRandom(MemorySegment s, long n, int rank) {
        Random rnd = new Random(1234 + 77L * rank);
        for (long i = 0; i < n; i++) s.setAtIndex(JAVA_FLOAT, i, rnd.nextFloat() * 2 - 1);
    }

    private static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError("check failed: " + what);
    }

    interface Action {
        void run() throws Exception;
    }

    static <T extends Throwable> T expectThrows(Class<T> type, Action action, String what) {
        try {
            action.run();
        } catch (Throwable t) {
            if (type.isInstance(t)) return type.cast(t);
            throw new AssertionError(what + ": expected " + type.getSimpleName() + ", got " + t, t);
        }
        throw new AssertionError(what + ": expected " + type.getSimpleName() + ", nothing thrown");
    }
}
