package io.sam4j.distributed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Two ranks on loopback under each MPI's real launcher ({@link MpiJobs}: Open MPI's mpirun, MPICH's
 * mpiexec), running {@code MpiTestMain SCENARIO}. A test is skipped, with its reason, only when that MPI
 * is not installed. Every job is waited for with a timeout and killed (with its JVMs) if it overruns;
 * failure scenarios must end the whole job within {@link #FAILURE_BOUND_S}.
 */
class MpiLoopbackTest {
    /** A failing rank must end the whole job within this many seconds. */
    static final double FAILURE_BOUND_S = 60;
    /** Hard limit on one job before it is killed. */
    static final long JOB_TIMEOUT_S = 90;

    @TempDir
    Path tmp;

    record Job(int exitCode, String output, double seconds) {}

    @ParameterizedTest
    @EnumSource(MpiJobs.class)
    void allReduceBroadcastAndBarrierOnTwoRanks(MpiJobs mpi) throws Exception {
        assertCollectivesPass(run(mpi, false, List.of(), "collectives"), mpi);
    }

    /** The path between nodes: every byte over TCP sockets on loopback. */
    @ParameterizedTest
    @EnumSource(MpiJobs.class)
    void collectivesOverTcp(MpiJobs mpi) throws Exception {
        assertCollectivesPass(run(mpi, true, List.of(), "collectives"), mpi);
    }

    private static void assertCollectivesPass(Job job, MpiJobs mpi) {
        assertEquals(0, job.exitCode(), job.output());
        assertTrue(job.output().contains("PASS rank 0") && job.output().contains("PASS rank 1"), job.output());
        assertTrue(job.output().contains(mpi == MpiJobs.MPICH ? "MPICH ABI (int handles)" : "Open MPI ABI (pointer handles)"),
                "the start-up line names the ABI: " + job.output());
        assertTrue(job.output().contains("MPI_ERR_ROOT") || job.output().contains("Invalid root"),
                "MPI errors come back as codes: " + job.output());
    }

    /** Debian's mpiexec.mpich with Open MPI's library (the silent case) is a one-line error, not 2 runs. */
    @Test
    void libraryOfAnotherMpiThanTheLauncherIsAnError() throws Exception {
        MpiJobs.MPICH.assumeInstalled();
        MpiJobs.OPEN_MPI.assumeInstalled();
        Job job = run(MpiJobs.MPICH, false, List.of("-D" + MpiCommunicator.LIBRARY_PROPERTY + "=libmpi.so.40"), "noclose");
        assertNotEquals(0, job.exitCode(), job.output());
        assertTrue(job.output().contains("started 2 ranks, but libmpi.so.40 (Open MPI ABI (pointer handles)) formed a "
                + "world of 1"), job.output());
        assertTrue(!job.output().contains("DONE rank"), job.output());
    }

    /** "wait": the other rank waits in a collective when it happens; "busy": it is computing. */
    @ParameterizedTest
    @CsvSource({"OPEN_MPI, wait", "OPEN_MPI, busy", "MPICH, wait", "MPICH, busy"})
    void rankThatThrowsInRunGuardedEndsTheJob(MpiJobs mpi, String other) throws Exception {
        Job job = run(mpi, false, List.of(), "throw", other);
        assertFailedFast(job);
        assertTrue(job.output().contains("sam4j: rank 1 failed: deliberate failure in the test"), job.output());
        // Hydra kills the job on MPI_Abort and may drop the ranks' last lines in flight to it (seen once under load).
        if (mpi == MpiJobs.OPEN_MPI) assertTrue(job.output().contains("sam4j: rank 1 of 2 aborting the job"), job.output());
    }

    @ParameterizedTest
    @EnumSource(MpiJobs.class)
    void uncaughtExceptionOnTheMpiThreadEndsTheJob(MpiJobs mpi) throws Exception {
        Job job = run(mpi, false, List.of(), "uncaught");
        assertFailedFast(job);
        assertTrue(job.output().contains("sam4j: rank 1 failed: deliberate uncaught failure"), job.output());
    }

    @ParameterizedTest
    @CsvSource({"OPEN_MPI, wait", "OPEN_MPI, busy", "MPICH, wait", "MPICH, busy"})
    void rankKilledWithSigkillEndsTheJob(MpiJobs mpi, String other) throws Exception {
        Job job = run(mpi, false, List.of(), "kill", other);
        assertFailedFast(job);
        assertTrue(job.output().contains("sends itself SIGKILL"), job.output());
    }

    /** A rank that stops calling MPI (stuck computing) ends the job within the hang timeout plus a few seconds. */
    @ParameterizedTest
    @EnumSource(MpiJobs.class)
    void hungRankEndsTheJobNamingItself(MpiJobs mpi) throws Exception {
        Job job = run(mpi, false, List.of(), "hang");
        assertFailedFast(job);
        assertTrue(job.output().contains("rank 1 is hung: no MPI call for 3 s"), job.output());
        assertTrue(job.seconds() < 30, "took " + job.seconds() + " s");
    }

    @ParameterizedTest
    @EnumSource(MpiJobs.class)
    void systemExitWithoutCloseIsBoundedByTheFinalizeWatchdog(MpiJobs mpi) throws Exception {
        Job job = run(mpi, false, List.of("-D" + MpiCommunicator.FINALIZE_TIMEOUT_PROPERTY + "=2"), "exit");
        assertFailedFast(job);
        assertTrue(job.output().contains("did not complete within 2 s"), job.output());
    }

    @ParameterizedTest
    @EnumSource(MpiJobs.class)
    void shutdownHookFinalizesWhenCloseIsNotCalled(MpiJobs mpi) throws Exception {
        Job job = run(mpi, false, List.of(), "noclose");
        assertEquals(0, job.exitCode(), job.output());
        assertTrue(job.output().contains("DONE rank 0") && job.output().contains("DONE rank 1"), job.output());
    }

    private static void assertFailedFast(Job job) {
        assertNotEquals(0, job.exitCode(), job.output());
        assertTrue(job.seconds() < FAILURE_BOUND_S, "took " + job.seconds() + " s: " + job.output());
        assertTrue(!job.output().contains("UNEXPECTED"), job.output());
    }

    /** Runs MpiTestMain SCENARIO on 2 loopback ranks of {@code mpi} (skipped when it is not installed). */
    Job run(MpiJobs mpi, boolean tcp, List<String> jvmArgs, String... scenario) throws IOException, InterruptedException {
        mpi.assumeInstalled();
        List<String> cmd = mpi.command(2, tcp);
        cmd.addAll(MpiJobs.java("256m"));
        cmd.add("-XX:+UseSerialGC");
        cmd.addAll(jvmArgs);
        cmd.add(MpiTestMain.class.getName());
        cmd.addAll(List.of(scenario));
        String name = mpi + (tcp ? "-tcp-" : "-") + String.join("-", scenario);
        File log = tmp.resolve(name + ".log").toFile();
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log);
        MpiJobs.scrubLauncherEnvironment(pb.environment());
        long t0 = System.nanoTime();
        Process p = pb.start();
        boolean done = p.waitFor(JOB_TIMEOUT_S, TimeUnit.SECONDS);
        double seconds = (System.nanoTime() - t0) / 1e9;
        if (!done) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
        String out = Files.readString(log.toPath(), StandardCharsets.UTF_8);
        System.out.printf("%s: exit %s after %.1f s%n", name, done ? p.exitValue() : "TIMEOUT", seconds);
        assertTrue(done, name + " did not finish within " + JOB_TIMEOUT_S + " s:\n" + out);
        return new Job(p.exitValue(), out, seconds);
    }
}
