package io.sam4j.kernels;

/**
 * The vector width of the width-agnostic kernels (vector math, plain normalisation and pooling, optimizer
 * passes, GEMM), a choice rather than a constant, as Lucene's {@code tests.vectorsize}: system property
 * {@code sam4j.vectorBits} = 128, 256 or 512; unset (or empty) means the platform's preferred width. A
 * width wider than the hardware's is slower but correct, so the tests run every width on every machine.
 * The blocked-lane kernels are not affected: one 256-bit vector is one nChw8c channel block.
 *
 * <p>This class names no Vector-API type, so {@link KernelsProvider} can check the property before it
 * loads the vector kernels (a bad value is an error, never a silent fallback).
 */
final class VectorWidth {
    static final String PROPERTY = "sam4j.vectorBits";

    private VectorWidth() {}

    /** 128, 256 or 512 from the property; 0 when it is unset (the preferred width). */
    static int bits() {
        return parse(System.getProperty(PROPERTY, ""));
    }

    static int parse(String value) {
        String v = value.trim();
        return switch (v) {
            case "" -> 0;
            case "128", "256", "512" -> Integer.parseInt(v);
            default -> throw new IllegalArgumentException("-D" + PROPERTY + " must be 128, 256 or 512, got '" + value + "'");
        };
    }
}
