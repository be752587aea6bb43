package io.sam4j.kernels;

import static io.sam4j.kernels.MathKernels.FOLD_BLOCK;
import static io.sam4j.kernels.VectorSupport.*;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;

/**
 * Vector-API {@link OptimizerKernels} at the width {@link VectorSupport#S} (see {@link VectorWidth});
 * scalar tails go to {@link ScalarOptimizerKernels}. Flags are tested once per call: each common flag
 * combination is its own tight loop in its own method; rare ones (first step, emaMode 1) share a generic
 * loop (see {@link VectorSupport} for why one method per loop matters).
 */
final class VectorOptimizerKernels implements OptimizerKernels {
    private static final ScalarOptimizerKernels TAIL = ScalarOptimizerKernels.INSTANCE;
    private static final VectorMathKernels MATH = new VectorMathKernels();

    // ---- SAM-family fused passes -----------------------------------------------------------

    @Override
    public void directionStats(MemorySegment g, MemorySegment m, MemorySegment w, long from, long to,
                               boolean friendly, float sigma, float eta, double[] acc) {
        long ve = vEnd(from, to);
        boolean adaptive = !Float.isNaN(eta);
        if (!friendly && !adaptive) {
            double sg = MATH.sumSquares(g, from, ve); // d = g and T = 1
            acc[0] += sg;
            acc[1] += sg;
        } else if (!friendly) {
            double sg = tgSquares(g, w, from, ve, eta); // d = g
            acc[0] += sg;
            acc[1] += sg;
        } else if (!adaptive) {
            directionFriendly(g, m, from, ve, sigma, acc);
        } else {
            directionFriendlyAdaptive(g, m, w, from, ve, sigma, eta, acc);
        }
        TAIL.directionStats(g, m, w, ve, to, friendly, sigma, eta, acc);
    }

    /** Sum (T g)^2 with T = |w| + eta over whole vectors. */
    private static double tgSquares(MemorySegment g, MemorySegment w, long from, long ve, float eta) {
        double total = 0;
        for (long blk = from; blk < ve; blk += FOLD_BLOCK) {
            long end = blockEnd(blk, ve);
            FloatVector a0 = zero(), a1 = zero();
            long i = blk;
            for (; i <= end - 2 * L; i += 2 * L) {
                FloatVector t0 = load(w, i).abs().add(eta).mul(load(g, i));
                FloatVector t1 = load(w, i + L).abs().add(eta).mul(load(g, i + L));
                a0 = t0.fma(t0, a0);
                a1 = t1.fma(t1, a1);
            }
            for (; i < end; i += L) {
                FloatVector t0 = load(w, i).abs().add(eta).mul(load(g, i));
                a0 = t0.fma(t0, a0);
            }
            total += laneSum(a0.add(a1));
        }
        return total;
    }

    private static void directionFriendly(MemorySegment g, MemorySegment m, long from, long ve, float sigma,
                                          double[] acc) {
        FloatVector vNegSigma = FloatVector.broadcast(S, -sigma);
        double sg = 0, sd = 0;
        for (long blk = from; blk < ve; blk += FOLD_BLOCK) {
            long end = blockEnd(blk, ve);
            FloatVector ag = zero(), ad = zero();
            for (long i = blk; i < end; i += L) {
                FloatVector gv = load(g, i);
                FloatVector d = load(m, i).fma(vNegSigma, gv);
                ag = gv.fma(gv, ag);
                ad = d.fma(d, ad);
            }
            sg += laneSum(ag);
            sd += laneSum(ad);
        }
        acc[0] += sg;
        acc[1] += sd;
    }

    private static void directionFriendlyAdaptive(MemorySegment g, MemorySegment m, MemorySegment w, long from,
                                                  long ve, float sigma, float eta, double[] acc) {
        FloatVector vNegSigma = FloatVector.broadcast(S, -sigma);
        double sg = 0, sd = 0;
        for (long blk = from; blk < ve; blk += FOLD_BLOCK) {
            long end = blockEnd(blk, ve);
            FloatVector ag = zero(), ad = zero();
            for (long i = blk; i < end; i += L) {
                FloatVector gv = load(g, i);
                FloatVector t = load(w, i).abs().add(eta);
                FloatVector tg = t.mul(gv);
                FloatVector td = t.mul(load(m, i).fma(vNegSigma, gv));
                ag = tg.fma(tg, ag);
                ad = td.fma(td, ad);
            }
            sg += laneSum(ag);
            sd += laneSum(ad);
        }
        acc[0] += sg;
        acc[1] += sd;
    }

