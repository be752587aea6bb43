package io.sam4j.distributed;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;

/**
 * Everything about MPI that is specific to Open MPI's binary interface (checked against the
 * {@code mpi.h} and {@code libmpi.so.40} of Open MPI 4.1.4): the library name, how predefined handles
 * are represented, and the values of the constants {@link MpiCommunicator} uses. The function
 * signatures themselves are the MPI standard's and live in {@link MpiCommunicator}, written with
 * {@link #HANDLE} wherever the C type is a handle ({@code MPI_Comm}, {@code MPI_Datatype},
 * {@code MPI_Op}, {@code MPI_Errhandler}).
 *
 * <p>In Open MPI the handle types are pointers to structs, and {@code mpi.h} defines each predefined
 * handle as the address of an exported global: {@code MPI_COMM_WORLD} is {@code &ompi_mpi_comm_world},
 * {@code MPI_FLOAT} {@code &ompi_mpi_float}, {@code MPI_SUM} {@code &ompi_mpi_op_sum},
 * {@code MPI_ERRORS_RETURN} {@code &ompi_mpi_errors_return}. So a handle here is just the symbol's
 * address, found with the library's {@link SymbolLookup}.
 *
 * <p><b>MPICH</b> (4.0.2, Debian {@code libmpich.so.12}; Intel MPI shares its handle scheme) differs, and a
 * table for it would hold: handles are C {@code int}s, not pointers, so {@code HANDLE = JAVA_INT};
 * {@code MPI_COMM_WORLD = 0x44000000}, {@code MPI_FLOAT = 0x4c00040a}, {@code MPI_DOUBLE = 0x4c00080b},
 * {@code MPI_SUM = 0x58000003}, {@code MPI_ERRORS_RETURN = 0x54000001}; {@code MPI_IN_PLACE} is
 * {@code (void *) -1}. The thread levels (0..3) and {@code MPI_SUCCESS = 0} are the same (the levels
 * are fixed by the standard). To support it, make this class one implementation of a small interface,
 * keep handles as {@link MemorySegment}s whose address is the integer value, and adapt each downcall
 * whose descriptor has a {@code JAVA_INT} handle with {@code MethodHandles.filterArguments}
 * ({@code segment -> (int) segment.address()}), so the call sites in {@link MpiCommunicator} stay as
 * they are. Choose the table from the library that loaded (e.g. the presence of the
 * {@code ompi_mpi_comm_world} symbol).
 */
final class OpenMpiAbi {
    /** Implementation name for messages. */
    static final String IMPLEMENTATION = "Open MPI";

    /** The soname of Open MPI's C library (4.x and 5.x). */
    static final String DEFAULT_LIBRARY = "libmpi.so.40";

    /** Layout of a handle argument: a pointer in Open MPI. */
    static final ValueLayout HANDLE = ValueLayout.ADDRESS;

    /** {@code #define MPI_IN_PLACE ((void *) 1)}. */
    static final MemorySegment IN_PLACE = MemorySegment.ofAddress(1);

    static final int SUCCESS = 0;

    /** {@code MPI_THREAD_SINGLE .. MPI_THREAD_MULTIPLE}: 0 .. 3, in order of capability. */
    static final int THREAD_SINGLE = 0;
    static final int THREAD_FUNNELED = 1;
    static final int THREAD_SERIALIZED = 2;
    static final int THREAD_MULTIPLE = 3;

    /** {@code MPI_MAX_ERROR_STRING}, {@code MPI_MAX_LIBRARY_VERSION_STRING}, {@code MPI_MAX_PROCESSOR_NAME}. */
    static final int MAX_ERROR_STRING = 256;
    static final int MAX_LIBRARY_VERSION_STRING = 256;
    static final int MAX_PROCESSOR_NAME = 256;

    /** Environment variables Open MPI's launcher (mpirun/orted, or PMIx) sets in every rank. */
    static final String[] LAUNCHER_ENV = {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"};

    /** Number of ranks of the job on this node, as Open MPI's launcher exports it. */
    static final String LOCAL_SIZE_ENV = "OMPI_COMM_WORLD_LOCAL_SIZE";

    final MemorySegment commWorld;
    final MemorySegment floatType;
    final MemorySegment doubleType;
    final MemorySegment opSum;
    final MemorySegment errorsReturn;

    OpenMpiAbi(SymbolLookup lib, String libraryName) {
        commWorld = handle(lib, libraryName, "ompi_mpi_comm_world");
        floatType = handle(lib, libraryName, "ompi_mpi_float");
        doubleType = handle(lib, libraryName, "ompi_mpi_double");
        opSum = handle(lib, libraryName, "ompi_mpi_op_sum");
        errorsReturn = handle(lib, libraryName, "ompi_mpi_errors_return");
    }

    private static MemorySegment handle(SymbolLookup lib, String libraryName, String symbol) {
        return lib.find(symbol).orElseThrow(() -> new IllegalStateException(
                libraryName + " has no symbol " + symbol + ": not an Open MPI library (sam4j supports "
                        + "Open MPI 4.x; MPICH uses a different binary interface)"));
    }

    static String threadLevelName(int level) {
        return switch (level) {
            case THREAD_SINGLE -> "SINGLE";
            case THREAD_FUNNELED -> "FUNNELED";
            case THREAD_SERIALIZED -> "SERIALIZED";
            case THREAD_MULTIPLE -> "MULTIPLE";
            default -> "level " + level;
        };
    }
}
