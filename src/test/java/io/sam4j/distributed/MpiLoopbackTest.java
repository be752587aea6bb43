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
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Two ranks on loopback under the real launcher:
 * {@code mpirun --allow-run-as-root --oversubscribe -np 2 --mca btl self,vader java ... MpiTestMain SCENARIO}.
 * Skipped only when {@code mpirun} is not installed. Every job is waited for with a timeout and killed
 * (with its JVMs) if it overruns; failure scenarios must end the whole job within {@link #FAILURE_BOUND_S}.
 */
class MpiLoopbackTest {
    /** A failing rank must end the whole job within this many seconds. */
    static final double FAILURE_BOUND_S = 60;
    /** Hard limit on one mpirun job before it is killed. */
    static final long JOB_TIMEOUT_S = 90;

    static Path mpirun;

    @TempDir
    Path tmp;

    record Job(int exitCode, String output, double seconds) {}

    @BeforeAll
    static void findMpirun() {
        mpirun = onPath("mpirun");
        Assumptions.assumeTrue(mpirun != null, "mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev)");
    }

    @Test
    void allReduceBroadcastAndBarrierOnTwoRanks() throws Exception {
        Job job = run("collectives");
        assertEquals(0, job.exitCode(), job.output());
        assertTrue(job.output().contains("PASS rank 0") && job.output().contains("PASS rank 1"), job.output());
        assertTrue(job.output().contains("MPI_ERR_ROOT"), "MPI errors come back as codes: " + job.output());
    }

    /** "wait": the other rank waits in a collective when it happens; "busy": it is computing. */
    @ParameterizedTest
    @ValueSource(strings = {"wait", "busy"})
    void rankThatThrowsInRunGuardedEndsTheJob(String other) throws Exception {
        Job job = run(List.of(), "throw", other);
        assertFailedFast(job);
        assertTrue(job.output().contains("sam4j: rank 1 failed: deliberate failure in the test"), job.output());
        assertTrue(job.output().contains("sam4j: rank 1 of 2 aborting the job"), job.output());
    }

    @Test
    void uncaughtExceptionOnTheMpiThreadEndsTheJob() throws Exception {
        Job job = run("uncaught");
        assertFailedFast(job);
        assertTrue(job.output().contains("sam4j: rank 1 failed: deliberate uncaught failure"), job.output());
    }

    @ParameterizedTest
    @ValueSource(strings = {"wait", "busy"})
    void rankKilledWithSigkillEndsTheJob(String other) throws Exception {
        Job job = run(List.of(), "kill", other);
        assertFailedFast(job);
        assertTrue(job.output().contains("sends itself SIGKILL"), job.output());
    }

    @Test
    void systemExitWithoutCloseIsBoundedByTheFinalizeWatchdog() throws Exception {
        Job job = run(List.of("-D" + MpiCommunicator.FINALIZE_TIMEOUT_PROPERTY + "=2"), "exit");
        assertFailedFast(job);
        assertTrue(job.output().contains("did not complete within 2 s"), job.output());
    }

    @Test
    void shutdownHookFinalizesWhenCloseIsNotCalled() throws Exception {
        Job job = run("noclose");
        assertEquals(0, job.exitCode(), job.output());
        assertTrue(job.output().contains("DONE rank 0") && job.output().contains("DONE rank 1"), job.output());
    }

    private static void assertFailedFast(Job job) {
        assertNotEquals(0, job.exitCode(), job.output());
        assertTrue(job.seconds() < FAILURE_BOUND_S, "took " + job.seconds() + " s: " + job.output());
        assertTrue(!job.output().contains("UNEXPECTED"), job.output());
    }

    /** Runs MpiTestMain SCENARIO on 2 loopback ranks; output is stdout and stderr of mpirun and both ranks. */
    Job run(String... scenario) throws IOException, InterruptedException {
        return run(List.of(), scenario);
    }

    /** As {@link #run(String...)}, with extra JVM options for the ranks. */
    Job run(List<String> jvmArgs, String... scenario) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(mpirun.toString(), "--allow-run-as-root", "--oversubscribe",
                "-np", "2", "--mca", "btl", "self,vader"));
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of("--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Xmx256m", "-XX:+UseSerialGC"));
        cmd.addAll(jvmArgs);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), MpiTestMain.class.getName()));
        cmd.addAll(List.of(scenario));
        String name = String.join("-", scenario);
        File log = tmp.resolve(name + ".log").toFile();
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log);
        scrubLauncherEnvironment(pb.environment());
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
        System.out.printf("mpirun %s: exit %s after %.1f s%n", name, done ? p.exitValue() : "TIMEOUT", seconds);
        assertTrue(done, "mpirun " + name + " did not finish within " + JOB_TIMEOUT_S + " s:\n" + out);
        return new Job(p.exitValue(), out, seconds);
    }

    /**
     * Drops variables that would make the child mpirun think it runs inside another job (when the build
     * itself runs under a launcher); keeps OMPI_MCA_* settings such as btl_vader_single_copy_mechanism.
     */
    static void scrubLauncherEnvironment(Map<String, String> env) {
        env.keySet().removeIf(k -> k.startsWith("PMIX_")
                || (k.startsWith("OMPI_") && !k.startsWith("OMPI_MCA_"))
                || k.startsWith("OMPI_MCA_orte_") || k.startsWith("OMPI_MCA_ess") || k.startsWith("OMPI_MCA_pmix"));
    }

    static Path onPath(String program) {
        String path = System.getenv("PATH");
        if (path == null) return null;
        for (String dir : path.split(File.pathSeparator)) {
            if (dir.isEmpty()) continue;
            Path p = Path.of(dir, program);
            if (Files.isRegularFile(p) && Files.isExecutable(p)) return p;
        }
        return null;
    }
}
