package io.sam4j.dnnl;

/**
 * oneDNN cannot be loaded. The message is one line naming every path tried and why each failed, meant to
 * be printed as is before falling back to the Java convolutions.
 */
public final class DnnlUnavailableException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    DnnlUnavailableException(String message) {
        super(message);
    }

    DnnlUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
