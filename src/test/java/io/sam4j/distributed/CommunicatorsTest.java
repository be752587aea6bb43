package io.sam4j.distributed;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** In-process checks: mode selection, the single-process communicator, failure reporting, helpers. */
class CommunicatorsTest {
    /** Stands in for MPI in {@link Communicators#detect(String, Map, java.util.function.Supplier)}. */
    static final class Fake implements Communicator {
        final int rank;
        final List<String> aborts = new ArrayList<>();

        Fake(int rank) {
            this.rank = rank;
        }

        @Override public int rank() { return rank; }
        @Override public int size() { return 4; }
        @Override public void barrier() {}
        @Override public void broadcast(MemorySegment floats, long count, int root) {}
        @Override public void allReduceSum(MemorySegment floats, long count) {}
        @Override public void allReduceSum(double[] values) {}
        @Override public void abort(int code, String message) { aborts.add(code + ":" + message); }
        @Override public String describe() { return "fake"; }
        @Override public void close() {}
    }

    @Test
    void modes() {
        Fake mpi = new Fake(0);
        assertSame(SingleProcess.INSTANCE, Communicators.detect("none", Map.of(), () -> mpi));
        assertSame(SingleProcess.INSTANCE, Communicators.detect("single", Map.of(), () -> mpi));
        assertSame(SingleProcess.INSTANCE, Communicators.detect("auto", Map.of(), () -> mpi));
        assertSame(SingleProcess.INSTANCE, Communicators.detect(null, Map.of("PATH", "/bin"), () -> mpi));
        assertSame(mpi, Communicators.detect("mpi", Map.of(), () -> mpi));
        assertSame(mpi, Communicators.detect(" MPI ", Map.of(), () -> mpi));
        for (String v : new String[] {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"}) {
            assertSame(mpi, Communicators.detect("auto", Map.of(v, "1"), () -> mpi), v);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Communicators.detect("nccl", Map.of(), () -> mpi));
        assertTrue(e.getMessage().contains("nccl") && e.getMessage().contains(Communicators.MODES), e.getMessage());
    }

    /** Each launcher's variables select MPI and that launcher's library family; srun without PMI is an error. */
    @Test
    void launchersAreRecognisedFromTheirEnvironment() {
        Fake mpi = new Fake(0);
        assertEquals(Launcher.OPEN_MPI, Launcher.of(Map.of("OMPI_COMM_WORLD_SIZE", "2")));
        assertEquals(Launcher.OPEN_MPI, Launcher.of(Map.of("OMPI_COMM_WORLD_RANK", "0", "PMIX_RANK", "0")));
        assertEquals(Launcher.PMIX, Launcher.of(Map.of("PMIX_RANK", "0", "PMI_RANK", "0")));
        assertEquals(Launcher.MPICH, Launcher.of(Map.of("PMI_RANK", "1", "PMI_SIZE", "2", "PMI_FD", "6")));
        assertEquals(Launcher.INTEL_MPI, Launcher.of(Map.of("PMI_RANK", "1", "I_MPI_PIN", "1")));
        assertEquals(Launcher.MPICH, Launcher.of(Map.of("PMI_RANK", "1", "I_MPI_ROOT", "/opt/intel")),
                "I_MPI_ROOT alone is set by Intel's environment script, not by the launcher");
        assertEquals(Launcher.NONE, Launcher.of(Map.of("SLURM_NTASKS", "1", "SLURM_PROCID", "0")));
        assertEquals(java.util.List.of("libmpich.so.12", "libmpi.so.12"), Launcher.MPICH.libraries);
        assertEquals(2, Launcher.worldSize(Map.of("PMI_SIZE", "2")).getAsInt());
        assertEquals(4, Launcher.worldSize(Map.of("OMPI_COMM_WORLD_SIZE", "4", "PMI_SIZE", "1")).getAsInt());
        assertEquals(8, Launcher.worldSize(Map.of("PMIX_RANK", "3", "SLURM_NTASKS", "8")).getAsInt());
        assertTrue(Launcher.worldSize(Map.of("SLURM_NTASKS", "8")).isEmpty());
        assertTrue(Launcher.worldSize(Map.of()).isEmpty());
        for (String v : new String[] {"PMI_RANK", "PMI_SIZE", "PMI_FD"}) {
            assertSame(mpi, Communicators.detect("auto", Map.of(v, "1"), () -> mpi), v);
        }
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Communicators.detect("auto",
                Map.of("SLURM_NTASKS", "4", "SLURM_PROCID", "2"), () -> mpi));
        assertTrue(e.getMessage().contains("srun started 4 tasks") && e.getMessage().contains("--mpi=pmi2"), e.getMessage());
        assertSame(SingleProcess.INSTANCE, Communicators.detect("none", Map.of("SLURM_NTASKS", "4", "SLURM_PROCID", "2"),
                () -> mpi));
    }

    @Test
    void libraryVersionLineIsShortened() {
        assertEquals("Open MPI v4.1.4", MpiCommunicator.firstPart("Open MPI v4.1.4, package: Debian OpenMPI, ident: 4.1.4"));
        assertEquals("MPICH Version: 4.0.2", MpiCommunicator.firstPart("MPICH Version:\t4.0.2\nMPICH Release date: x\n"));
    }