    @Override
    public void perturb(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment m, long from, long to,
                        float s, boolean friendly, float sigma, int emaMode, float lambda, float eta, double[] acc) {
        long ve = vEnd(from, to);
        boolean adaptive = !Float.isNaN(eta);
        if (!friendly && emaMode == 0) { // SAM / ASAM
            if (adaptive) perturbSamAdaptive(w, w0, g, from, ve, s, eta, acc);
            else perturbSam(w, w0, g, from, ve, s, acc);
        } else if (friendly && emaMode == 2) { // F-SAM after its first step
            if (adaptive) perturbFsamAdaptive(w, w0, g, m, from, ve, s, sigma, lambda, eta, acc);
            else perturbFsam(w, w0, g, m, from, ve, s, sigma, lambda, acc);
        } else {
            perturbGeneric(w, w0, g, m, from, ve, s, friendly, sigma, emaMode, lambda, eta, acc);
        }
        TAIL.perturb(w, w0, g, m, ve, to, s, friendly, sigma, emaMode, lambda, eta, acc);
    }

    private static void perturbSam(MemorySegment w, MemorySegment w0, MemorySegment g, long from, long ve,
                                   float s, double[] acc) {
        double ee = 0, eg = 0;
        for (long blk = from; blk < ve; blk += FOLD_BLOCK) {
            long end = blockEnd(blk, ve);
            FloatVector aee = zero(), aeg = zero();
            for (long i = blk; i < end; i += L) {
                FloatVector gv = load(g, i), wv = load(w, i);
                FloatVector e = gv.mul(s);
                store(wv, w0, i);
                store(wv.add(e), w, i);
                aee = e.fma(e, aee);
                aeg = e.fma(gv, aeg);
            }
            ee += laneSum(aee);
            eg += laneSum(aeg);
        }
        acc[0] += ee;
        acc[1] += eg;
    }

    private static void perturbSamAdaptive(MemorySegment w, MemorySegment w0, MemorySegment g, long from, long ve,
                                           float s, float eta, double[] acc) {
        double ee = 0, eg = 0;
        for (long blk = from; blk < ve; blk += FOLD_BLOCK) {
            long end = blockEnd(blk, ve);
            FloatVector aee = zero(), aeg = zero();
            for (long i = blk; i < end; i += L) {
                FloatVector gv = load(g, i), wv = load(w, i);
                FloatVector t = wv.abs().add(eta);
                FloatVector e = t.mul(t).mul(s).mul(gv);
                store(wv, w0, i);
                store(wv.add(e), w, i);
                aee = e.fma(e, aee);
                aeg = e.fma(gv, aeg);
            }
            ee += laneSum(aee);
            eg += laneSum(aeg);
        }
        acc[0] += ee;
        acc[1] += eg;
    }

    private static void perturbFsam(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment m,
                                    long from, long ve, float s, float sigma, float lambda, double[] acc) {
        FloatVector vNegSigma = FloatVector.broadcast(S, -sigma), vLambda = FloatVector.broadcast(S, lambda);
        float oneMinusLambda = 1f - lambda;
        double ee = 0, eg = 0;
        for (long blk = from; blk < ve; blk += FOLD_BLOCK) {
            long end = blockEnd(blk, ve);
            FloatVector aee = zero(), aeg = zero();
            for (long i = blk; i < end; i += L) {
                FloatVector gv = load(g, i), wv = load(w, i), mv = load(m, i);
                FloatVector e = mv.fma(vNegSigma, gv).mul(s); // d from the old m
                store(wv, w0, i);
                store(wv.add(e), w, i);
                store(mv.fma(vLambda, gv.mul(oneMinusLambda)), m, i);
                aee = e.fma(e, aee);
                aeg = e.fma(gv, aeg);
            }
            ee += laneSum(aee);
            eg += laneSum(aeg);
        }
        acc[0] += ee;
        acc[1] += eg;
    }

    private static void perturbFsamAdaptive(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment m,
                                            long from, long ve, float s, float sigma, float lambda, float eta,
                                            double[] acc) {
        FloatVector vNegSigma = FloatVector.broadcast(S, -sigma), vLambda = FloatVector.broadcast(S, lambda);
        float oneMinusLambda = 1f - lambda;
        double ee = 0, eg = 0;
        for (long blk = from; blk < ve; blk += FOLD_BLOCK) {
            long end = blockEnd(blk, ve);
            FloatVector aee = zero(), aeg = zero();
            for (long i = blk; i < end; i += L) {
                FloatVector gv = load(g, i), wv = load(w, i), mv = load(m, i);
                FloatVector t = wv.abs().add(eta);
                FloatVector e = t.mul(t).mul(s).mul(mv.fma(vNegSigma, gv));
                store(wv, w0, i);
                store(wv.add(e), w, i);
                store(mv.fma(vLambda, gv.mul(oneMinusLambda)), m, i);
                aee = e.fma(e, aee);
                aeg = e.fma(gv, aeg);
            }
            ee += laneSum(aee);
            eg += laneSum(aeg);
        }
        acc[0] += ee;
        acc[1] += eg;
    }

