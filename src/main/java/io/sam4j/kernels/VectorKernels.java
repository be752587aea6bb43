package io.sam4j.kernels;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector-API kernels. Loaded only reflectively by {@link KernelsProvider}, so the rest of sam4j loads
 * without {@code jdk.incubator.vector}. Each method runs whole vectors over [from, vEnd) and hands the
 * scalar tail [vEnd, to) to {@link ScalarKernels}, so tails are bit-identical to the reference.
 *
 * <p>Reductions keep float vector accumulators for one {@link Kernels#FOLD_BLOCK} at a time and then
 * add their lane sum into a double. Flags are tested once per call: each common flag combination is
 * its own tight loop in its own method; rare ones (first step, EMA SET) share a generic loop.
 *
 * <p>One method per loop matters for speed, not just tidiness: when several loops share a method,
 * C2 compiles the ones not yet run with cold, un-inlined vector calls (boxed vectors, ~10x slower)
 * and does not recompile when the flags change later. A method per loop is compiled from its own
 * profile once it gets hot.
 */
final class VectorKernels implements Kernels {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final ScalarKernels TAIL = ScalarKernels.INSTANCE;

    VectorKernels() {}

    @Override
    public String name() { return "vector"; }

    private static FloatVector load(MemorySegment s, long i) {
        return FloatVector.fromMemorySegment(S, s, i << 2, NATIVE);
    }

    private static void store(FloatVector v, MemorySegment s, long i) {
        v.intoMemorySegment(s, i << 2, NATIVE);
    }

    private static FloatVector zero() { return FloatVector.zero(S); }

    /**
     * Lane sum in double, in lane order. reduceLanes(ADD) leaves the float order to the implementation
     * (the interpreter and C2 differ), which would make sums depend on JIT state; this does not. Lanes
     * are read one by one (C2 unrolls the loop into extracts): a scratch array for intoArray escapes
     * and would be allocated per call, which counts when a layer calls a kernel per plane.
     */
    private static double sum(FloatVector v) {
        double s = 0;
        for (int i = 0; i < L; i++) s += v.lane(i);
        return s;
    }

    /** End of the whole-vector part of [from, to). */
    private static long vEnd(long from, long to) {
        return to > from ? from + S.loopBound(to - from) : from;
    }

    /** End of the fold block starting at blk. */
    private static long blockEnd(long blk, long vEnd) {
        return Math.min(vEnd, blk + FOLD_BLOCK);
    }

    // ---- basic BLAS-1 --------------------------------------------------------------------

    @Override
    public double sumSquares(MemorySegment x, long from, long to) {
        long ve = vEnd(from, to);
        double total = 0;
        for (long blk = from; blk < ve; blk += FOLD_BLOCK) {
            long end = blockEnd(blk, ve);
            // Four chains hide the FMA latency; one chain runs at ~1/4 of the load rate.
            FloatVector a0 = zero(), a1 = zero(), a2 = zero(), a3 = zero();
            long i = blk;
            for (; i <= end - 4 * L; i += 4 * L) {
                FloatVector x0 = load(x, i), x1 = load(x, i + L), x2 = load(x, i + 2 * L), x3 = load(x, i + 3 * L);
                a0 = x0.fma(x0, a0);
                a1 = x1.fma(x1, a1);
                a2 = x2.fma(x2, a2);
                a3 = x3.fma(x3, a3);
            }
            for (; i < end; i += L) {
                FloatVector x0 = load(x, i);
                a0 = x0.fma(x0, a0);
            }
            total += sum(a0.add(a1).add(a2.add(a3)));
        }
        return total + TAIL.sumSquares(x, ve, to);
    }

    @Override
    public double dot(MemorySegment x, MemorySegment y, long from, long to) {
        long ve = vEnd(from, to);
        double total = 0;
        for (long blk = from; blk < ve; blk += FOLD_BLOCK) {
            long end = blockEnd(blk, ve);
            FloatVector a0 = zero(), a1 = zero(), a2 = zero(), a3 = zero();
            long i = blk;
            for (; i <= end - 4 * L; i += 4 * L) {
                a0 = load(x, i).fma(load(y, i), a0);
                a1 = load(x, i + L).fma(load(y, i + L), a1);
                a2 = load(x, i + 2 * L).fma(load(y, i + 2 * L), a2);
                a3 = load(x, i + 3 * L).fma(load(y, i + 3 * L), a3);
            }
            for (; i < end; i += L) a0 = load(x, i).fma(load(y, i), a0);
            total += sum(a0.add(a1).add(a2.add(a3)));
        }
        return total + TAIL.dot(x, y, ve, to);
    }

    @Override
    public void axpy(float a, MemorySegment x, MemorySegment y, long from, long to) {
        long ve = vEnd(from, to);
        FloatVector va = FloatVector.broadcast(S, a);
        for (long i = from; i < ve; i += L) store(load(x, i).fma(va, load(y, i)), y, i);
        TAIL.axpy(a, x, y, ve, to);
    }

    @Override
    public void triad(MemorySegment b, float s, MemorySegment c, MemorySegment a, long from, long to) {
        long ve = vEnd(from, to);
        FloatVector vs = FloatVector.broadcast(S, s);
        for (long i = from; i < ve; i += L) store(load(c, i).fma(vs, load(b, i)), a, i);
        TAIL.triad(b, s, c, a, ve, to);
    }

    @Override
    public void scale(float a, MemorySegment x, long from, long to) {
        long ve = vEnd(from, to);
        for (long i = from; i < ve; i += L) store(load(x, i).mul(a), x, i);
        TAIL.scale(a, x, ve, to);
    }

    @Override
    public void copy(MemorySegment src, MemorySegment dst, long from, long to) {
        // The JDK's bulk copy is already vectorised (and memmove-safe).
        if (to > from) MemorySegment.copy(src, from << 2, dst, from << 2, (to - from) << 2);
    }

    @Override
    public void fill(float v, MemorySegment x, long from, long to) {
        long ve = vEnd(from, to);
        FloatVector vv = FloatVector.broadcast(S, v);
        for (long i = from; i < ve; i += L) store(vv, x, i);
        TAIL.fill(v, x, ve, to);
    }

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
            total += sum(a0.add(a1).add(a2.add(a3)));
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
            total += sum(a0.add(a1).add(a2.add(a3)));
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
            total += sum(a0.add(a1).add(a2.add(a3)));
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
        ScalarKernels.maxPool2x2Rows(x, in, w, y, argmax, out, vRows, outH);
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
        ScalarKernels.checkLanes(from, to);
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
        ScalarKernels.checkLanes(from, to);
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
        ScalarKernels.checkLanes(from, to);
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
        ScalarKernels.checkLanes(from, to);
        FloatVector va = FloatVector.fromArray(B, a, at), vb = FloatVector.fromArray(B, b, at);
        for (long i = from; i < to; i += LANES) storeB(loadB(x, i).fma(va, vb), y, i);
    }

    @Override
    public void affine2Lanes(MemorySegment dy, MemorySegment x, MemorySegment dx, float[] a, float[] b, float[] c, int at,
                             long from, long to) {
        ScalarKernels.checkLanes(from, to);
        FloatVector va = FloatVector.fromArray(B, a, at), vb = FloatVector.fromArray(B, b, at);
        FloatVector vc = FloatVector.fromArray(B, c, at);
        for (long i = from; i < to; i += LANES) storeB(loadB(dy, i).fma(va, loadB(x, i).fma(vb, vc)), dx, i);
    }

    @Override
    public void fillLanes(float[] v, int at, MemorySegment x, long from, long to) {
        ScalarKernels.checkLanes(from, to);
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

    @Override
    public void relu(MemorySegment x, MemorySegment y, long from, long to) {
        long ve = vEnd(from, to);
        FloatVector z = zero();
        for (long i = from; i < ve; i += L) store(load(x, i).max(z), y, i);
        TAIL.relu(x, y, ve, to);
    }

    @Override
    public void reluBackward(MemorySegment y, MemorySegment dy, MemorySegment dx, long from, long to) {
        long ve = vEnd(from, to);
        FloatVector z = zero();
        for (long i = from; i < ve; i += L) {
            FloatVector d = load(dy, i);
            store(d.blend(z, load(y, i).compare(VectorOperators.LE, z)), dx, i);
        }
        TAIL.reluBackward(y, dy, dx, ve, to);
    }

    // ---- SAM-family fused passes -----------------------------------------------------------

    @Override
    public void directionStats(MemorySegment g, MemorySegment m, MemorySegment w, long from, long to,
                               boolean friendly, float sigma, Scaling t, double[] acc) {
        long ve = vEnd(from, to);
        boolean adaptive = t.adaptive();
        float eta = t.eta();
        if (!friendly && !adaptive) {
            double sg = sumSquares(g, from, ve); // d = g and T = 1
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
        TAIL.directionStats(g, m, w, ve, to, friendly, sigma, t, acc);
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
            total += sum(a0.add(a1));
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
            sg += sum(ag);
            sd += sum(ad);
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
            sg += sum(ag);
            sd += sum(ad);
        }
        acc[0] += sg;
        acc[1] += sd;
    }

    @Override
    public void perturb(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment m, long from, long to,
                        float s, boolean friendly, float sigma, EmaUpdate ema, float lambda, Scaling t, double[] acc) {
        long ve = vEnd(from, to);
        boolean adaptive = t.adaptive();
        float eta = t.eta();
        if (!friendly && ema == EmaUpdate.KEEP) { // SAM / ASAM
            if (adaptive) perturbSamAdaptive(w, w0, g, from, ve, s, eta, acc);
            else perturbSam(w, w0, g, from, ve, s, acc);
        } else if (friendly && ema == EmaUpdate.BLEND) { // F-SAM after its first step
            if (adaptive) perturbFsamAdaptive(w, w0, g, m, from, ve, s, sigma, lambda, eta, acc);
            else perturbFsam(w, w0, g, m, from, ve, s, sigma, lambda, acc);
        } else {
            perturbGeneric(w, w0, g, m, from, ve, s, friendly, sigma, ema, lambda, t, acc);
        }
        TAIL.perturb(w, w0, g, m, ve, to, s, friendly, sigma, ema, lambda, t, acc);
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
            ee += sum(aee);
            eg += sum(aeg);
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
            ee += sum(aee);
            eg += sum(aeg);
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
            ee += sum(aee);
            eg += sum(aeg);
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
            ee += sum(aee);
            eg += sum(aeg);
        }
        acc[0] += ee;
        acc[1] += eg;
    }

    /** Rare combinations (EMA SET on F-SAM's first step, EMA without friendly d, ...): flags in the loop. */
    private static void perturbGeneric(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment m,
                                       long from, long ve, float s, boolean friendly, float sigma, EmaUpdate ema,
                                       float lambda, Scaling t, double[] acc) {
        FloatVector vNegSigma = FloatVector.broadcast(S, -sigma), vLambda = FloatVector.broadcast(S, lambda);
        FloatVector vs = FloatVector.broadcast(S, s);
        float oneMinusLambda = 1f - lambda;
        boolean adaptive = t.adaptive();
        float eta = t.eta();
        boolean readM = friendly || ema == EmaUpdate.BLEND;
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
                    FloatVector tv = wv.abs().add(eta);
                    f = tv.mul(tv).mul(s);
                }
                FloatVector e = f.mul(d);
                store(wv, w0, i);
                store(wv.add(e), w, i);
                if (ema == EmaUpdate.SET) store(gv, m, i);
                else if (ema == EmaUpdate.BLEND) store(mv.fma(vLambda, gv.mul(oneMinusLambda)), m, i);
                aee = e.fma(e, aee);
                aeg = e.fma(gv, aeg);
            }
            ee += sum(aee);
            eg += sum(aeg);
        }
        acc[0] += ee;
        acc[1] += eg;
    }

    @Override
    public void adversarialStats(MemorySegment w, MemorySegment w0, MemorySegment g, long from, long to,
                                 Scaling t, double[] acc) {
        long ve = vEnd(from, to);
        if (!t.adaptive()) adversarialPlain(w, w0, g, from, ve, acc);
        else adversarialAdaptive(w, w0, g, from, ve, t.eta(), acc);
        TAIL.adversarialStats(w, w0, g, ve, to, t, acc);
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
            sgg += sum(agg);
            seg += sum(aeg);
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
            sgg += sum(agg);
            stg += sum(atg);
            seg += sum(aeg);
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
