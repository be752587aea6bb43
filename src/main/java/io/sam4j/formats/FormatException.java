package io.sam4j.formats;

/**
 * A weights, checkpoint or run file is missing, unreadable or malformed, or could not be written. The
 * message is a single line that starts with the offending file and, where it helps, the byte offset, so
 * the CLI prints it as-is. Distinct from {@code data.DataException} (a training-data file), so a caller
 * can tell a bad weights file from a bad data set.
 */
public class FormatException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public FormatException(String message) {
        super(message);
    }

    public FormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
