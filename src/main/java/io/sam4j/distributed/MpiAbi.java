package io.sam4j.distributed;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The binary interface of one MPI family: how predefined handles are represented and the values of the
 * constants {@link MpiCommunicator} uses. The function signatures are the MPI standard's and are written
 * in {@link MpiCommunicator} with {@link #HANDLE} wherever the C type is a handle ({@code MPI_Comm},
 * {@code MPI_Datatype}, {@code MPI_Op}, {@code MPI_Errhandler}); {@link #downcall} turns that marker into
 * the family's C type, so the call sites are the same for every family: a handle is always a
 * {@link MemorySegment} (for int handles, one whose address is the integer).
 *
 * <ul>
 *   <li><b>Open MPI</b> ({@code libmpi.so.40}, 4.x and 5.x): handles are pointers to structs, and every
 *       predefined handle is the address of an exported global ({@code MPI_COMM_WORLD} is
 *       {@code &ompi_mpi_comm_world}), found with the library's {@link SymbolLookup}.
 *   <li><b>MPICH</b> ({@code libmpich.so.12}; Intel MPI's {@code libmpi.so.12}, Cray MPICH and MVAPICH
 *       share it): handles are C {@code int}s with fixed values ({@code MPI_COMM_WORLD = 0x44000000}).
 * </ul>
 * The values are pinned against each family's {@code mpi.h} by {@code native/check_mpi_abi.c} and the
 * test that compiles it. The MPI 5.0 standard ABI ({@code libmpi_abi.so}) is a third table that is not
 * written yet: no implementation of it is installable here to check the values against.
 */
final class MpiAbi {
    /** Marker layout for a handle argument in the descriptors given to {@link #downcall}. */
    static final ValueLayout HANDLE = ADDRESS.withName("mpi-handle");

    /** Standard values, the same in every family. */
    static final int SUCCESS = 0;
    static final int THREAD_SINGLE = 0;
    static final int THREAD_FUNNELED = 1;
    static final int THREAD_SERIALIZED = 2;
    static final int THREAD_MULTIPLE = 3;

    enum Family { OPEN_MPI, MPICH }

    final Family family;
    /** "Open MPI ABI (pointer handles)" or "MPICH ABI (int handles)", for the start-up line. */
    final String description;
    final MemorySegment commWorld;
    final MemorySegment floatType;
    final MemorySegment doubleType;
    final MemorySegment opSum;
    final MemorySegment errorsReturn;
    final MemorySegment inPlace;
    /** {@code MPI_STATUSES_IGNORE} (NULL in Open MPI, 1 in MPICH). */
    final MemorySegment statusesIgnore;
    /** sizeof(MPI_Request): request arrays hold pointers (Open MPI) or ints (MPICH). */
    final int requestBytes;
    final int maxErrorString;
    final int maxLibraryVersionString;
    final int maxProcessorName;

    private MpiAbi(Family family, String description, MemorySegment commWorld, MemorySegment floatType,
            MemorySegment doubleType, MemorySegment opSum, MemorySegment errorsReturn, MemorySegment inPlace,
            MemorySegment statusesIgnore, int requestBytes, int maxErrorString, int maxLibraryVersionString,
            int maxProcessorName) {
        this.family = family;
        this.description = description;
        this.commWorld = commWorld;
        this.floatType = floatType;
        this.doubleType = doubleType;
        this.opSum = opSum;
        this.errorsReturn = errorsReturn;
        this.inPlace = inPlace;
        this.statusesIgnore = statusesIgnore;
        this.requestBytes = requestBytes;
        this.maxErrorString = maxErrorString;
        this.maxLibraryVersionString = maxLibraryVersionString;
        this.maxProcessorName = maxProcessorName;
    }

    /** The table for the library {@code lib}, recognised by its exported symbols. */
    static MpiAbi of(SymbolLookup lib, String libraryName) {
        if (lib.find("ompi_mpi_comm_world").isPresent()) return openMpi(lib, libraryName);
        if (lib.find("MPIR_Err_return_comm").isPresent()) return mpich();
        if (lib.find("MPI_Abi_get_version").isPresent() || libraryName.contains("libmpi_abi")) {
            throw new IllegalStateException(libraryName + " implements the MPI 5.0 standard ABI, which sam4j does not "
                    + "support yet: load the implementation's native library instead (--mpi-library libmpi.so.40 for "
                    + "Open MPI, libmpich.so.12 for MPICH)");
        }
        throw new IllegalStateException(libraryName + " is neither Open MPI (no symbol ompi_mpi_comm_world) nor "
                + "MPICH-family (no symbol MPIR_Err_return_comm): sam4j supports those two binary interfaces");
    }

    static MpiAbi openMpi(SymbolLookup lib, String libraryName) {
        // mpi.h: MPI_MAX_ERROR_STRING = OPAL_MAX_ERROR_STRING = 256, MPI_MAX_PROCESSOR_NAME = 256.
        return new MpiAbi(Family.OPEN_MPI, "Open MPI ABI (pointer handles)",
                symbol(lib, libraryName, "ompi_mpi_comm_world"), symbol(lib, libraryName, "ompi_mpi_float"),
                symbol(lib, libraryName, "ompi_mpi_double"), symbol(lib, libraryName, "ompi_mpi_op_sum"),
                symbol(lib, libraryName, "ompi_mpi_errors_return"), MemorySegment.ofAddress(1), MemorySegment.NULL,
                8, 256, 256, 256);
    }

    static MpiAbi mpich() {
        return new MpiAbi(Family.MPICH, "MPICH ABI (int handles)", MemorySegment.ofAddress(0x44000000),
                MemorySegment.ofAddress(0x4c00040a), MemorySegment.ofAddress(0x4c00080b),
                MemorySegment.ofAddress(0x58000003), MemorySegment.ofAddress(0x54000001),
                MemorySegment.ofAddress(-1L), MemorySegment.ofAddress(1), 4, 512, 8192, 128);
    }

    private static MemorySegment symbol(SymbolLookup lib, String libraryName, String name) {
        return lib.find(name).orElseThrow(() -> new IllegalStateException(
                libraryName + " has no symbol " + name + ": not an Open MPI 4.x/5.x library"));
    }

    /**
     * The values {@code native/check_mpi_abi.c} prints from the family's {@code mpi.h}, under the same
     * names (handles only where they are compile-time constants: MPICH).
     */
    Map<String, Long> pinnedConstants() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("SUCCESS", (long) SUCCESS);
        m.put("THREAD_FUNNELED", (long) THREAD_FUNNELED);
        m.put("THREAD_SERIALIZED", (long) THREAD_SERIALIZED);
        m.put("IN_PLACE", inPlace.address());
        m.put("STATUSES_IGNORE", statusesIgnore.address());
        m.put("SIZEOF_REQUEST", (long) requestBytes);
        m.put("SIZEOF_HANDLE", (long) handleBytes());
        m.put("MAX_ERROR_STRING", (long) maxErrorString);
        m.put("MAX_LIBRARY_VERSION_STRING", (long) maxLibraryVersionString);
        m.put("MAX_PROCESSOR_NAME", (long) maxProcessorName);
        if (family == Family.MPICH) {
            m.put("COMM_WORLD", commWorld.address());
            m.put("FLOAT", floatType.address());
            m.put("DOUBLE", doubleType.address());
            m.put("SUM", opSum.address());
            m.put("ERRORS_RETURN", errorsReturn.address());
        }
        return m;
    }

    private int handleBytes() {
        return family == Family.MPICH ? 4 : (int) ADDRESS.byteSize();
    }

    /**
     * A downcall to {@code name} whose Java type takes a {@link MemorySegment} for every {@link #HANDLE}
     * argument; for int handles the segment's address is passed as the C {@code int}.
     */
    MethodHandle downcall(SymbolLookup lib, String name, FunctionDescriptor fd) {
        MemorySegment addr = lib.find(name).orElseThrow(
                () -> new IllegalStateException("the MPI library has no function " + name));
        MemoryLayout[] args = fd.argumentLayouts().toArray(MemoryLayout[]::new);
        boolean intHandles = family == Family.MPICH;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals(HANDLE)) args[i] = intHandles ? JAVA_INT : ADDRESS;
        }
        FunctionDescriptor c = fd.returnLayout().map(r -> FunctionDescriptor.of(r, args))
                .orElseGet(() -> FunctionDescriptor.ofVoid(args));
        MethodHandle h = Linker.nativeLinker().downcallHandle(addr, c);
        if (!intHandles) return h;
        for (int i = 0; i < args.length; i++) {
            if (fd.argumentLayouts().get(i).equals(HANDLE)) h = MethodHandles.filterArguments(h, i, TO_INT);
        }
        return h;
    }

    private static final MethodHandle TO_INT;

    static {
        try {
            TO_INT = MethodHandles.lookup().findStatic(MpiAbi.class, "toInt",
                    MethodType.methodType(int.class, MemorySegment.class));
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private static int toInt(MemorySegment handle) {
        return (int) handle.address();
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
