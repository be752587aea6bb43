package io.sam4j.distributed;

/** An MPI call returned an error code (MPI's error handler on MPI_COMM_WORLD is MPI_ERRORS_RETURN). */
public final class MpiException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String call;
    private final int rank;
    private final int errorCode;

    MpiException(String call, int rank, int errorCode, String errorText) {
        super(call + " failed on rank " + (rank < 0 ? "?" : Integer.toString(rank)) + " with MPI error "
                + errorCode + (errorText == null || errorText.isBlank() ? "" : " (" + errorText + ")"));
        this.call = call;
        this.rank = rank;
        this.errorCode = errorCode;
    }

    /** The MPI function, e.g. "MPI_Allreduce". */
    public String call() {
        return call;
    }

    /** The rank that saw the error, or -1 when it failed before the rank was known. */
    public int rank() {
        return rank;
    }

    /** The MPI error code (non-zero). */
    public int errorCode() {
        return errorCode;
    }
}
