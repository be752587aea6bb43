package io.sam4j.kernels;

/**
 * ASAM's element-wise operator T in the SAM family's fused passes: the identity, or
 * {@code T_i = |w_i| + eta} (eta = 0.01 in the official SamsungLabs form on weight tensors, eta = 0 in
 * davda54's form on every tensor).
 */
public record Scaling(boolean adaptive, float eta) {
    public static final Scaling IDENTITY = new Scaling(false, 0f);

    public Scaling {
        if (adaptive && !(eta >= 0 && Float.isFinite(eta))) throw new IllegalArgumentException("eta must be >= 0, got " + eta);
        if (!adaptive && eta != 0f) throw new IllegalArgumentException("the identity scaling has no eta");
    }

    /** T_i = |w_i| + eta. */
    public static Scaling absPlus(float eta) {
        return new Scaling(true, eta);
    }

    /** T_i for the weight w_i. */
    public float at(float w) {
        return adaptive ? Math.abs(w) + eta : 1f;
    }
}
