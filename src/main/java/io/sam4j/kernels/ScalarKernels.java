package io.sam4j.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.MemorySegment;

/**
 * Plain loops: the reference every fast kernel is tested against. Element-wise results are computed in
 * float exactly as the {@link Kernels} formulas read; reductions accumulate in double directly.
 * Buffers a call does not need may be null: m in directionStats/perturb unless friendly (or the EMA
 * is updated), b in sgdStep when mu == 0, w in directionStats when T is the identity, w0 in sgdStep/adamwStep.
 */
public final class ScalarKernels implements Kernels {
    public static final ScalarKernels INSTANCE = new ScalarKernels();

    @Override
    public String name() { return "scalar"; }

    private static float get(MemorySegment s, long i) { return s.getAtIndex(JAVA_FLOAT, i); }

    private static void set(MemorySegment s, long i, float v) { s.setAtIndex(JAVA_FLOAT, i, v); }

    /** ASAM's T_i (w is not read when T is the identity, so it may be null). */
    private static float t(MemorySegment w, long i, Scaling t) {
        return t.adaptive() ? t.at(get(w, i)) : 1f;
    }

    @Override
    public double sumSquares(MemorySegment x, long from, long to) {
        double s = 0;
        for (long i = from; i < to; i++) {
            double v = get(x, i);
            s += v * v;
        }
        return s;
    }

    @Override
    public double dot(MemorySegment x, MemorySegment y, long from, long to) {
        double s = 0;
        for (long i = from; i < to; i++) s += (double) get(x, i) * get(y, i);
        return s;
    }

    @Override
    public void axpy(float a, MemorySegment x, MemorySegment y, long from, long to) {
        for (long i = from; i < to; i++) set(y, i, get(y, i) + a * get(x, i));
    }

    @Override
    public void triad(MemorySegment b, float s, MemorySegment c, MemorySegment a, long from, long to) {
        for (long i = from; i < to; i++) set(a, i, get(b, i) + s * get(c, i));
    }

    @Override
    public void scale(float a, MemorySegment x, long from, long to) {
        for (long i = from; i < to; i++) set(x, i, get(x, i) * a);
    }

    @Override
    public void copy(MemorySegment src, MemorySegment dst, long from, long to) {
        for (long i = from; i < to; i++) set(dst, i, get(src, i));
    }

    @Override
    public void fill(float v, MemorySegment x, long from, long to) {
        for (long i = from; i < to; i++) set(x, i, v);
    }

    @Override
    public double sum(MemorySegment x, long from, long to) {
        double s = 0;
        for (long i = from; i < to; i++) s += get(x, i);
        return s;
    }

    @Override
    public double sumSquaredDeviation(MemorySegment x, float c, long from, long to) {
        double s = 0;
        for (long i = from; i < to; i++) {
            float d = get(x, i) - c;
            s += (double) d * d;
        }
        return s;
    }

    @Override
    public double dotDeviation(MemorySegment y, MemorySegment x, float c, long from, long to) {
        double s = 0;
        for (long i = from; i < to; i++) s += (double) get(y, i) * (get(x, i) - c);
        return s;
    }

    @Override
    public void affine(MemorySegment x, MemorySegment y, float a, float b, long from, long to) {
        for (long i = from; i < to; i++) set(y, i, a * get(x, i) + b);
    }

    @Override
    public void affine2(MemorySegment dy, MemorySegment x, MemorySegment dx, float a, float b, float c, long from, long to) {
        for (long i = from; i < to; i++) set(dx, i, a * get(dy, i) + b * get(x, i) + c);
    }

    @Override
    public void maxPool2x2(MemorySegment x, long in, int h, int w, MemorySegment y, MemorySegment argmax, long out) {
        maxPool2x2Rows(x, in, w, y, argmax, out, 0, h / 2);
    }