    /** Rare combinations (emaMode 1 on F-SAM's first step, EMA without friendly d, ...): flags in the loop. */
    private static void perturbGeneric(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment m,
                                       long from, long ve, float s, boolean friendly, float sigma, int emaMode,
                                       float lambda, float eta, double[] acc) {
        FloatVector vNegSigma = FloatVector.broadcast(S, -sigma), vLambda = FloatVector.broadcast(S, lambda);
        FloatVector vs = FloatVector.broadcast(S, s);
        float oneMinusLambda = 1f - lambda;
        boolean adaptive = !Float.isNaN(eta);
        boolean readM = friendly || emaMode == 2;
        double ee = 0, eg = 0;
        for (long blk = from; blk < ve; blk += FOLD_BLOCK) {
            long end = blockEnd(blk, ve);
            FloatVector aee = zero(), aeg = zero();
            for (long i = blk; i < end; i += L) {
                FloatVector gv = load(g, i), wv = load(w, i);
                FloatVector mv = readM ? load(m, i) : gv;
                FloatVector d = friendly ? mv.fma(vNegSigma, gv) : gv;
                FloatVector f = vs;
                if (adaptive) {
                    FloatVector t = wv.abs().add(eta);
                    f = t.mul(t).mul(s);
                }
                FloatVector e = f.mul(d);
                store(wv, w0, i);
                store(wv.add(e), w, i);
                if (emaMode == 1) store(gv, m, i);
                else if (emaMode == 2) store(mv.fma(vLambda, gv.mul(oneMinusLambda)), m, i);
                aee = e.fma(e, aee);
                aeg = e.fma(gv, aeg);
            }
            ee += laneSum(aee);
            eg += laneSum(aeg);
        }
        acc[0] += ee;
        acc[1] += eg;
    }

    @Override
    public void adversarialStats(MemorySegment w, MemorySegment w0, MemorySegment g, long from, long to,
                                 float eta, double[] acc) {
        long ve = vEnd(from, to);
        if (Float.isNaN(eta)) adversarialPlain(w, w0, g, from, ve, acc);
        else adversarialAdaptive(w, w0, g, from, ve, eta, acc);
        TAIL.adversarialStats(w, w0, g, ve, to, eta, acc);
    }

    private static void adversarialPlain(MemorySegment w, MemorySegment w0, MemorySegment g, long from, long ve,
                                         double[] acc) {
        double sgg = 0, seg = 0;
        for (long blk = from; blk < ve; blk += FOLD_BLOCK) {
            long end = blockEnd(blk, ve);
            FloatVector agg = zero(), aeg = zero();
            for (long i = blk; i < end; i += L) {
                FloatVector gv = load(g, i);
                agg = gv.fma(gv, agg);
                aeg = load(w, i).sub(load(w0, i)).fma(gv, aeg);
            }
            sgg += laneSum(agg);
            seg += laneSum(aeg);
        }
        acc[0] += sgg;
        acc[1] += sgg; // T g = g
        acc[2] += seg;
    }

    private static void adversarialAdaptive(MemorySegment w, MemorySegment w0, MemorySegment g, long from, long ve,
                                            float eta, double[] acc) {
        double sgg = 0, stg = 0, seg = 0;
        for (long blk = from; blk < ve; blk += FOLD_BLOCK) {
            long end = blockEnd(blk, ve);
            FloatVector agg = zero(), atg = zero(), aeg = zero();
            for (long i = blk; i < end; i += L) {
                FloatVector gv = load(g, i), wv = load(w, i);
                FloatVector tg = wv.abs().add(eta).mul(gv);
                agg = gv.fma(gv, agg);
                atg = tg.fma(tg, atg);
                aeg = wv.sub(load(w0, i)).fma(gv, aeg);
            }
            sgg += laneSum(agg);
            stg += laneSum(atg);
            seg += laneSum(aeg);
        }
        acc[0] += sgg;
        acc[1] += stg;
        acc[2] += seg;
    }

