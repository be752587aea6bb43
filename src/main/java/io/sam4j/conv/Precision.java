package io.sam4j.conv;

import java.util.Locale;

/**
 * What convolutions and linear layers compute in. {@link #BF16} is mixed precision: activations and weights are
 * rounded to bfloat16 for the multiply (oneDNN's bf16 kernels, accumulating in fp32), while the caller's tensors,
 * the weights and gradients in the flat buffers, and everything outside those products stay fp32.
 */
public enum Precision {
    FP32,
    BF16;

    /** The flag value "fp32" or "bf16"; throws naming {@code flag} and the value otherwise. */
    public static Precision parse(String flag, String value) {
        return switch (value == null ? "" : value.toLowerCase(Locale.ROOT)) {
            case "fp32" -> FP32;
            case "bf16" -> BF16;
            default -> throw new IllegalArgumentException(flag + ": expected fp32 or bf16, got '" + value + "'");
        };
    }

    /** "fp32" or "bf16", as the flag takes it. */
    public String flagValue() {
        return name().toLowerCase(Locale.ROOT);
    }
}