    /** Output rows [fromRow, toRow) of {@link #maxPool2x2}. */
    static void maxPool2x2Rows(MemorySegment x, long in, int w, MemorySegment y, MemorySegment argmax, long out,
                               int fromRow, int toRow) {
        int outW = w / 2;
        for (int oh = fromRow; oh < toRow; oh++) {
            long o = out + (long) oh * outW;
            for (int ow = 0; ow < outW; ow++) {
                int best = 2 * oh * w + 2 * ow; // top left: a, b on this row, c, d on the next
                long t = in + best;
                float max = get(x, t);
                float b = get(x, t + 1), c = get(x, t + w), d = get(x, t + w + 1);
                int k = 0;
                if (b > max || b != b) {
                    max = b;
                    k = 1;
                }
                if (c > max || c != c) {
                    max = c;
                    k = w;
                }
                if (d > max || d != d) {
                    max = d;
                    k = w + 1;
                }
                set(y, o + ow, max);
                argmax.setAtIndex(JAVA_INT, o + ow, best + k);
            }
        }
    }

    /** Rejects a range that is not whole pixels of a channel block. */
    static void checkLanes(long from, long to) {
        if ((to - from) % LANES != 0 || to < from) {
            throw new IllegalArgumentException("[" + from + ", " + to + ") is not a whole number of " + LANES + "-lane pixels");
        }
    }

    @Override
    public void sumLanes(MemorySegment x, long from, long to, double[] acc, int at) {
        checkLanes(from, to);
        for (int l = 0; l < LANES; l++) {
            double s = 0;
            for (long i = from + l; i < to; i += LANES) s += get(x, i);
            acc[at + l] += s;
        }
    }

    @Override
    public void sumSquaredDeviationLanes(MemorySegment x, float[] c, long from, long to, double[] acc, int at) {
        checkLanes(from, to);
        for (int l = 0; l < LANES; l++) {
            double s = 0;
            for (long i = from + l; i < to; i += LANES) {
                float d = get(x, i) - c[at + l];
                s += (double) d * d;
            }
            acc[at + l] += s;
        }
    }

    @Override
    public void dotDeviationLanes(MemorySegment y, MemorySegment x, float[] c, long from, long to, double[] acc, int at) {
        checkLanes(from, to);
        for (int l = 0; l < LANES; l++) {
            double s = 0;
            for (long i = from + l; i < to; i += LANES) s += (double) get(y, i) * (get(x, i) - c[at + l]);
            acc[at + l] += s;
        }
    }

    @Override
    public void affineLanes(MemorySegment x, MemorySegment y, float[] a, float[] b, int at, long from, long to) {
        checkLanes(from, to);
        for (long i = from; i < to; i += LANES) {
            for (int l = 0; l < LANES; l++) set(y, i + l, a[at + l] * get(x, i + l) + b[at + l]);
        }
    }

    @Override
    public void affine2Lanes(MemorySegment dy, MemorySegment x, MemorySegment dx, float[] a, float[] b, float[] c, int at,
                             long from, long to) {
        checkLanes(from, to);
        for (long i = from; i < to; i += LANES) {
            for (int l = 0; l < LANES; l++) {
                set(dx, i + l, a[at + l] * get(dy, i + l) + b[at + l] * get(x, i + l) + c[at + l]);
            }
        }
    }

    @Override
    public void fillLanes(float[] v, int at, MemorySegment x, long from, long to) {
        checkLanes(from, to);
        for (long i = from; i < to; i += LANES) {
            for (int l = 0; l < LANES; l++) set(x, i + l, v[at + l]);
        }
    }

    @Override
    public void maxPool2x2Lanes(MemorySegment x, long in, int h, int w, MemorySegment y, MemorySegment argmax, long out) {
        int outH = h / 2, outW = w / 2;
        for (int oh = 0; oh < outH; oh++) {
            for (int ow = 0; ow < outW; ow++) {
                int p = 2 * oh * w + 2 * ow; // pixels p, p + 1 on this row, p + w, p + w + 1 on the next
                long t = in + (long) LANES * p, o = out + (long) LANES * (oh * outW + ow);
                for (int l = 0; l < LANES; l++) {
                    float max = get(x, t + l);
                    float b = get(x, t + LANES + l), c = get(x, t + (long) LANES * w + l);
                    float d = get(x, t + (long) LANES * (w + 1) + l);
                    int best = p;
                    if (b > max || b != b) {
                        max = b;
                        best = p + 1;
                    }
                    if (c > max || c != c) {
                        max = c;
                        best = p + w;
                    }
                    if (d > max || d != d) {
                        max = d;
                        best = p + w + 1;
                    }
                    set(y, o + l, max);
                    argmax.setAtIndex(JAVA_INT, o + l, best);
                }
            }
        }
    }

