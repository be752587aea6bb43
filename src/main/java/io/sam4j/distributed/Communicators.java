package io.sam4j.distributed;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Chooses the communicator for this process.
 *
 * <ul>
 *   <li>{@code "auto"}: MPI when the environment shows an MPI launcher started the process
 *       ({@link Launcher}: Open MPI's mpirun, MPICH's or Intel MPI's Hydra, srun with PMI), else a single
 *       process. Under a launcher, failing to load MPI is an error rather than a silent fallback (which
 *       would run N independent trainings); so is {@code srun} with several tasks but no {@code --mpi}.
 *   <li>{@code "mpi"}: MPI, or an error saying what to install when the library cannot be loaded.
 *   <li>{@code "none"} or {@code "single"}: a single process.
 * </ul>
 * The MPI library is the one named ({@code --mpi-library}), else the launcher's (see {@link MpiCommunicator}).
 */
public final class Communicators {
    private Communicators() {}

    /** The modes {@link #detect} accepts. */
    public static final String MODES = "auto, mpi, none, single";

    /** See the class comment; the library as configured ({@link MpiCommunicator#configuredLibrary()}). */
    public static Communicator detect(String mode) {
        return detect(mode, null);
    }

    /** See the class comment; {@code library} (a soname or path, or null for automatic) forces one MPI. */
    public static Communicator detect(String mode, String library) {
        String lib = library != null && !library.isBlank() ? library.strip() : MpiCommunicator.configuredLibrary();
        return detect(mode, System.getenv(), () -> MpiCommunicator.init(lib));
    }

    static Communicator detect(String mode, Map<String, String> env, Supplier<? extends Communicator> mpi) {
        String m = mode == null ? "auto" : mode.strip().toLowerCase(Locale.ROOT);
        return switch (m) {
            case "none", "single" -> SingleProcess.INSTANCE;
            case "mpi" -> mpi.get();
            case "auto", "" -> underLauncher(env) ? mpi.get() : SingleProcess.INSTANCE;
            default -> throw new IllegalArgumentException(
                    "unknown distributed mode '" + mode + "' (expected one of " + MODES + ")");
        };
    }

    /** True when an MPI launcher (mpirun, mpiexec, srun with PMI) started this process. */
    public static boolean underLauncher() {
        return underLauncher(System.getenv());
    }

    static boolean underLauncher(Map<String, String> env) {
        Launcher l = Launcher.of(env);
        if (l == Launcher.SLURM_WITHOUT_PMI) {
            throw new IllegalStateException("srun started " + env.get("SLURM_NTASKS") + " tasks without an MPI "
                    + "process-management interface (no PMI_RANK or PMIX_RANK), so they cannot form one job: run "
                    + "srun --mpi=pmix (Open MPI) or srun --mpi=pmi2 (MPICH, Intel MPI), or --dist none for "
                    + "independent runs");
        }
        return l != Launcher.NONE;
    }

    /** Number of ranks on this node according to the launcher, else 1. */
    public static int localSize() {
        return Launcher.localSize(System.getenv());
    }

    /**
     * Compute threads for this rank when the user gave none. When the launcher bound this process to a
     * subset of the machine's CPUs ({@code mpirun}'s default for 2 ranks is one core each; with
     * {@code --map-by slot:PE=N} it is N cores), the JVM already sees only those: use them all.
     * Otherwise ({@code --bind-to none}, the recommended launch) the ranks on this node share its CPUs:
     * available processors divided by {@link #localSize()}.
     */
    public static int threadsPerRank() {
        int available = Runtime.getRuntime().availableProcessors();
        int allowed = cpuCount(readFirstLine(Path.of("/proc/self/status"), "Cpus_allowed_list:"));
        int online = cpuCount(readFirstLine(Path.of("/sys/devices/system/cpu/online"), ""));
        return threadsPerRank(available, allowed, online, localSize());
    }

    static int threadsPerRank(int available, int allowedCpus, int onlineCpus, int localSize) {
        boolean bound = allowedCpus > 0 && onlineCpus > 0 && allowedCpus < onlineCpus;
        return bound ? Math.max(1, available) : Math.max(1, available / Math.max(1, localSize));
    }

    /** Number of CPUs in a Linux CPU list such as "0-3,8,10-11"; 0 when absent or unreadable. */
    static int cpuCount(String list) {
        if (list == null || list.isBlank()) return 0;
        int n = 0;
        try {
            for (String part : list.strip().split(",")) {
                int dash = part.indexOf('-');
                if (dash < 0) {
                    Integer.parseInt(part.strip());
                    n++;
                } else {
                    int from = Integer.parseInt(part.substring(0, dash).strip());
                    int to = Integer.parseInt(part.substring(dash + 1).strip());
                    if (to < from) return 0;
                    n += to - from + 1;
                }
            }
        } catch (NumberFormatException e) {
            return 0;
        }
        return n;
    }

    private static String readFirstLine(Path file, String prefix) {
        try {
            for (String line : Files.readAllLines(file)) {
                if (line.startsWith(prefix)) return line.substring(prefix.length());
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or no /proc: treat as unknown
        }
        return null;
    }
}
