package io.sam4j.nn;

/** Where convolutions run: oneDNN through FFM, or the pure-Java (Vector API) fallback. */
public interface ConvBackend extends AutoCloseable {
    /** "onednn" or "java". */
    String name();

    /** One line for logs: the library, its version, threads. */
    default String summary() {
        return name();
    }

    /** A kernel for this shape; callers cache it per shape. */
    ConvKernel conv(ConvShape shape, boolean bias);

    @Override
    default void close() {}
}
