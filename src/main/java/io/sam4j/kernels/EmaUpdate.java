package io.sam4j.kernels;

/** What the SAM family's perturb pass does to F-SAM's EMA buffer m of first-pass gradients. */
public enum EmaUpdate {
    /** m untouched (no EMA: SAM, USAM, ASAM); m may be null. */
    KEEP,
    /** m = g: F-SAM's first step (no zero init). */
    SET,
    /** m = lambda*m + (1-lambda)*g, from the old m (after d was formed from it). */
    BLEND
}
