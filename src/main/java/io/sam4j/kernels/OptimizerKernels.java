package io.sam4j.kernels;

import java.lang.foreign.MemorySegment;

/**
 * The fused passes of the optimizers over the flat parameter buffers: every buffer shares the parameter
 * store's layout, so one range {@code [from, to)} (in floats) addresses the same parameters in all of
 * them. Same conventions as {@link MathKernels}; reductions add into {@code acc}. {@link ScalarOptimizerKernels}
 * is the reference.
 */
public interface OptimizerKernels {
    // ---- SAM-family fused passes -----------------------------------------------------------
    // T is ASAM's element-wise scaling: identity when eta is NaN, otherwise T_i = |w_i| + eta
    // (eta = 0.01 for the official SamsungLabs form on weight tensors, eta = 0 for the davda54 form).

    /**
     * Read-only pass before the ascent. d = friendly ? g - sigma*m : g.
     * acc[0] += sum (T g)^2,  acc[1] += sum (T d)^2.
     */
    void directionStats(MemorySegment g, MemorySegment m, MemorySegment w, long from, long to,
                        boolean friendly, float sigma, float eta, double[] acc);

    /**
     * Save and perturb. d = friendly ? g - sigma*m : g;  e = s * T^2 d;  w0 = w;  w = w + e.
     * EMA (F-SAM): emaMode 0 leaves m alone, 1 sets m = g, 2 sets m = lambda*m + (1-lambda)*g
     * (computed from the OLD m, after d was formed).
     * acc[0] += sum e^2,  acc[1] += sum e*g.
     */
    void perturb(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment m, long from, long to,
                 float s, boolean friendly, float sigma, int emaMode, float lambda, float eta, double[] acc);

    /**
     * Read-only pass over the adversarial gradient at w (= w0 + e).
     * acc[0] += sum g^2,  acc[1] += sum (T g)^2 (T from the current, perturbed w),
     * acc[2] += sum (w - w0)*g.
     */
    void adversarialStats(MemorySegment w, MemorySegment w0, MemorySegment g, long from, long to,
                          float eta, double[] acc);

    /**
     * Restore (w = w0 when w0 != null), then one PyTorch SGD step on gg = gScale*g + wd*w:
     * b = first ? gg : mu*b + gg (skipped when mu == 0, then step = gg);
     * step = nesterov ? gg + mu*b : b;  w = w - lr*step.
     */
    void sgdStep(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment b, long from, long to,
                 float gScale, float lr, float wd, float mu, boolean nesterov, boolean first);

    /**
     * Restore (w = w0 when w0 != null), then one PyTorch AdamW step on gg = gScale*g:
     * w *= 1 - lr*wd;  m = b1*m + (1-b1)*gg;  v = b2*v + (1-b2)*gg^2;
     * w -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps)   with bc1 = 1-b1^t, bc2 = 1-b2^t given.
     */
    void adamwStep(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment m, MemorySegment v,
                   long from, long to, float gScale, float lr, float wd, float b1, float b2, float eps,
                   float bc1, float bc2);
}
