package io.sam4j.optim;

/**
 * How a two-pass step turns the adversarial gradient h (at w + e) into the descent direction d that
 * the base optimizer consumes.
 */
public sealed interface Descent {
    /** d = h: SAM and every variant before GSAM. */
    Descent ADVERSARIAL = new Adversarial();

    record Adversarial() implements Descent {}

    /**
     * GSAM (Zhuang et al., ICLR 2022): {@code d = h - alpha * g_perp}, with {@code g_perp} the part of the
     * raw first-pass gradient g orthogonal to h, formed with the epsilons of the author's PyTorch port:
     * {@code cos = <g,h>/(|g||h| + 1e-12)}, {@code g_perp = g - cos |g| h/(|h| + 1e-12)}. alpha = 0 is SAM.
     */
    record Gsam(float alpha) implements Descent {
        public Gsam {
            if (!(alpha >= 0 && Float.isFinite(alpha))) throw new IllegalArgumentException("gsam alpha must be >= 0, got " + alpha);
        }
    }
}