    @Override
    public void maxPool2x2LanesBackward(MemorySegment dy, MemorySegment argmax, long out, int h, int w, MemorySegment dx,
                                        long in) {
        int outH = h / 2, outW = w / 2;
        for (int oh = 0; oh < outH; oh++) {
            for (int ow = 0; ow < outW; ow++) {
                int p = 2 * oh * w + 2 * ow;
                long o = out + (long) LANES * (oh * outW + ow);
                for (int l = 0; l < LANES; l++) {
                    int best = argmax.getAtIndex(JAVA_INT, o + l);
                    float g = get(dy, o + l);
                    long t = in + (long) LANES * p + l, u = t + (long) LANES * w;
                    set(dx, t, best == p ? g : 0f);
                    set(dx, t + LANES, best == p + 1 ? g : 0f);
                    set(dx, u, best == p + w ? g : 0f);
                    set(dx, u + LANES, best == p + w + 1 ? g : 0f);
                }
            }
            if (w % 2 != 0) { // the last column is in no window
                fill(0f, dx, in + (long) LANES * (2 * oh * w + w - 1), in + (long) LANES * (2 * oh * w + w));
                fill(0f, dx, in + (long) LANES * (2 * oh * w + 2 * w - 1), in + (long) LANES * (2 * oh * w + 2 * w));
            }
        }
        if (h % 2 != 0) fill(0f, dx, in + (long) LANES * (h - 1) * w, in + (long) LANES * h * w);
    }

    @Override
    public void relu(MemorySegment x, MemorySegment y, long from, long to) {
        for (long i = from; i < to; i++) set(y, i, Math.max(get(x, i), 0f));
    }

    @Override
    public void reluBackward(MemorySegment y, MemorySegment dy, MemorySegment dx, long from, long to) {
        for (long i = from; i < to; i++) set(dx, i, get(y, i) > 0f ? get(dy, i) : 0f);
    }

    @Override
    public void directionStats(MemorySegment g, MemorySegment m, MemorySegment w, long from, long to,
                               boolean friendly, float sigma, Scaling t, double[] acc) {
        double sg = 0, sd = 0;
        for (long i = from; i < to; i++) {
            float gi = get(g, i);
            float d = friendly ? gi - sigma * get(m, i) : gi;
            float ti = t(w, i, t);
            double tg = ti * gi, td = ti * d;
            sg += tg * tg;
            sd += td * td;
        }
        acc[0] += sg;
        acc[1] += sd;
    }

    @Override
    public void perturb(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment m, long from, long to,
                        float s, boolean friendly, float sigma, EmaUpdate ema, float lambda, Scaling t, double[] acc) {
        double ee = 0, eg = 0;
        for (long i = from; i < to; i++) {
            float gi = get(g, i);
            float wi = get(w, i);
            float mi = friendly || ema == EmaUpdate.BLEND ? get(m, i) : 0f;
            float d = friendly ? gi - sigma * mi : gi; // from the old m, before the EMA below
            float ti = t.at(wi);
            float e = s * (ti * ti) * d;
            set(w0, i, wi);
            set(w, i, wi + e);
            if (ema == EmaUpdate.SET) set(m, i, gi);
            else if (ema == EmaUpdate.BLEND) set(m, i, lambda * mi + (1f - lambda) * gi);
            ee += (double) e * e;
            eg += (double) e * gi;
        }
        acc[0] += ee;
        acc[1] += eg;
    }

    @Override
    public void adversarialStats(MemorySegment w, MemorySegment w0, MemorySegment g, long from, long to,
                                 Scaling t, double[] acc) {
        double gg = 0, tgtg = 0, eg = 0;
        for (long i = from; i < to; i++) {
            float gi = get(g, i);
            float wi = get(w, i);
            double tg = t.at(wi) * gi;
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
