/* Prints every MPI ABI value that src/main/java/io/sam4j/dist/MpiAbi.java hard-codes, as "NAME VALUE"
 * lines named as in MpiAbi.pinnedConstants(), compiled against one MPI's mpi.h (MpiAbiTest does this for
 * Open MPI and MPICH when their headers are installed; native/README.md has the commands). Handles are
 * printed only where they are compile-time integers (MPICH family); Open MPI's are symbol addresses. */
#include <stdint.h>
#include <stdio.h>
#include <mpi.h>

#define P(java, c) printf("%s %lld\n", java, (long long) (c))

int main(void) {
#ifdef MPICH_VERSION
    printf("# MPICH %s\n", MPICH_VERSION);
#elif defined(OMPI_MAJOR_VERSION)
    printf("# Open MPI %d.%d.%d\n", OMPI_MAJOR_VERSION, OMPI_MINOR_VERSION, OMPI_RELEASE_VERSION);
#endif
    P("SUCCESS", MPI_SUCCESS);
    P("THREAD_FUNNELED", MPI_THREAD_FUNNELED);
    P("THREAD_SERIALIZED", MPI_THREAD_SERIALIZED);
    P("IN_PLACE", (intptr_t) MPI_IN_PLACE);
    P("STATUSES_IGNORE", (intptr_t) MPI_STATUSES_IGNORE);
    P("SIZEOF_REQUEST", sizeof(MPI_Request));
    P("SIZEOF_HANDLE", sizeof(MPI_Comm));
    P("MAX_ERROR_STRING", MPI_MAX_ERROR_STRING);
    P("MAX_LIBRARY_VERSION_STRING", MPI_MAX_LIBRARY_VERSION_STRING);
    P("MAX_PROCESSOR_NAME", MPI_MAX_PROCESSOR_NAME);
#ifdef MPICH_VERSION
    P("COMM_WORLD", MPI_COMM_WORLD);
    P("FLOAT", MPI_FLOAT);
    P("DOUBLE", MPI_DOUBLE);
    P("SUM", MPI_SUM);
    P("ERRORS_RETURN", MPI_ERRORS_RETURN);
#endif
    return 0;
}
