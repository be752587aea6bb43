package io.sam4j.data;

/**
 * A data or weight file is missing, unreadable or malformed. The message is a single line that starts
 * with the offending file (or class-path resource) and, where it helps, the byte offset, so the CLI can
 * print it as-is without a stack trace.
 */
public class DataException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public DataException(String message) {
        super(message);
    }

    public DataException(String message, Throwable cause) {
        super(message, cause);
    }
}
