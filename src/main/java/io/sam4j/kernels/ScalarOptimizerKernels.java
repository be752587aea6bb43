package io.sam4j.kernels;

import static io.sam4j.kernels.ScalarSupport.get;
import static io.sam4j.kernels.ScalarSupport.set;

import java.lang.foreign.MemorySegment;

/**
 * The reference {@link OptimizerKernels}: plain loops, element-wise results in float exactly as the
 * formulas read, reductions accumulated in double directly. Buffers a call does not need may be null:
 * m in directionStats/perturb unless friendly (or emaMode 2), b in sgdStep when mu == 0, w in
 * directionStats when eta is NaN, w0 in sgdStep/adamwStep.
 */
public final class ScalarOptimizerKernels implements OptimizerKernels {
    public static final ScalarOptimizerKernels INSTANCE = new ScalarOptimizerKernels();

    private ScalarOptimizerKernels() {}

    /** ASAM's T_i: 1 when eta is NaN (identity), else |w_i| + eta. */
    private static float t(MemorySegment w, long i, float eta) {
        return Float.isNaN(eta) ? 1f : Math.abs(get(w, i)) + eta;
    }

    @Override
    public void directionStats(MemorySegment g, MemorySegment m, MemorySegment w, long from, long to,
                               boolean friendly, float sigma, float eta, double[] acc) {
        double sg = 0, sd = 0;
        for (long i = from; i < to; i++) {
            float gi = get(g, i);
            float d = friendly ? gi - sigma * get(m, i) : gi;
            float t = t(w, i, eta);
            double tg = t * gi, td = t * d;
            sg += tg * tg;
            sd += td * td;
        }
        acc[0] += sg;
        acc[1] += sd;
    }

    @Override
    public void perturb(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment m, long from, long to,
                        float s, boolean friendly, float sigma, int emaMode, float lambda, float eta, double[] acc) {
        double ee = 0, eg = 0;
        for (long i = from; i < to; i++) {
            float gi = get(g, i);
            float wi = get(w, i);
            float mi = friendly || emaMode == 2 ? get(m, i) : 0f;
            float d = friendly ? gi - sigma * mi : gi; // from the old m, before the EMA below
            float t = Float.isNaN(eta) ? 1f : Math.abs(wi) + eta;
            float e = s * (t * t) * d;
            set(w0, i, wi);
            set(w, i, wi + e);
            if (emaMode == 1) set(m, i, gi);
            else if (emaMode == 2) set(m, i, lambda * mi + (1f - lambda) * gi);
            ee += (double) e * e;
            eg += (double) e * gi;
        }
        acc[0] += ee;
        acc[1] += eg;
    }

    @Override
    public void adversarialStats(MemorySegment w, MemorySegment w0, MemorySegment g, long from, long to,
                                 float eta, double[] acc) {
        double gg = 0, tgtg = 0, eg = 0;
        for (long i = from; i < to; i++) {
            float gi = get(g, i);
            float wi = get(w, i);
            double tg = t(w, i, eta) * gi;
            gg += (double) gi * gi;
            tgtg += tg * tg;
            eg += (double) (wi - get(w0, i)) * gi;
        }
        acc[0] += gg;
        acc[1] += tgtg;
        acc[2] += eg;
    }

    @Override
    public void sgdStep(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment b, long from, long to,
                        float gScale, float lr, float wd, float mu, boolean nesterov, boolean first) {
        for (long i = from; i < to; i++) {
            float wi = w0 != null ? get(w0, i) : get(w, i); // restore first: decay uses the restored w
            float gg = gScale * get(g, i) + wd * wi;
            float step = gg;
            if (mu != 0f) {
                float bi = first ? gg : mu * get(b, i) + gg;
                set(b, i, bi);
                step = nesterov ? gg + mu * bi : bi;
            }
            set(w, i, wi - lr * step);
        }
    }

    @Override
    public void adamwStep(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment m, MemorySegment v,
                          long from, long to, float gScale, float lr, float wd, float b1, float b2, float eps,
                          float bc1, float bc2) {
        float decay = 1f - lr * wd;
        float stepSize = lr / bc1;
        float sqrtBc2 = (float) Math.sqrt(bc2);
        for (long i = from; i < to; i++) {
            float wi = (w0 != null ? get(w0, i) : get(w, i)) * decay;
            float gg = gScale * get(g, i);
            float mi = b1 * get(m, i) + (1f - b1) * gg;
            float vi = b2 * get(v, i) + (1f - b2) * gg * gg;
            set(m, i, mi);
            set(v, i, vi);
            float denom = (float) Math.sqrt(vi) / sqrtBc2 + eps;
            set(w, i, wi - stepSize * (mi / denom));
        }
    }
}