    @Override
    public void sgdStep(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment b, long from, long to,
                        float gScale, float lr, float wd, float mu, boolean nesterov, boolean first) {
        long ve = vEnd(from, to);
        MemorySegment src = w0 != null ? w0 : w; // restore = read the saved weights instead of w
        if (mu == 0f) sgdPlain(w, src, g, from, ve, gScale, lr, wd);
        else if (first) sgdFirst(w, src, g, b, from, ve, gScale, lr, wd, mu, nesterov);
        else if (nesterov) sgdNesterov(w, src, g, b, from, ve, gScale, lr, wd, mu);
        else sgdMomentum(w, src, g, b, from, ve, gScale, lr, wd, mu);
        TAIL.sgdStep(w, w0, g, b, ve, to, gScale, lr, wd, mu, nesterov, first);
    }

    private static void sgdPlain(MemorySegment w, MemorySegment src, MemorySegment g, long from, long ve,
                                 float gScale, float lr, float wd) {
        FloatVector vNegLr = FloatVector.broadcast(S, -lr), vWd = FloatVector.broadcast(S, wd);
        for (long i = from; i < ve; i += L) {
            FloatVector wv = load(src, i);
            FloatVector gg = wv.fma(vWd, load(g, i).mul(gScale));
            store(gg.fma(vNegLr, wv), w, i);
        }
    }

    private static void sgdFirst(MemorySegment w, MemorySegment src, MemorySegment g, MemorySegment b, long from,
                                 long ve, float gScale, float lr, float wd, float mu, boolean nesterov) {
        FloatVector vNegLr = FloatVector.broadcast(S, -lr), vWd = FloatVector.broadcast(S, wd);
        FloatVector vMu = FloatVector.broadcast(S, mu);
        for (long i = from; i < ve; i += L) {
            FloatVector wv = load(src, i);
            FloatVector gg = wv.fma(vWd, load(g, i).mul(gScale));
            store(gg, b, i);
            FloatVector step = nesterov ? gg.fma(vMu, gg) : gg;
            store(step.fma(vNegLr, wv), w, i);
        }
    }

    private static void sgdNesterov(MemorySegment w, MemorySegment src, MemorySegment g, MemorySegment b, long from,
                                    long ve, float gScale, float lr, float wd, float mu) {
        FloatVector vNegLr = FloatVector.broadcast(S, -lr), vWd = FloatVector.broadcast(S, wd);
        FloatVector vMu = FloatVector.broadcast(S, mu);
        for (long i = from; i < ve; i += L) {
            FloatVector wv = load(src, i);
            FloatVector gg = wv.fma(vWd, load(g, i).mul(gScale));
            FloatVector bv = load(b, i).fma(vMu, gg);
            store(bv, b, i);
            store(bv.fma(vMu, gg).fma(vNegLr, wv), w, i);
        }
    }

    private static void sgdMomentum(MemorySegment w, MemorySegment src, MemorySegment g, MemorySegment b, long from,
                                    long ve, float gScale, float lr, float wd, float mu) {
        FloatVector vNegLr = FloatVector.broadcast(S, -lr), vWd = FloatVector.broadcast(S, wd);
        FloatVector vMu = FloatVector.broadcast(S, mu);
        for (long i = from; i < ve; i += L) {
            FloatVector wv = load(src, i);
            FloatVector gg = wv.fma(vWd, load(g, i).mul(gScale));
            FloatVector bv = load(b, i).fma(vMu, gg);
            store(bv, b, i);
            store(bv.fma(vNegLr, wv), w, i);
        }
    }

    @Override
    public void adamwStep(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment m, MemorySegment v,
                          long from, long to, float gScale, float lr, float wd, float b1, float b2, float eps,
                          float bc1, float bc2) {
        long ve = vEnd(from, to);
        MemorySegment src = w0 != null ? w0 : w;
        // Same float constants as the scalar reference, so only FMA rounding differs.
        float decay = 1f - lr * wd;
        float nStep = -(lr / bc1);
        float sqrtBc2 = (float) Math.sqrt(bc2);
        float c1 = 1f - b1, c2 = 1f - b2;
        FloatVector vB1 = FloatVector.broadcast(S, b1), vB2 = FloatVector.broadcast(S, b2);
        FloatVector vNegStep = FloatVector.broadcast(S, nStep);
        for (long i = from; i < ve; i += L) {
            FloatVector wv = load(src, i).mul(decay);
            FloatVector gg = load(g, i).mul(gScale);
            FloatVector mv = load(m, i).fma(vB1, gg.mul(c1));
            FloatVector vv = load(v, i).fma(vB2, gg.mul(c2).mul(gg));
            store(mv, m, i);
            store(vv, v, i);
            FloatVector denom = vv.sqrt().div(sqrtBc2).add(eps);
            store(mv.div(denom).fma(vNegStep, wv), w, i);
        }
        TAIL.adamwStep(w, w0, g, m, v, ve, to, gScale, lr, wd, b1, b2, eps, bc1, bc2);
    }
}
