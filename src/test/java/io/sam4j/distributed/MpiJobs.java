package io.sam4j.distributed;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;

/**
 * The two MPIs the multi-process tests run under, with the launch command for a job on this machine.
 * A test that needs one calls {@link #assumeInstalled()}, which skips it with a one-line reason (and
 * prints that line, so the build log says why) when the package is missing.
 */
enum MpiJobs {
    OPEN_MPI("Open MPI", "openmpi-bin libopenmpi-dev", "libmpi.so.40", "mpirun.openmpi", "mpiexec.openmpi", "mpirun"),
    MPICH("MPICH", "mpich libmpich-dev", "libmpich.so.12", "mpiexec.mpich", "mpirun.mpich");

    final String label;
    final String packages;
    final String library;
    private final String[] launchers;

    MpiJobs(String label, String packages, String library, String... launchers) {
        this.label = label;
        this.packages = packages;
        this.library = library;
        this.launchers = launchers;
    }

    /** The launcher program, or null when this MPI is not installed. */
    Path launcher() {
        if (!libraryInstalled()) return null;
        for (String name : launchers) {
            Path p = onPath(name);
            if (p != null) return p;
        }
        return null;
    }

    private boolean libraryInstalled() {
        for (String dir : new String[] {"/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib"}) {
            if (Files.exists(Path.of(dir, library))) return true;
        }
        return false;
    }

    /** Skips the calling test, saying why in one line, when this MPI is not installed. */
    void assumeInstalled() {
        if (launcher() != null) return;
        String why = label + " is not installed (no " + launchers[0] + " or " + library + "; apt-get install " + packages
                + "): skipping";
        System.out.println("SKIPPED: " + why);
        Assumptions.abort(why);
    }

    /**
     * The launcher's argv for {@code ranks} ranks on loopback, each unbound (the JVMs use their threads
     * freely); with {@code tcp}, every byte between the ranks goes through TCP sockets, as between nodes:
     * Open MPI's ob1 with only the self and tcp transports, MPICH (Debian's ch4:ucx) with its shared-memory
     * path off and UCX limited to tcp.
     */
    List<String> command(int ranks, boolean tcp) {
        List<String> cmd = new ArrayList<>();
        cmd.add(launcher().toString());
        switch (this) {
            case OPEN_MPI -> {
                cmd.addAll(List.of("--allow-run-as-root", "--oversubscribe", "-np", Integer.toString(ranks), "--bind-to", "none"));
                cmd.addAll(tcp ? List.of("--mca", "pml", "ob1", "--mca", "btl", "self,tcp") : List.of("--mca", "btl", "self,vader"));
            }
            case MPICH -> {
                cmd.addAll(List.of("-n", Integer.toString(ranks)));
                if (tcp) cmd.addAll(List.of("-genv", "MPIR_CVAR_NOLOCAL", "1", "-genv", "UCX_TLS", "tcp,self"));
            }
        }
        return cmd;
    }

    /** The JVM command line for the ranks, up to and including the classpath. */
    static List<String> java(String heap) {
        return new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx" + heap,
                "-cp", System.getProperty("java.class.path")));
    }

    /**
     * Drops variables that would make the child launcher think it runs inside another job (when the build
     * itself runs under a launcher); keeps OMPI_MCA_* settings such as btl_vader_single_copy_mechanism.
     */
    static void scrubLauncherEnvironment(Map<String, String> env) {
        env.keySet().removeIf(k -> k.startsWith("PMIX_") || k.startsWith("PMI_") || k.startsWith("HYDRA_")
                || k.startsWith("MPI_LOCAL") || (k.startsWith("OMPI_") && !k.startsWith("OMPI_MCA_"))
                || k.startsWith("OMPI_MCA_orte_") || k.startsWith("OMPI_MCA_ess") || k.startsWith("OMPI_MCA_pmix")
                || k.equals(MpiCommunicator.LIBRARY_ENV));
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
