package io.sam4j.conv;

/** Where convolutions run: oneDNN through FFM, or the pure-Java (Vector API) fallback. */
public interface ConvBackend extends AutoCloseable {
    /** "onednn" or "java". */
    String name();

    /** One line for logs: the library, its version, threads. */
    default String summary() {
        return name();
    }

    /** A convolution for this shape; callers cache it per shape. */
    Convolution conv(ConvShape shape, boolean bias);

    /** Whether models should keep their activations in nChw8c ({@code nn.BlockedLayout}), which saves this backend's reorders. */
    default boolean prefersBlocked() {
        return false;
    }

    /** Like {@link #conv(ConvShape, boolean)}; with {@code blocked}, x, y, dx and dy are nChw8c. */
    default Convolution conv(ConvShape shape, boolean bias, boolean blocked) {
        if (blocked) throw new UnsupportedOperationException(name() + " convolutions take plain NCHW activations only");
        return conv(shape, bias);
    }

    @Override
    default void close() {}
}
