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
 * {@link VectorWidth}); the blocked-lane loops use 256-bit vectors of 8 channels: one nChw8c pixel, or half an
 * nChw16c pixel (except the nChw16c max-pool forward at width 512: a pixel per vector). Scalar tails go to
 * {@link ScalarLayerKernels}.
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

    // ---- BatchNorm + ReLU fused: the gate z = fma(x, a, b) > 0 is affine's z, bit for bit --------------

    /**
     * dy where the gate x*a + b (one rounding, as {@link #affine}) is open, else 0; vectors of species S only.
     * The lane loops have their own copy ({@code gatedB}): a helper fed vectors of two species sees two classes
     * and C2 then boxes every vector in it (~100x slower, allocating).
     */
    private static FloatVector gated(FloatVector dy, FloatVector x, FloatVector a, FloatVector b, FloatVector zero) {
        return zero.blend(dy, x.fma(a, b).compare(VectorOperators.GT, zero));
    }

    @Override
    public void affineRelu(MemorySegment x, MemorySegment y, float a, float b, long from, long to) {
        long ve = vEnd(from, to);
        FloatVector va = FloatVector.broadcast(S, a), vb = FloatVector.broadcast(S, b), z = zero();
        for (long i = from; i < ve; i += L) store(load(x, i).fma(va, vb).max(z), y, i);
        TAIL.affineRelu(x, y, a, b, ve, to);
    }

    @Override
    public double sumRelu(MemorySegment dy, MemorySegment x, float a, float b, long from, long to) {
        long ve = vEnd(from, to);
        FloatVector va = FloatVector.broadcast(S, a), vb = FloatVector.broadcast(S, b), z = zero();
        double total = 0;
        for (long blk = from; blk < ve; blk += FOLD_BLOCK) { // sum's loop over the gated dy
            long end = blockEnd(blk, ve);
            FloatVector a0 = zero(), a1 = zero(), a2 = zero(), a3 = zero();
            long i = blk;
            for (; i <= end - 4 * L; i += 4 * L) {
                a0 = a0.add(gated(load(dy, i), load(x, i), va, vb, z));
                a1 = a1.add(gated(load(dy, i + L), load(x, i + L), va, vb, z));
                a2 = a2.add(gated(load(dy, i + 2 * L), load(x, i + 2 * L), va, vb, z));
                a3 = a3.add(gated(load(dy, i + 3 * L), load(x, i + 3 * L), va, vb, z));
            }
            for (; i < end; i += L) a0 = a0.add(gated(load(dy, i), load(x, i), va, vb, z));
            total += laneSum(a0.add(a1).add(a2.add(a3)));
        }
        return total + TAIL.sumRelu(dy, x, a, b, ve, to);
    }

    @Override
    public double dotDeviationRelu(MemorySegment dy, MemorySegment x, float c, float a, float b, long from, long to) {
        long ve = vEnd(from, to);
        FloatVector vc = FloatVector.broadcast(S, c), va = FloatVector.broadcast(S, a), vb = FloatVector.broadcast(S, b), z = zero();
        double total = 0;
        for (long blk = from; blk < ve; blk += FOLD_BLOCK) { // dotDeviation's loop over the gated dy
            long end = blockEnd(blk, ve);
            FloatVector a0 = zero(), a1 = zero(), a2 = zero(), a3 = zero();
            long i = blk;
            for (; i <= end - 4 * L; i += 4 * L) {
                FloatVector x0 = load(x, i), x1 = load(x, i + L), x2 = load(x, i + 2 * L), x3 = load(x, i + 3 * L);
                a0 = x0.sub(vc).fma(gated(load(dy, i), x0, va, vb, z), a0);
                a1 = x1.sub(vc).fma(gated(load(dy, i + L), x1, va, vb, z), a1);
                a2 = x2.sub(vc).fma(gated(load(dy, i + 2 * L), x2, va, vb, z), a2);
                a3 = x3.sub(vc).fma(gated(load(dy, i + 3 * L), x3, va, vb, z), a3);
            }
            for (; i < end; i += L) {
                FloatVector x0 = load(x, i);
                a0 = x0.sub(vc).fma(gated(load(dy, i), x0, va, vb, z), a0);
            }
            total += laneSum(a0.add(a1).add(a2.add(a3)));
        }
        return total + TAIL.dotDeviationRelu(dy, x, c, a, b, ve, to);
    }

    @Override
    public void affine2Relu(MemorySegment dy, MemorySegment x, MemorySegment dx, float p, float q, float r, float a, float b,
                            long from, long to) {
        long ve = vEnd(from, to);
        FloatVector vp = FloatVector.broadcast(S, p), vq = FloatVector.broadcast(S, q), vr = FloatVector.broadcast(S, r);
        FloatVector va = FloatVector.broadcast(S, a), vb = FloatVector.broadcast(S, b), z = zero();
        for (long i = from; i < ve; i += L) {
            FloatVector x0 = load(x, i);
            store(gated(load(dy, i), x0, va, vb, z).fma(vp, x0.fma(vq, vr)), dx, i);
        }
        TAIL.affine2Relu(dy, x, dx, p, q, r, a, b, ve, to);
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
    // 256-bit vectors of 8 channels whatever the preferred width: a pixel is one vector at block width 8, two
    // at 16. Loops step 16 floats with two per-lane operand vectors, at[0..8) and at[h..h+8) where h = 8 at
    // width 16 and 0 at width 8 (then both are the same vector), so one loop serves both widths.

    private static final VectorSpecies<Float> B = FloatVector.SPECIES_256;
    private static final VectorSpecies<Integer> BI = IntVector.SPECIES_256;
    private static final int V = 8; // floats per 256-bit vector

    private static FloatVector loadB(MemorySegment s, long i) {
        return FloatVector.fromMemorySegment(B, s, i << 2, NATIVE);
    }

    private static void storeB(FloatVector v, MemorySegment s, long i) {
        v.intoMemorySegment(s, i << 2, NATIVE);
    }

    /** Offset of the second half of a 16-channel block's per-lane operands; 0 at width 8 (same half). */
    private static int half(int lanes) {
        return lanes - V;
    }

    /** acc[at + l] += lane l, lane by lane (no cross-lane sum: each lane is a channel). */
    private static void foldLanes(FloatVector v, double[] acc, int at) {
        for (int l = 0; l < V; l++) acc[at + l] += v.lane(l);
    }

    @Override
    public void sumLanes(int lanes, MemorySegment x, long from, long to, double[] acc, int at) {
        LayerKernels.checkLanes(lanes, from, to);
        for (long blk = from; blk < to; blk += FOLD_BLOCK) { // FOLD_BLOCK is whole pixels
            long end = Math.min(to, blk + FOLD_BLOCK);
            FloatVector a0 = FloatVector.zero(B), a1 = a0, a2 = a0, a3 = a0;
            long i = blk;
            for (; i <= end - 4 * V; i += 4 * V) {
                a0 = a0.add(loadB(x, i));
                a1 = a1.add(loadB(x, i + V));
                a2 = a2.add(loadB(x, i + 2 * V));
                a3 = a3.add(loadB(x, i + 3 * V));
            }
            for (; i < end; i += V) { // at most three vectors, the first at an even vector offset
                if (((i - blk) / V & 1) == 0) a0 = a0.add(loadB(x, i));
                else a1 = a1.add(loadB(x, i));
            }
            foldPair(a0.add(a2), a1.add(a3), lanes, acc, at);
        }
    }

    /** Folds the even-vector sums into lanes [at, at+8) and the odd ones into the block's second half. */
    private static void foldPair(FloatVector even, FloatVector odd, int lanes, double[] acc, int at) {
        if (lanes == V) {
            foldLanes(even.add(odd), acc, at);
        } else {
            foldLanes(even, acc, at);
            foldLanes(odd, acc, at + V);
        }
    }

    @Override
    public void sumSquaredDeviationLanes(int lanes, MemorySegment x, float[] c, long from, long to, double[] acc, int at) {
        LayerKernels.checkLanes(lanes, from, to);
        FloatVector c0 = FloatVector.fromArray(B, c, at), c1 = FloatVector.fromArray(B, c, at + half(lanes));
        for (long blk = from; blk < to; blk += FOLD_BLOCK) {
            long end = Math.min(to, blk + FOLD_BLOCK);
            FloatVector a0 = FloatVector.zero(B), a1 = a0, a2 = a0, a3 = a0;
            long i = blk;
            for (; i <= end - 4 * V; i += 4 * V) {
                FloatVector d0 = loadB(x, i).sub(c0), d1 = loadB(x, i + V).sub(c1);
                FloatVector d2 = loadB(x, i + 2 * V).sub(c0), d3 = loadB(x, i + 3 * V).sub(c1);
                a0 = d0.fma(d0, a0);
                a1 = d1.fma(d1, a1);
                a2 = d2.fma(d2, a2);
                a3 = d3.fma(d3, a3);
            }
            for (; i < end; i += V) {
                if (((i - blk) / V & 1) == 0) {
                    FloatVector d = loadB(x, i).sub(c0);
                    a0 = d.fma(d, a0);
                } else {
                    FloatVector d = loadB(x, i).sub(c1);
                    a1 = d.fma(d, a1);
                }
            }
            foldPair(a0.add(a2), a1.add(a3), lanes, acc, at);
        }
    }

    @Override
    public void dotDeviationLanes(int lanes, MemorySegment y, MemorySegment x, float[] c, long from, long to, double[] acc,
                                  int at) {
        LayerKernels.checkLanes(lanes, from, to);
        FloatVector c0 = FloatVector.fromArray(B, c, at), c1 = FloatVector.fromArray(B, c, at + half(lanes));
        for (long blk = from; blk < to; blk += FOLD_BLOCK) {
            long end = Math.min(to, blk + FOLD_BLOCK);
            FloatVector a0 = FloatVector.zero(B), a1 = a0, a2 = a0, a3 = a0;
            long i = blk;
            for (; i <= end - 4 * V; i += 4 * V) {
                a0 = loadB(x, i).sub(c0).fma(loadB(y, i), a0);
                a1 = loadB(x, i + V).sub(c1).fma(loadB(y, i + V), a1);
                a2 = loadB(x, i + 2 * V).sub(c0).fma(loadB(y, i + 2 * V), a2);
                a3 = loadB(x, i + 3 * V).sub(c1).fma(loadB(y, i + 3 * V), a3);
            }
            for (; i < end; i += V) {
                if (((i - blk) / V & 1) == 0) a0 = loadB(x, i).sub(c0).fma(loadB(y, i), a0);
                else a1 = loadB(x, i).sub(c1).fma(loadB(y, i), a1);
            }
            foldPair(a0.add(a2), a1.add(a3), lanes, acc, at);
        }
    }

    @Override
    public void affineLanes(int lanes, MemorySegment x, MemorySegment y, float[] a, float[] b, int at, long from, long to) {
        LayerKernels.checkLanes(lanes, from, to);
        int h = half(lanes);
        FloatVector a0 = FloatVector.fromArray(B, a, at), b0 = FloatVector.fromArray(B, b, at);
        FloatVector a1 = FloatVector.fromArray(B, a, at + h), b1 = FloatVector.fromArray(B, b, at + h);
        long i = from;
        for (; i <= to - 2 * V; i += 2 * V) {
            storeB(loadB(x, i).fma(a0, b0), y, i);
            storeB(loadB(x, i + V).fma(a1, b1), y, i + V);
        }
        if (i < to) storeB(loadB(x, i).fma(a0, b0), y, i); // width 8 only: one pixel left, lanes [at, at+8)
    }

    @Override
    public void affine2Lanes(int lanes, MemorySegment dy, MemorySegment x, MemorySegment dx, float[] a, float[] b, float[] c,
                             int at, long from, long to) {
        LayerKernels.checkLanes(lanes, from, to);
        int h = half(lanes);
        FloatVector a0 = FloatVector.fromArray(B, a, at), b0 = FloatVector.fromArray(B, b, at);
        FloatVector c0 = FloatVector.fromArray(B, c, at);
        FloatVector a1 = FloatVector.fromArray(B, a, at + h), b1 = FloatVector.fromArray(B, b, at + h);
        FloatVector c1 = FloatVector.fromArray(B, c, at + h);
        long i = from;
        for (; i <= to - 2 * V; i += 2 * V) {
            storeB(loadB(dy, i).fma(a0, loadB(x, i).fma(b0, c0)), dx, i);
            storeB(loadB(dy, i + V).fma(a1, loadB(x, i + V).fma(b1, c1)), dx, i + V);
        }
        if (i < to) storeB(loadB(dy, i).fma(a0, loadB(x, i).fma(b0, c0)), dx, i);
    }

    /** {@code gated} for the 256-bit lane vectors (see there why a copy). */
    private static FloatVector gatedB(FloatVector dy, FloatVector x, FloatVector a, FloatVector b, FloatVector zero) {
        return zero.blend(dy, x.fma(a, b).compare(VectorOperators.GT, zero));
    }

    @Override
    public void affineReluLanes(int lanes, MemorySegment x, MemorySegment y, float[] a, float[] b, int at, long from, long to) {
        LayerKernels.checkLanes(lanes, from, to);
        int h = half(lanes);
        FloatVector a0 = FloatVector.fromArray(B, a, at), b0 = FloatVector.fromArray(B, b, at);
        FloatVector a1 = FloatVector.fromArray(B, a, at + h), b1 = FloatVector.fromArray(B, b, at + h), z = FloatVector.zero(B);
        long i = from;
        for (; i <= to - 2 * V; i += 2 * V) {
            storeB(loadB(x, i).fma(a0, b0).max(z), y, i);
            storeB(loadB(x, i + V).fma(a1, b1).max(z), y, i + V);
        }
        if (i < to) storeB(loadB(x, i).fma(a0, b0).max(z), y, i);
    }

    @Override
    public void sumAndDotDeviationReluLanes(int lanes, MemorySegment dy, MemorySegment x, float[] c, float[] a, float[] b,
                                            long from, long to, double[] sums, double[] dots, int at) {
        LayerKernels.checkLanes(lanes, from, to);
        int h = half(lanes);
        FloatVector c0 = FloatVector.fromArray(B, c, at), c1 = FloatVector.fromArray(B, c, at + h);
        FloatVector ga0 = FloatVector.fromArray(B, a, at), gb0 = FloatVector.fromArray(B, b, at);
        FloatVector ga1 = FloatVector.fromArray(B, a, at + h), gb1 = FloatVector.fromArray(B, b, at + h), z = FloatVector.zero(B);
        for (long blk = from; blk < to; blk += FOLD_BLOCK) { // sumLanes' and dotDeviationLanes' loops over the gated dy
            long end = Math.min(to, blk + FOLD_BLOCK);
            FloatVector s0 = z, s1 = z, s2 = z, s3 = z, d0 = z, d1 = z, d2 = z, d3 = z;
            long i = blk;
            for (; i <= end - 4 * V; i += 4 * V) {
                FloatVector x0 = loadB(x, i), x1 = loadB(x, i + V), x2 = loadB(x, i + 2 * V), x3 = loadB(x, i + 3 * V);
                FloatVector g0 = gatedB(loadB(dy, i), x0, ga0, gb0, z), g1 = gatedB(loadB(dy, i + V), x1, ga1, gb1, z);
                FloatVector g2 = gatedB(loadB(dy, i + 2 * V), x2, ga0, gb0, z), g3 = gatedB(loadB(dy, i + 3 * V), x3, ga1, gb1, z);
                s0 = s0.add(g0);
                s1 = s1.add(g1);
                s2 = s2.add(g2);
                s3 = s3.add(g3);
                d0 = x0.sub(c0).fma(g0, d0);
                d1 = x1.sub(c1).fma(g1, d1);
                d2 = x2.sub(c0).fma(g2, d2);
                d3 = x3.sub(c1).fma(g3, d3);
            }
            for (; i < end; i += V) {
                FloatVector x0 = loadB(x, i);
                if (((i - blk) / V & 1) == 0) {
                    FloatVector g = gatedB(loadB(dy, i), x0, ga0, gb0, z);
                    s0 = s0.add(g);
                    d0 = x0.sub(c0).fma(g, d0);
                } else {
                    FloatVector g = gatedB(loadB(dy, i), x0, ga1, gb1, z);
                    s1 = s1.add(g);
                    d1 = x0.sub(c1).fma(g, d1);
                }
            }
            foldPair(s0.add(s2), s1.add(s3), lanes, sums, at);
            foldPair(d0.add(d2), d1.add(d3), lanes, dots, at);
        }
    }

    @Override
    public void affine2ReluLanes(int lanes, MemorySegment dy, MemorySegment x, MemorySegment dx, float[] p, float[] q, float[] r,
                                 float[] a, float[] b, int at, long from, long to) {
        LayerKernels.checkLanes(lanes, from, to);
        int h = half(lanes);
        FloatVector p0 = FloatVector.fromArray(B, p, at), q0 = FloatVector.fromArray(B, q, at), r0 = FloatVector.fromArray(B, r, at);
        FloatVector p1 = FloatVector.fromArray(B, p, at + h), q1 = FloatVector.fromArray(B, q, at + h);
        FloatVector r1 = FloatVector.fromArray(B, r, at + h);
        FloatVector ga0 = FloatVector.fromArray(B, a, at), gb0 = FloatVector.fromArray(B, b, at);
        FloatVector ga1 = FloatVector.fromArray(B, a, at + h), gb1 = FloatVector.fromArray(B, b, at + h), z = FloatVector.zero(B);
        long i = from;
        for (; i <= to - 2 * V; i += 2 * V) {
            FloatVector x0 = loadB(x, i), x1 = loadB(x, i + V);
            storeB(gatedB(loadB(dy, i), x0, ga0, gb0, z).fma(p0, x0.fma(q0, r0)), dx, i);
            storeB(gatedB(loadB(dy, i + V), x1, ga1, gb1, z).fma(p1, x1.fma(q1, r1)), dx, i + V);
        }
        if (i < to) {
            FloatVector x0 = loadB(x, i);
            storeB(gatedB(loadB(dy, i), x0, ga0, gb0, z).fma(p0, x0.fma(q0, r0)), dx, i);
        }
    }

    @Override
    public void fillLanes(int lanes, float[] v, int at, MemorySegment x, long from, long to) {
        LayerKernels.checkLanes(lanes, from, to);
        FloatVector v0 = FloatVector.fromArray(B, v, at), v1 = FloatVector.fromArray(B, v, at + half(lanes));
        long i = from;
        for (; i <= to - 2 * V; i += 2 * V) {
            storeB(v0, x, i);
            storeB(v1, x, i + V);
        }
        if (i < to) storeB(v0, x, i);
    }

    @Override
    public void maxPool2x2Lanes(int lanes, MemorySegment x, long in, int h, int w, MemorySegment y, MemorySegment argmax,
                                long out) {
        LayerKernels.checkLanes(lanes, 0, 0);
        if (lanes == 16 && WIDE_PIXELS) {
            maxPool2x2Pixels16(x, in, h, w, y, argmax, out);
            return;
        }
        if ((long) h * w > 1 << 24) { // indices travel as float lanes, exact below 2^24
            TAIL.maxPool2x2Lanes(lanes, x, in, h, w, y, argmax, out);
            return;
        }
        int outH = h / 2, outW = w / 2;
        long row = (long) lanes * w;
        for (int oh = 0; oh < outH; oh++) {
            for (int ow = 0; ow < outW; ow++) {
                int p = 2 * oh * w + 2 * ow;
                long o = out + (long) lanes * (oh * outW + ow);
                for (int k = 0; k < lanes; k += V) { // each 8-channel vector of the block
                    long t = in + (long) lanes * p + k;
                    FloatVector b = loadB(x, t + lanes), c = loadB(x, t + row), d = loadB(x, t + row + lanes);
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
                    storeB(max, y, o + k);
                    best.convert(VectorOperators.F2I, 0).reinterpretAsInts().intoMemorySegment(argmax, (o + k) << 2, NATIVE);
                }
            }
        }
    }

    // At width 512 an nChw16c pixel is one vector: the max-pool forward, which does per vector more than move data,
    // ran 1.7x faster that way than as two 256-bit halves (2-core Sapphire Rapids, the cnn's 128x32x28x28 bn1 output,
    // one thread; the backward, a scatter of stores, gained < 10 % and stays at 256 bits).

    /** Whether nChw16c pixels go whole into one vector: the kernels' width ({@link VectorWidth}) is 512 bits. */
    private static final boolean WIDE_PIXELS = S.vectorBitSize() >= 512;
    private static final VectorSpecies<Float> P16 = FloatVector.SPECIES_512;
    private static final VectorSpecies<Integer> P16I = IntVector.SPECIES_512;

    /** {@link #maxPool2x2Lanes} at width 16, a pixel per 512-bit vector; argmax as int lanes (no 2^24 limit). */
    private static void maxPool2x2Pixels16(MemorySegment x, long in, int h, int w, MemorySegment y, MemorySegment argmax, long out) {
        long pixel = 4L * 16, row = pixel * w, o = out << 2;
        for (int oh = 0; oh < h / 2; oh++) {
            int p = 2 * oh * w; // the window's top-left input pixel
            long t = (in << 2) + p * pixel;
            for (int ow = 0; ow < w / 2; ow++, p += 2, t += 2 * pixel, o += pixel) {
                FloatVector max = FloatVector.fromMemorySegment(P16, x, t, NATIVE);
                FloatVector b = FloatVector.fromMemorySegment(P16, x, t + pixel, NATIVE);
                FloatVector c = FloatVector.fromMemorySegment(P16, x, t + row, NATIVE);
                FloatVector d = FloatVector.fromMemorySegment(P16, x, t + row + pixel, NATIVE);
                IntVector best = IntVector.broadcast(P16I, p);
                VectorMask<Float> m = b.compare(VectorOperators.GT, max).or(b.compare(VectorOperators.NE, b));
                max = max.blend(b, m);
                best = best.blend(p + 1, m.cast(P16I));
                m = c.compare(VectorOperators.GT, max).or(c.compare(VectorOperators.NE, c));
                max = max.blend(c, m);
                best = best.blend(p + w, m.cast(P16I));
                m = d.compare(VectorOperators.GT, max).or(d.compare(VectorOperators.NE, d));
                max = max.blend(d, m);
                best = best.blend(p + w + 1, m.cast(P16I));
                max.intoMemorySegment(y, o, NATIVE);
                best.intoMemorySegment(argmax, o, NATIVE);
            }
        }
    }

    @Override
    public void maxPool2x2LanesBackward(int lanes, MemorySegment dy, MemorySegment argmax, long out, int h, int w,
                                        MemorySegment dx, long in) {
        LayerKernels.checkLanes(lanes, 0, 0);
        int outH = h / 2, outW = w / 2;
        long row = (long) lanes * w;
        FloatVector z = FloatVector.zero(B);
        for (int oh = 0; oh < outH; oh++) {
            for (int ow = 0; ow < outW; ow++) {
                int p = 2 * oh * w + 2 * ow;
                for (int k = 0; k < lanes; k += V) {
                    long t = in + (long) lanes * p + k, o = out + (long) lanes * (oh * outW + ow) + k;
                    FloatVector g = loadB(dy, o);
                    IntVector best = IntVector.fromMemorySegment(BI, argmax, o << 2, NATIVE);
                    storeB(z.blend(g, best.compare(VectorOperators.EQ, p).cast(B)), dx, t);
                    storeB(z.blend(g, best.compare(VectorOperators.EQ, p + 1).cast(B)), dx, t + lanes);
                    storeB(z.blend(g, best.compare(VectorOperators.EQ, p + w).cast(B)), dx, t + row);
                    storeB(z.blend(g, best.compare(VectorOperators.EQ, p + w + 1).cast(B)), dx, t + row + lanes);
                }
            }
            if (w % 2 != 0) { // the last column is in no window
                long last = in + (long) lanes * (2 * oh * w + w - 1);
                for (int k = 0; k < lanes; k += V) {
                    storeB(z, dx, last + k);
                    storeB(z, dx, last + row + k);
                }
            }
        }
        if (h % 2 != 0) {
            for (long i = in + (long) lanes * (h - 1) * w; i < in + (long) lanes * h * w; i += V) storeB(z, dx, i);
        }
    }
}
