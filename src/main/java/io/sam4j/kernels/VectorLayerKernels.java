package io.sam4j.kernels;

import static io.sam4j.kernels.MathKernels.FOLD_BLOCK;
import static io.sam4j.kernels.VectorSupport.*;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector-API {@link LayerKernels}. The plain (NCHW) loops run at the width {@link VectorSupport#S} (see
 * {@link VectorWidth}); the blocked-lane loops always use 256-bit vectors, because one vector is one
 * nChw8c pixel of {@link LayerKernels#LANES} channels. Scalar tails go to {@link ScalarLayerKernels}.
 */
final class VectorLayerKernels implements LayerKernels {
    private static final ScalarLayerKernels TAIL = ScalarLayerKernels.INSTANCE;

    // ---- normalisation ----------------------------------------------------------------------

    @Override
    public double sum(MemorySegment x, long from, long to) {
        long ve = vEnd(from, to);
        double total = 0;
        for (long blk = from; blk < ve; blk += FOLD_BLOCK) {
            long end = blockEnd(blk, ve);
            FloatVector a0 = zero(), a1 = zero(), a2 = zero(), a3 = zero();
            long i = blk;
            for (; i <= end - 4 * L; i += 4 * L) {
                a0 = a0.add(load(x, i));
                a1 = a1.add(load(x, i + L));
                a2 = a2.add(load(x, i + 2 * L));
                a3 = a3.add(load(x, i + 3 * L));
            }
            for (; i < end; i += L) a0 = a0.add(load(x, i));
            total += laneSum(a0.add(a1).add(a2.add(a3)));
        }
        return total + TAIL.sum(x, ve, to);
    }

    @Override
    public double sumSquaredDeviation(MemorySegment x, float c, long from, long to) {
        long ve = vEnd(from, to);
        FloatVector vc = FloatVector.broadcast(S, c);
        double total = 0;
        for (long blk = from; blk < ve; blk += FOLD_BLOCK) {
            long end = blockEnd(blk, ve);
            FloatVector a0 = zero(), a1 = zero(), a2 = zero(), a3 = zero();
            long i = blk;
            for (; i <= end - 4 * L; i += 4 * L) {
                FloatVector d0 = load(x, i).sub(vc), d1 = load(x, i + L).sub(vc);
                FloatVector d2 = load(x, i + 2 * L).sub(vc), d3 = load(x, i + 3 * L).sub(vc);
                a0 = d0.fma(d0, a0);
                a1 = d1.fma(d1, a1);
                a2 = d2.fma(d2, a2);
                a3 = d3.fma(d3, a3);
            }
            for (; i < end; i += L) {
                FloatVector d0 = load(x, i).sub(vc);
                a0 = d0.fma(d0, a0);
            }
            total += laneSum(a0.add(a1).add(a2.add(a3)));
        }
        return total + TAIL.sumSquaredDeviation(x, c, ve, to);
    }

    @Override
    public double dotDeviation(MemorySegment y, MemorySegment x, float c, long from, long to) {
        long ve = vEnd(from, to);
        FloatVector vc = FloatVector.broadcast(S, c);
        double total = 0;
        for (long blk = from; blk < ve; blk += FOLD_BLOCK) {
            long end = blockEnd(blk, ve);
            FloatVector a0 = zero(), a1 = zero(), a2 = zero(), a3 = zero();
            long i = blk;
            for (; i <= end - 4 * L; i += 4 * L) {
                a0 = load(x, i).sub(vc).fma(load(y, i), a0);
                a1 = load(x, i + L).sub(vc).fma(load(y, i + L), a1);
                a2 = load(x, i + 2 * L).sub(vc).fma(load(y, i + 2 * L), a2);
                a3 = load(x, i + 3 * L).sub(vc).fma(load(y, i + 3 * L), a3);
            }
            for (; i < end; i += L) a0 = load(x, i).sub(vc).fma(load(y, i), a0);
            total += laneSum(a0.add(a1).add(a2.add(a3)));
        }
        return total + TAIL.dotDeviation(y, x, c, ve, to);
    }

    @Override
    public void affine(MemorySegment x, MemorySegment y, float a, float b, long from, long to) {
        long ve = vEnd(from, to);
        FloatVector va = FloatVector.broadcast(S, a), vb = FloatVector.broadcast(S, b);
        for (long i = from; i < ve; i += L) store(load(x, i).fma(va, vb), y, i);
        TAIL.affine(x, y, a, b, ve, to);
    }

    @Override
    public void affine2(MemorySegment dy, MemorySegment x, MemorySegment dx, float a, float b, float c, long from, long to) {
        long ve = vEnd(from, to);
        FloatVector va = FloatVector.broadcast(S, a), vb = FloatVector.broadcast(S, b), vc = FloatVector.broadcast(S, c);
        for (long i = from; i < ve; i += L) store(load(dy, i).fma(va, load(x, i).fma(vb, vc)), dx, i);
        TAIL.affine2(dy, x, dx, a, b, c, ve, to);
    }

    // ---- pooling ----------------------------------------------------------------------------

    /** Lane i takes lane 2i (EVEN) or 2i+1 (ODD) mod L: with a blend on HIGH, the halves of two vectors. */
    private static final VectorShuffle<Float> EVEN = VectorShuffle.fromOp(S, i -> (2 * i) % L);
    private static final VectorShuffle<Float> ODD = VectorShuffle.fromOp(S, i -> (2 * i + 1) % L);
    private static final VectorMask<Float> HIGH = VectorMask.fromLong(S, -1L << (L / 2));
    private static final FloatVector TWICE_IOTA = FloatVector.zero(S).addIndex(2);

    @Override
    public void maxPool2x2(MemorySegment x, long in, int h, int w, MemorySegment y, MemorySegment argmax, long out) {
        int outH = h / 2, outW = w / 2;
        if ((long) h * w > 1 << 24) { // indices travel as float lanes, exact below 2^24
            TAIL.maxPool2x2(x, in, h, w, y, argmax, out);
            return;
        }
        if (outW >= L) {
            for (int oh = 0; oh < outH; oh++) {
                int row = 2 * oh * w;
                long o = out + (long) oh * outW;
                for (int j = 0; j < outW; j += L) {
                    // The last vector ends at outW, overlapping the one before: those outputs are rewritten equal.
                    int j0 = Math.min(j, outW - L);
                    maxPool2x2Vector(x, in + row + 2 * j0, w, row + 2 * j0, y, argmax, o + j0);
                }
            }
            return;
        }
        // Rows narrower than a vector: each vector also writes the start of the rows after it, which are
        // rewritten next, in order. Rows whose vector would write past the plane's outputs, or read past
        // its input, are left to the scalar loop.
        int fit = Math.min(Math.floorDiv(outH * outW - L, outW), Math.floorDiv(h * w - w - 2 * L, 2 * w));
        int vRows = Math.max(0, Math.min(outH, fit + 1));
        for (int oh = 0; oh < vRows; oh++) {
            maxPool2x2Vector(x, in + 2L * oh * w, w, 2 * oh * w, y, argmax, out + (long) oh * outW);
        }
        ScalarLayerKernels.maxPool2x2Rows(x, in, w, y, argmax, out, vRows, outH);
    }

    /** L windows whose first top-left is x[t], plane index idx; the windows of a row pair are deinterleaved. */
    private static void maxPool2x2Vector(MemorySegment x, long t, int w, int idx, MemorySegment y,
                                         MemorySegment argmax, long o) {
        FloatVector t0 = load(x, t), t1 = load(x, t + L), b0 = load(x, t + w), b1 = load(x, t + w + L);
        FloatVector a = t0.rearrange(EVEN).blend(t1.rearrange(EVEN), HIGH);
        FloatVector b = t0.rearrange(ODD).blend(t1.rearrange(ODD), HIGH);
        FloatVector c = b0.rearrange(EVEN).blend(b1.rearrange(EVEN), HIGH);
        FloatVector d = b0.rearrange(ODD).blend(b1.rearrange(ODD), HIGH);
        FloatVector ia = TWICE_IOTA.add(idx);
        FloatVector max = a, best = ia;
        VectorMask<Float> m = b.compare(VectorOperators.GT, max).or(b.compare(VectorOperators.NE, b));
        max = max.blend(b, m);
        best = best.blend(ia.add(1), m);
        m = c.compare(VectorOperators.GT, max).or(c.compare(VectorOperators.NE, c));
        max = max.blend(c, m);
        best = best.blend(ia.add(w), m);
        m = d.compare(VectorOperators.GT, max).or(d.compare(VectorOperators.NE, d));
        max = max.blend(d, m);
        best = best.blend(ia.add(w + 1), m);
        store(max, y, o);
        best.convert(VectorOperators.F2I, 0).reinterpretAsInts().intoMemorySegment(argmax, o << 2, NATIVE);
    }

    // ---- blocked channels -----------------------------------------------------------------------
    // One 256-bit vector is one pixel of a channel block, whatever the preferred width: lane l is channel l.

    private static final VectorSpecies<Float> B = FloatVector.SPECIES_256;
    private static final VectorSpecies<Integer> BI = IntVector.SPECIES_256;

    private static FloatVector loadB(MemorySegment s, long i) {
        return FloatVector.fromMemorySegment(B, s, i << 2, NATIVE);
    }

    private static void storeB(FloatVector v, MemorySegment s, long i) {
        v.intoMemorySegment(s, i << 2, NATIVE);
    }

    /** acc[at + l] += lane l, lane by lane (no cross-lane sum: each lane is a channel). */
    private static void foldLanes(FloatVector v, double[] acc, int at) {
        for (int l = 0; l < LANES; l++) acc[at + l] += v.lane(l);
    }

    @Override
    public void sumLanes(MemorySegment x, long from, long to, double[] acc, int at) {
        ScalarLayerKernels.checkLanes(from, to);
        for (long blk = from; blk < to; blk += FOLD_BLOCK) { // FOLD_BLOCK is whole pixels
            long end = Math.min(to, blk + FOLD_BLOCK);
            FloatVector a0 = FloatVector.zero(B), a1 = a0, a2 = a0, a3 = a0;
            long i = blk;
            for (; i <= end - 4 * LANES; i += 4 * LANES) {
                a0 = a0.add(loadB(x, i));
                a1 = a1.add(loadB(x, i + LANES));
                a2 = a2.add(loadB(x, i + 2 * LANES));
                a3 = a3.add(loadB(x, i + 3 * LANES));
            }
            for (; i < end; i += LANES) a0 = a0.add(loadB(x, i));
            foldLanes(a0.add(a1).add(a2.add(a3)), acc, at);
        }
    }

    @Override
    public void sumSquaredDeviationLanes(MemorySegment x, float[] c, long from, long to, double[] acc, int at) {
        ScalarLayerKernels.checkLanes(from, to);
        FloatVector vc = FloatVector.fromArray(B, c, at);
        for (long blk = from; blk < to; blk += FOLD_BLOCK) {
            long end = Math.min(to, blk + FOLD_BLOCK);
            FloatVector a0 = FloatVector.zero(B), a1 = a0, a2 = a0, a3 = a0;
            long i = blk;
            for (; i <= end - 4 * LANES; i += 4 * LANES) {
                FloatVector d0 = loadB(x, i).sub(vc), d1 = loadB(x, i + LANES).sub(vc);
                FloatVector d2 = loadB(x, i + 2 * LANES).sub(vc), d3 = loadB(x, i + 3 * LANES).sub(vc);
                a0 = d0.fma(d0, a0);
                a1 = d1.fma(d1, a1);
                a2 = d2.fma(d2, a2);
                a3 = d3.fma(d3, a3);
            }
            for (; i < end; i += LANES) {
                FloatVector d0 = loadB(x, i).sub(vc);
                a0 = d0.fma(d0, a0);
            }
            foldLanes(a0.add(a1).add(a2.add(a3)), acc, at);
        }
    }

    @Override
    public void dotDeviationLanes(MemorySegment y, MemorySegment x, float[] c, long from, long to, double[] acc, int at) {
        ScalarLayerKernels.checkLanes(from, to);
        FloatVector vc = FloatVector.fromArray(B, c, at);
        for (long blk = from; blk < to; blk += FOLD_BLOCK) {
            long end = Math.min(to, blk + FOLD_BLOCK);
            FloatVector a0 = FloatVector.zero(B), a1 = a0, a2 = a0, a3 = a0;
            long i = blk;
            for (; i <= end - 4 * LANES; i += 4 * LANES) {
                a0 = loadB(x, i).sub(vc).fma(loadB(y, i), a0);
                a1 = loadB(x, i + LANES).sub(vc).fma(loadB(y, i + LANES), a1);
                a2 = loadB(x, i + 2 * LANES).sub(vc).fma(loadB(y, i + 2 * LANES), a2);
                a3 = loadB(x, i + 3 * LANES).sub(vc).fma(loadB(y, i + 3 * LANES), a3);
            }
            for (; i < end; i += LANES) a0 = loadB(x, i).sub(vc).fma(loadB(y, i), a0);
            foldLanes(a0.add(a1).add(a2.add(a3)), acc, at);
        }
    }

    @Override
    public void affineLanes(MemorySegment x, MemorySegment y, float[] a, float[] b, int at, long from, long to) {
        ScalarLayerKernels.checkLanes(from, to);
        FloatVector va = FloatVector.fromArray(B, a, at), vb = FloatVector.fromArray(B, b, at);
        for (long i = from; i < to; i += LANES) storeB(loadB(x, i).fma(va, vb), y, i);
    }

    @Override
    public void affine2Lanes(MemorySegment dy, MemorySegment x, MemorySegment dx, float[] a, float[] b, float[] c, int at,
                             long from, long to) {
        ScalarLayerKernels.checkLanes(from, to);
        FloatVector va = FloatVector.fromArray(B, a, at), vb = FloatVector.fromArray(B, b, at);
        FloatVector vc = FloatVector.fromArray(B, c, at);
        for (long i = from; i < to; i += LANES) storeB(loadB(dy, i).fma(va, loadB(x, i).fma(vb, vc)), dx, i);
    }

    @Override
    public void fillLanes(float[] v, int at, MemorySegment x, long from, long to) {
        ScalarLayerKernels.checkLanes(from, to);
        FloatVector vv = FloatVector.fromArray(B, v, at);
        for (long i = from; i < to; i += LANES) storeB(vv, x, i);
    }

    @Override
    public void maxPool2x2Lanes(MemorySegment x, long in, int h, int w, MemorySegment y, MemorySegment argmax, long out) {
        if ((long) h * w > 1 << 24) { // indices travel as float lanes, exact below 2^24
            TAIL.maxPool2x2Lanes(x, in, h, w, y, argmax, out);
            return;
        }
        int outH = h / 2, outW = w / 2;
        long row = (long) LANES * w;
        for (int oh = 0; oh < outH; oh++) {
            for (int ow = 0; ow < outW; ow++) {
                int p = 2 * oh * w + 2 * ow;
                long t = in + (long) LANES * p;
                FloatVector b = loadB(x, t + LANES), c = loadB(x, t + row), d = loadB(x, t + row + LANES);
                FloatVector max = loadB(x, t), best = FloatVector.broadcast(B, p);
                VectorMask<Float> m = b.compare(VectorOperators.GT, max).or(b.compare(VectorOperators.NE, b));
                max = max.blend(b, m);
                best = best.blend(p + 1, m);
                m = c.compare(VectorOperators.GT, max).or(c.compare(VectorOperators.NE, c));
                max = max.blend(c, m);
                best = best.blend(p + w, m);
                m = d.compare(VectorOperators.GT, max).or(d.compare(VectorOperators.NE, d));
                max = max.blend(d, m);
                best = best.blend(p + w + 1, m);
                long o = out + (long) LANES * (oh * outW + ow);
                storeB(max, y, o);
                best.convert(VectorOperators.F2I, 0).reinterpretAsInts().intoMemorySegment(argmax, o << 2, NATIVE);
            }
        }
    }

    @Override
    public void maxPool2x2LanesBackward(MemorySegment dy, MemorySegment argmax, long out, int h, int w, MemorySegment dx,
                                        long in) {
        int outH = h / 2, outW = w / 2;
        long row = (long) LANES * w;
        FloatVector z = FloatVector.zero(B);
        for (int oh = 0; oh < outH; oh++) {
            for (int ow = 0; ow < outW; ow++) {
                int p = 2 * oh * w + 2 * ow;
                long t = in + (long) LANES * p, o = out + (long) LANES * (oh * outW + ow);
                FloatVector g = loadB(dy, o);
                IntVector best = IntVector.fromMemorySegment(BI, argmax, o << 2, NATIVE);
                storeB(z.blend(g, best.compare(VectorOperators.EQ, p).cast(B)), dx, t);
                storeB(z.blend(g, best.compare(VectorOperators.EQ, p + 1).cast(B)), dx, t + LANES);
                storeB(z.blend(g, best.compare(VectorOperators.EQ, p + w).cast(B)), dx, t + row);
                storeB(z.blend(g, best.compare(VectorOperators.EQ, p + w + 1).cast(B)), dx, t + row + LANES);
            }
            if (w % 2 != 0) { // the last column is in no window
                long last = in + (long) LANES * (2 * oh * w + w - 1);
                storeB(z, dx, last);
                storeB(z, dx, last + row);
            }
        }
        if (h % 2 != 0) {
            for (long i = in + (long) LANES * (h - 1) * w; i < in + (long) LANES * h * w; i += LANES) storeB(z, dx, i);
        }
    }
}
