package io.sam4j.conv;

/** Where convolutions (and bf16 linear layers) run: oneDNN through FFM, or the pure-Java (Vector API) fallback. */
public interface ConvBackend extends AutoCloseable {
    /** "onednn" or "java". */
    String name();

    /** One line for logs: the library, its version, threads. */
    default String summary() {
        return name();
    }

    /** A convolution for this shape; callers cache it per shape. */
    Convolution conv(ConvShape shape, boolean bias);

    /**
     * The channel-block width (8 for nChw8c, 16 for nChw16c) in which models should keep their activations
     * ({@code nn.BlockedLayout}) to save this backend's reorders, or 0 to keep them NCHW.
     */
    default int blockedLanes() {
        return 0;
    }

    /** Like {@link #conv(ConvShape, boolean)}; with {@code lanes} 8 or 16, x, y, dx and dy are nChw8c / nChw16c. */
    default Convolution conv(ConvShape shape, boolean bias, int lanes) {
        if (lanes != 0) throw new UnsupportedOperationException(name() + " convolutions take plain NCHW activations only");
        return conv(shape, bias);
    }

    /**
     * Like {@link #conv(ConvShape, boolean, int)}, computing in {@code precision}; the caller's tensors are
     * fp32 either way. Throws {@link UnsupportedOperationException} where {@link #unsupported} says why not.
     */
    default Convolution conv(ConvShape shape, boolean bias, int lanes, Precision precision) {
        unsupported(precision).ifPresent(why -> {
            throw new UnsupportedOperationException(why);
        });
        return conv(shape, bias, lanes);
    }

    /**
     * Like {@link #conv(ConvShape, boolean, int, Precision)} with x and dx in the block width {@code inputLanes}
     * (0: NCHW) and y, dy in {@code lanes}: a model's first convolution reads its few-channel input plain rather
     * than padded to a whole block (a 1-channel image is 1/16 of its nChw16c copy). Backends that keep activations
     * plain take only equal widths.
     */
    default Convolution conv(ConvShape shape, boolean bias, int inputLanes, int lanes, Precision precision) {
        if (inputLanes != lanes) throw new UnsupportedOperationException(name() + " convolutions take x and y in one layout");
        return conv(shape, bias, lanes, precision);
    }

    /**
     * A linear-layer kernel for batch size {@code n} computing in {@code precision}, or empty where the layer should
     * use its own fp32 GEMM (the Java backend). Callers cache it per batch size.
     */
    default java.util.Optional<LinearKernel> linear(int n, int in, int out, Precision precision) {
        return java.util.Optional.empty();
    }

    /** Why this backend cannot compute in {@code precision} on this machine (one line); empty when it can. */
    default java.util.Optional<String> unsupported(Precision precision) {
        return precision == Precision.FP32 ? java.util.Optional.empty()
                : java.util.Optional.of(name() + " convolutions compute in fp32 only; bf16 needs the onednn backend");
    }

    @Override
    default void close() {}
}
