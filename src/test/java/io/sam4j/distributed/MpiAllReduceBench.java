package io.sam4j.distributed;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Times an in-place float all-reduce of {@value #N} floats (a ResNet-18-sized gradient buffer) on 2
 * loopback ranks, best of {@value #REPS} after {@value #WARMUP} warm-ups. Not a unit test.
 *
 * <p>Run without a launcher, it starts mpirun itself for each variant (default tuning, then the ring
 * algorithm) and prints their results:
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
 *      -cp target/test-classes:target/classes io.sam4j.distributed.MpiAllReduceBench
 * </pre>
 * Run under mpirun, it measures and rank 0 prints one line.
 */
public final class MpiAllReduceBench {
    static final long N = 11_173_962;
    static final int WARMUP = 3;
    static final int REPS = 10;

    private MpiAllReduceBench() {}

    public static void main(String[] args) throws Exception {
        if (Communicators.underLauncher()) {
            measure(args.length > 0 ? args[0] : "");
            return;
        }
        Path mpirun = MpiJobs.onPath("mpirun");
        if (mpirun == null) throw new IllegalStateException("mpirun not found (apt-get install openmpi-bin)");
        launch(mpirun, "default", List.of());
        launch(mpirun, "ring", List.of("--mca", "coll_tuned_use_dynamic_rules", "1",
                "--mca", "coll_tuned_allreduce_algorithm", "4"));
    }

    private static void launch(Path mpirun, String label, List<String> mca) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(mpirun.toString(), "--allow-run-as-root", "--oversubscribe",
                "-np", "2", "--mca", "btl", "self,vader"));
        cmd.addAll(mca);
        cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx1g",
                "-cp", System.getProperty("java.class.path"), MpiAllReduceBench.class.getName(), label));
        System.out.println("$ " + String.join(" ", cmd));
        ProcessBuilder pb = new ProcessBuilder(cmd).inheritIO();
        MpiJobs.scrubLauncherEnvironment(pb.environment());
        Process p = pb.start();
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            throw new IllegalStateException(label + ": mpirun timed out");
        }
        if (p.exitValue() != 0) throw new IllegalStateException(label + ": mpirun exited with " + p.exitValue());
    }

    private static void measure(String label) throws Exception {
        try (Communicator comm = Communicators.detect("mpi"); Arena arena = Arena.ofConfined()) {
            comm.runGuarded(() -> {
                MemorySegment buf = arena.allocate(4 * N, 64);
                int r = comm.rank();
                for (long i = 0; i < N; i++) buf.setAtIndex(JAVA_FLOAT, i, (float) ((i + r) % 7));
                comm.allReduceSum(buf, N);
                for (long i = 0; i < N; i += 9973) {
                    float want = 0;
                    for (int q = 0; q < comm.size(); q++) want += (i + q) % 7;
                    if (buf.getAtIndex(JAVA_FLOAT, i) != want) throw new AssertionError("wrong sum at " + i);
                }
                double best = Double.MAX_VALUE;
                double sum = 0;
                for (int it = 0; it < WARMUP + REPS; it++) {
                    comm.barrier();
                    long t0 = System.nanoTime();
                    comm.allReduceSum(buf, N);
                    double ms = (System.nanoTime() - t0) / 1e6;
                    if (it >= WARMUP) {
                        best = Math.min(best, ms);
                        sum += ms;
                    }
                }
                // the slowest rank's best time is the collective's time
                double bestMax = maxOver(comm, best);
                if (comm.isRoot()) {
                    System.out.printf("%-8s %d ranks, %,d floats in place: best %.1f ms (%.2f GB/s), mean %.1f ms"
                            + " over %d reps; %s%n", label, comm.size(), N, bestMax, 4.0 * N / bestMax / 1e6,
                            sum / REPS, REPS, comm.describe());
                }
                comm.barrier();
            });
        }
    }

    /** Maximum of {@code v} over ranks (through sums: every rank contributes v in its own slot). */
    private static double maxOver(Communicator comm, double v) {
        double[] slots = new double[comm.size()];
        slots[comm.rank()] = v;
        comm.allReduceSum(slots);
        double m = 0;
        for (double s : slots) m = Math.max(m, s);
        return m;
    }
}