    @Test
    void missingLibraryNamesThePathAndWhatToInstall() {
        String lib = "/nonexistent/sam4j-test/libmpi.so.40";
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> MpiCommunicator.init(lib));
        assertTrue(e.getMessage().contains(lib), e.getMessage());
        assertTrue(e.getMessage().contains("openmpi-bin libopenmpi-dev"), e.getMessage());
        assertTrue(e.getMessage().contains(MpiCommunicator.LIBRARY_PROPERTY), e.getMessage());
        assertTrue(e.getMessage().contains(MpiCommunicator.LIBRARY_ENV), e.getMessage());
    }

    @Test
    void libraryOverrideByProperty() {
        String old = System.getProperty(MpiCommunicator.LIBRARY_PROPERTY);
        try {
            System.setProperty(MpiCommunicator.LIBRARY_PROPERTY, " /opt/mpi/lib/libmpi.so.40 ");
            assertEquals("/opt/mpi/lib/libmpi.so.40", MpiCommunicator.configuredLibrary());
            System.clearProperty(MpiCommunicator.LIBRARY_PROPERTY);
            String env = System.getenv(MpiCommunicator.LIBRARY_ENV);
            assertEquals(env != null && !env.isBlank() ? env.strip() : null,
                    MpiCommunicator.configuredLibrary());
        } finally {
            if (old == null) System.clearProperty(MpiCommunicator.LIBRARY_PROPERTY);
            else System.setProperty(MpiCommunicator.LIBRARY_PROPERTY, old);
        }
    }

    @Test
    void singleProcessLeavesDataAlone() {
        Communicator c = SingleProcess.INSTANCE;
        assertEquals(0, c.rank());
        assertEquals(1, c.size());
        assertTrue(c.isRoot());
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(4 * 5, 64);
            for (int i = 0; i < 5; i++) s.setAtIndex(JAVA_FLOAT, i, i + 0.5f);
            c.allReduceSum(s, 5);
            c.broadcast(s, 5, 0);
            c.barrier();
            for (int i = 0; i < 5; i++) assertEquals(i + 0.5f, s.getAtIndex(JAVA_FLOAT, i));
            assertThrows(IllegalArgumentException.class, () -> c.broadcast(s, 5, 1));
            assertThrows(IllegalArgumentException.class, () -> c.allReduceSum(s, 6));
            assertThrows(IllegalArgumentException.class, () -> c.allReduceSum(s, -1));
            assertThrows(IllegalArgumentException.class,
                    () -> c.allReduceSum(MemorySegment.ofArray(new float[5]), 5));
        }
        assertEquals(2.5, c.allReduceSum(2.5));
        double[] v = {1, 2};
        c.allReduceSum(v);
        assertEquals(2, v[1]);
        assertTrue(c.describe().contains("single"));
        c.close();
    }

    @Test
    void runGuardedReportsTheRankAndAborts() throws Exception {
        Fake c = new Fake(3);
        String err = captureStderr(() -> c.runGuarded(() -> {
            throw new java.io.IOException("disk full");
        }));
        assertEquals(List.of(Communicator.FAILURE_EXIT_CODE + ":failed: disk full"), c.aborts);
        assertTrue(err.contains("sam4j: rank 3 failed: disk full"), err);
        assertTrue(err.contains("java.io.IOException"), err);

        Fake ok = new Fake(0);
        boolean[] ran = {false};
        ok.runGuarded(() -> ran[0] = true);
        assertTrue(ran[0]);
        assertTrue(ok.aborts.isEmpty());

        Fake error = new Fake(1);
        captureStderr(() -> error.runGuarded(() -> {
            throw new StackOverflowError();
        }));
        assertEquals(1, error.aborts.size(), "Errors abort too");

        java.io.IOException io = new java.io.IOException("single");
        assertSame(io, assertThrows(java.io.IOException.class, () -> SingleProcess.INSTANCE.runGuarded(() -> {
            throw io;
        })), "a single process lets the exception through unchanged");
    }

    @Test
    void threadsPerRankAndCpuLists() {
        assertEquals(7, Communicators.cpuCount("0-3,5,7-8"));
        assertEquals(1, Communicators.cpuCount(" 0\n"));
        assertEquals(0, Communicators.cpuCount(null));
        assertEquals(0, Communicators.cpuCount("x"));
        assertEquals(8, Communicators.threadsPerRank(16, 16, 16, 2), "unbound: share the node");
        assertEquals(4, Communicators.threadsPerRank(4, 4, 16, 2), "bound to 4 cores: use them");
        assertEquals(1, Communicators.threadsPerRank(1, 1, 2, 2), "mpirun's default core binding for 2 ranks");
        assertEquals(1, Communicators.threadsPerRank(2, 0, 0, 4), "never below 1");
        assertEquals(2, Launcher.localSize(Map.of("OMPI_COMM_WORLD_LOCAL_SIZE", "2")));
        assertEquals(3, Launcher.localSize(Map.of("MPI_LOCALNRANKS", "3")));
        assertEquals(1, Launcher.localSize(Map.of()));
        assertTrue(Communicators.threadsPerRank() >= 1);
        assertFalse(Communicators.underLauncher(Map.of("OMPI_COMM_WORLD_SIZE", " ")));
    }

    private static String captureStderr(Communicator.Body r) throws Exception {
        PrintStream old = System.err;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setErr(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            r.run();
        } finally {
            System.setErr(old);
        }
        return buf.toString(StandardCharsets.UTF_8);
    }
}
