package io.sam4j.dnnl;

/** A oneDNN call returned a non-zero {@code dnnl_status_t}; the message names the function and the status. */
public final class DnnlException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String function;
    private final int status;

    DnnlException(String function, int status) {
        super(function + " failed: " + Dnnl.statusName(status) + " (" + status + ")");
        this.function = function;
        this.status = status;
    }

    /** The same failure with context (e.g. the convolution shape) in front. */
    DnnlException(String context, DnnlException cause) {
        super(context + ": " + cause.getMessage(), cause);
        this.function = cause.function;
        this.status = cause.status;
    }

    public String function() {
        return function;
    }

    public int status() {
        return status;
    }
}
