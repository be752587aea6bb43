package io.sam4j.distributed;

import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * Which MPI launcher started this process, read from the environment variables each one sets in every
 * rank, and therefore which MPI library to load: a launcher and a library of different MPIs do not
 * talk to each other (each rank would initialise as a one-rank world).
 *
 * <ul>
 *   <li>Open MPI's {@code mpirun}/{@code prterun}: {@code OMPI_COMM_WORLD_SIZE}/{@code _RANK};
 *   <li>a PMIx launcher ({@code srun --mpi=pmix}), which either family may use: {@code PMIX_RANK} alone;
 *   <li>MPICH's Hydra ({@code mpiexec.hydra}, Debian's {@code mpiexec.mpich}) and {@code srun --mpi=pmi2}:
 *       {@code PMI_RANK}, {@code PMI_SIZE}, {@code PMI_FD};
 *   <li>Intel MPI (an MPICH-ABI Hydra): as MPICH, plus {@code I_MPI_*} variables.
 * </ul>
 * {@code srun} without an MPI plugin sets only {@code SLURM_*}: several tasks then have no way to
 * find each other, which {@link Communicators} reports instead of starting N separate trainings.
 */
enum Launcher {
    NONE("none", List.of()),
    OPEN_MPI("Open MPI's mpirun", List.of("libmpi.so.40")),
    /** PMIx (srun --mpi=pmix) serves both families: Open MPI's library first, then MPICH's. */
    PMIX("a PMIx launcher (srun --mpi=pmix)", List.of("libmpi.so.40", "libmpich.so.12", "libmpi.so.12")),
    MPICH("MPICH's Hydra (or srun --mpi=pmi2)", List.of("libmpich.so.12", "libmpi.so.12")),
    INTEL_MPI("Intel MPI's Hydra", List.of("libmpi.so.12", "libmpich.so.12")),
    /** srun started several tasks but gave them no PMI: MPI cannot form one job. */
    SLURM_WITHOUT_PMI("srun without --mpi", List.of());

    final String description;
    /** Sonames to try in order when no library is named. */
    final List<String> libraries;

    Launcher(String description, List<String> libraries) {
        this.description = description;
        this.libraries = libraries;
    }

    static Launcher of(Map<String, String> env) {
        if (set(env, "OMPI_COMM_WORLD_SIZE") || set(env, "OMPI_COMM_WORLD_RANK")) return OPEN_MPI;
        if (set(env, "PMIX_RANK")) return PMIX;
        if (set(env, "PMI_RANK") || set(env, "PMI_SIZE") || set(env, "PMI_FD")) {
            boolean intel = env.keySet().stream().anyMatch(k -> k.startsWith("I_MPI_") && !k.equals("I_MPI_ROOT"));
            return intel ? INTEL_MPI : MPICH;
        }
        if (intValue(env, "SLURM_NTASKS").orElse(1) > 1 && set(env, "SLURM_PROCID")) return SLURM_WITHOUT_PMI;
        return NONE;
    }

    /** The world size the launcher announced ({@code OMPI_COMM_WORLD_SIZE}, {@code PMI_SIZE}, srun's {@code SLURM_NTASKS}). */
    static OptionalInt worldSize(Map<String, String> env) {
        OptionalInt o = intValue(env, "OMPI_COMM_WORLD_SIZE");
        if (o.isEmpty()) o = intValue(env, "PMI_SIZE");
        if (o.isEmpty() && set(env, "PMIX_RANK")) o = intValue(env, "SLURM_NTASKS"); // srun --mpi=pmix
        return o;
    }

    /** Ranks on this node: {@code OMPI_COMM_WORLD_LOCAL_SIZE}, Hydra's {@code MPI_LOCALNRANKS}, else 1. */
    static int localSize(Map<String, String> env) {
        OptionalInt o = intValue(env, "OMPI_COMM_WORLD_LOCAL_SIZE");
        if (o.isEmpty()) o = intValue(env, "MPI_LOCALNRANKS");
        if (o.isEmpty()) o = intValue(env, "SLURM_NTASKS_PER_NODE");
        return Math.max(1, o.orElse(1));
    }

    private static boolean set(Map<String, String> env, String name) {
        String v = env.get(name);
        return v != null && !v.isBlank();
    }

    private static OptionalInt intValue(Map<String, String> env, String name) {
        String v = env.get(name);
        if (v == null) return OptionalInt.empty();
        try {
            return OptionalInt.of(Integer.parseInt(v.strip()));
        } catch (NumberFormatException e) {
            return OptionalInt.empty();
        }
    }
}
