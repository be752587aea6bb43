package io.sam4j.distributed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pins {@link MpiAbi}'s hard-coded values to each MPI's own {@code mpi.h}: compiles
 * {@code native/check_mpi_abi.c} against the header and compares every printed value. Skipped, with the
 * reason, where gcc or the header is missing.
 */
class MpiAbiTest {
    static final Path OPEN_MPI_INCLUDE = Path.of("/usr/lib/x86_64-linux-gnu/openmpi/include");
    static final Path MPICH_INCLUDE = Path.of("/usr/include/x86_64-linux-gnu/mpich");

    @TempDir
    Path tmp;

    @Test
    void mpichConstantsMatchItsHeader() throws Exception {
        assertEquals(headerValues(MPICH_INCLUDE, "mpich libmpich-dev"), MpiAbi.mpich().pinnedConstants());
    }

    @Test
    void openMpiConstantsMatchItsHeader() throws Exception {
        Map<String, Long> header = headerValues(OPEN_MPI_INCLUDE, "openmpi-bin libopenmpi-dev");
        SymbolLookup lib = SymbolLookup.libraryLookup(MpiJobs.OPEN_MPI.library, Arena.global());
        MpiAbi abi = MpiAbi.openMpi(lib, MpiJobs.OPEN_MPI.library);
        assertEquals(header, abi.pinnedConstants());
        assertTrue(abi.commWorld.address() != 0 && abi.floatType.address() != abi.doubleType.address());
    }

    /** The library is recognised by its symbols: Open MPI's globals, MPICH's internals. */
    @Test
    void familyIsRecognisedFromTheLibrary() {
        for (MpiJobs mpi : MpiJobs.values()) {
            SymbolLookup lib;
            try {
                lib = SymbolLookup.libraryLookup(mpi.library, Arena.global());
            } catch (IllegalArgumentException e) {
                System.out.println("SKIPPED: " + mpi.label + " library " + mpi.library + " not installed");
                continue;
            }
            MpiAbi abi = MpiAbi.of(lib, mpi.library);
            assertEquals(mpi == MpiJobs.MPICH ? MpiAbi.Family.MPICH : MpiAbi.Family.OPEN_MPI, abi.family, mpi.library);
        }
    }

    private Map<String, Long> headerValues(Path include, String packages) throws Exception {
        Path gcc = MpiJobs.onPath("gcc");
        Assumptions.assumeTrue(gcc != null, "gcc is not installed: cannot compile native/check_mpi_abi.c");
        Assumptions.assumeTrue(Files.isRegularFile(include.resolve("mpi.h")),
                include + "/mpi.h is missing (apt-get install " + packages + ")");
        Path exe = tmp.resolve("check_mpi_abi");
        run(gcc.toString(), "-I" + include, "native/check_mpi_abi.c", "-o", exe.toString());
        Map<String, Long> values = new LinkedHashMap<>();
        for (String line : run(exe.toString()).split("\n")) {
            if (line.isBlank() || line.startsWith("#")) continue;
            String[] kv = line.strip().split(" ");
            values.put(kv[0], Long.parseLong(kv[1]));
        }
        return values;
    }

    private static String run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, String.join(" ", cmd) + ":\n" + out);
        return out;
    }
}
