package io.sam4j.train;

/** Learning rate per optimizer step. */
public enum Schedule {
    /** lr * (1 + cos(pi * t / T)) / 2 at step t of T, stepped per iteration down to 0 (as F-SAM). */
    COSINE,
    CONSTANT;

    public float lr(float base, long step, long total) {
        if (this == CONSTANT || total <= 0) return base;
        return (float) (base * 0.5 * (1 + Math.cos(Math.PI * Math.min(step, total) / total)));
    }
}
