package io.sam4j.conv;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import io.sam4j.kernels.Gemm;
import io.sam4j.kernels.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * One convolution shape computed as GEMMs over a column matrix. Images are processed in groups of
 * {@code group}; for a group of g images the column matrix is [c*r*s, g*outH*outW] (image j owns
 * columns [j*hw, (j+1)*hw)), so with W viewed as [k, c*r*s]:
 * <pre>
 *   forward          Y_g[k, g*hw]    = W · cols(x_g)
 *   backward data    dcols[crs, g*hw] = W^T · dY_g, then col2im into dx
 *   backward weights dW[k, crs]     += dY_g · cols(x_g)^T
 * </pre>
 * Y_g and dY_g are [k, g*hw] while NCHW holds [g][k][hw]; for g > 1 they are regrouped through a
 * buffer, for g = 1 the GEMM reads and writes the NCHW tensors in place. A 1x1, stride-1, unpadded
 * convolution needs no im2col at all: each image's [c, h*w] input already is its column matrix.
 * Buffers are allocated once, here, for this shape.
 */
final class JavaConvolution implements Convolution {
    private final Parallel par;
    private final int n, c, h, w, k, r, s, stride, pad, outH, outW;
    /** Forward GEMM depth: c*r*s. */
    private final int crs;
    /** Output pixels per image and channel. */
    private final int hw;
    /** Images per GEMM call. */
    private final int group;
    /** 1x1, stride 1, pad 0: the input is its own column matrix. */
    private final boolean direct;
    private final Arena arena = Arena.ofShared();
    /** [crs, group*hw]: im2col of x, or dcols in backward data; null when direct. */
    private final MemorySegment cols;
    /** [k, group*hw]: Y or dY of a group in GEMM order; null when group == 1. */
    private final MemorySegment grouped;

    JavaConvolution(ConvShape shape, Parallel par, int targetColumns) {
        this.par = par;
        n = shape.n();
        c = shape.c();
        h = shape.h();
        w = shape.w();
        k = shape.k();
        r = shape.r();
        s = shape.s();
        stride = shape.stride();
        pad = shape.pad();
        outH = shape.outH();
        outW = shape.outW();
        crs = c * r * s;
        hw = outH * outW;
        direct = r == 1 && s == 1 && stride == 1 && pad == 0;
        group = direct ? 1 : Math.clamp(targetColumns / hw, 1, n);
        // Shared: the team's threads write these buffers.
        cols = direct ? null : arena.allocate(4L * crs * group * hw, 64);
        grouped = group == 1 ? null : arena.allocate(4L * k * group * hw, 64);
    }

    @Override
    public void forward(MemorySegment x, MemorySegment wt, MemorySegment bias, MemorySegment y) {
        for (int i0 = 0; i0 < n; i0 += group) {
            int g = Math.min(group, n - i0), width = g * hw;
            if (!direct) im2col(x, i0, g);
            MemorySegment out = g == 1 ? y : grouped;
            Gemm.sgemm(par, false, false, k, width, crs, 1f, wt, 0, crs, colsOf(x), colsOffset(i0), width,
                    0f, out, groupedOffset(i0, g), width);
            if (g > 1) regroup(y, i0, g, false);
        }
        if (bias != null) addBias(y, bias);
    }

    @Override
    public void backwardData(MemorySegment dy, MemorySegment wt, MemorySegment dx) {
        for (int i0 = 0; i0 < n; i0 += group) {
            int g = Math.min(group, n - i0), width = g * hw;
            if (g > 1) regroup(dy, i0, g, true);
            // When direct, "dcols" is dx itself.
            Gemm.sgemm(par, true, false, crs, width, k, 1f, wt, 0, crs, g == 1 ? dy : grouped, groupedOffset(i0, g), width,
                    0f, colsOf(dx), colsOffset(i0), width);
            if (!direct) col2im(dx, i0, g);
        }
    }

    @Override
    public void backwardWeights(MemorySegment x, MemorySegment dy, MemorySegment dw, MemorySegment dbias) {
        for (int i0 = 0; i0 < n; i0 += group) {
            int g = Math.min(group, n - i0), width = g * hw;
            if (!direct) im2col(x, i0, g);
            if (g > 1) regroup(dy, i0, g, true);
            // The first group overwrites dW, later ones accumulate.
            Gemm.sgemm(par, false, true, k, crs, width, 1f, g == 1 ? dy : grouped, groupedOffset(i0, g), width,
                    colsOf(x), colsOffset(i0), width, i0 == 0 ? 0f : 1f, dw, 0, crs);
        }
        if (dbias != null) biasGrad(dy, dbias);
    }

    @Override
    public String implementation() {
        return "java:im2col+gemm";
    }

    @Override
    public void close() {
        arena.close();
    }

    // ---- column matrix -------------------------------------------------------------------------

    /** The column matrix of a group: the im2col buffer, or the NCHW tensor itself on the direct path. */
    private MemorySegment colsOf(MemorySegment nchw) {
        return direct ? nchw : cols;
    }

    private long colsOffset(int i0) {
        return direct ? (long) i0 * c * hw : 0;
    }

    /** Where a group's [k, g*hw] output matrix starts: in the NCHW tensor when g == 1, else in {@link #grouped}. */
    private long groupedOffset(int i0, int g) {
        return g == 1 ? (long) i0 * k * hw : 0;
    }

    /** First output index (at most outSize) whose input tap {@code o*stride - pad + tap} is >= 0. */
    private int firstValid(int tap, int outSize) {
        return Math.clamp(Math.ceilDiv(pad - tap, stride), 0, outSize);
    }

    /** One past the last output index whose input tap is < {@code size}; never below firstValid. */
    private int endValid(int tap, int size, int outSize) {
        return Math.clamp(Math.floorDiv(size - 1 + pad - tap, stride) + 1, firstValid(tap, outSize), outSize);
    }

    /**
     * cols[(ci*r + kr)*s + ks, j*hw + oh*outW + ow] = x[i0+j, ci, oh*stride - pad + kr, ow*stride - pad + ks],
     * zero where the tap falls in the padding. One task per (channel, image): disjoint rows/columns.
     */
    private void im2col(MemorySegment x, int i0, int g) {
        int ld = g * hw;
        par.forEach(c * g, task -> {
            int ci = task / g, j = task % g;
            long plane = ((long) (i0 + j) * c + ci) * h * w;
            for (int kr = 0; kr < r; kr++) {
                int ohLo = firstValid(kr, outH), ohHi = endValid(kr, h, outH);
                for (int ks = 0; ks < s; ks++) {
                    int owLo = firstValid(ks, outW), owHi = endValid(ks, w, outW);
                    long row = ((long) (ci * r + kr) * s + ks) * ld + (long) j * hw;
                    for (int oh = 0; oh < outH; oh++) {
                        long dst = row + (long) oh * outW;
                        if (oh < ohLo || oh >= ohHi) {
                            zero(cols, dst, 0, outW);
                            continue;
                        }
                        zero(cols, dst, 0, owLo);
                        zero(cols, dst, owHi, outW);
                        // x index of output column ow is src + ow*stride.
                        long src = plane + (long) (oh * stride - pad + kr) * w + ks - pad;
                        if (stride == 1) {
                            MemorySegment.copy(x, 4 * (src + owLo), cols, 4 * (dst + owLo), 4L * (owHi - owLo));
                        } else {
                            for (int ow = owLo; ow < owHi; ow++) {
                                cols.setAtIndex(JAVA_FLOAT, dst + ow, x.getAtIndex(JAVA_FLOAT, src + (long) ow * stride));
                            }
                        }
                    }
                }
            }
        });
    }

    /** The adjoint of {@link #im2col}: dx = sum over taps of cols, written plane by plane (no races). */
    private void col2im(MemorySegment dx, int i0, int g) {
        int ld = g * hw;
        par.forEach(c * g, task -> {
            int ci = task / g, j = task % g;
            long plane = ((long) (i0 + j) * c + ci) * h * w;
            zero(dx, plane, 0, h * w);
            for (int kr = 0; kr < r; kr++) {
                int ohLo = firstValid(kr, outH), ohHi = endValid(kr, h, outH);
                for (int ks = 0; ks < s; ks++) {
                    int owLo = firstValid(ks, outW), owHi = endValid(ks, w, outW);
                    long row = ((long) (ci * r + kr) * s + ks) * ld + (long) j * hw;
                    for (int oh = ohLo; oh < ohHi; oh++) {
                        long src = row + (long) oh * outW;
                        long dst = plane + (long) (oh * stride - pad + kr) * w + ks - pad;
                        for (int ow = owLo; ow < owHi; ow++) {
                            long d = dst + (long) ow * stride;
                            dx.setAtIndex(JAVA_FLOAT, d, dx.getAtIndex(JAVA_FLOAT, d) + cols.getAtIndex(JAVA_FLOAT, src + ow));
                        }
                    }
                }
            }
        });
    }

    private static void zero(MemorySegment seg, long base, int from, int to) {
        for (int i = from; i < to; i++) seg.setAtIndex(JAVA_FLOAT, base + i, 0f);
    }

    // ---- NCHW <-> GEMM order -------------------------------------------------------------------

    /** Copies images [i0, i0+g) of an NCHW [.., k, hw] tensor into (toGrouped) or out of {@link #grouped}. */
    private void regroup(MemorySegment nchw, int i0, int g, boolean toGrouped) {
        long bytes = 4L * hw;
        for (int j = 0; j < g; j++) {
            for (int ch = 0; ch < k; ch++) {
                long tensorByte = 4 * (((long) (i0 + j) * k + ch) * hw);
                long groupedByte = 4 * ((long) ch * g * hw + (long) j * hw);
                if (toGrouped) MemorySegment.copy(nchw, tensorByte, grouped, groupedByte, bytes);
                else MemorySegment.copy(grouped, groupedByte, nchw, tensorByte, bytes);
            }
        }
    }

    // ---- bias ----------------------------------------------------------------------------------

    private void addBias(MemorySegment y, MemorySegment bias) {
        for (int i = 0; i < n; i++) {
            for (int ch = 0; ch < k; ch++) {
                float b = bias.getAtIndex(JAVA_FLOAT, ch);
                long base = ((long) i * k + ch) * hw;
                for (int p = 0; p < hw; p++) y.setAtIndex(JAVA_FLOAT, base + p, y.getAtIndex(JAVA_FLOAT, base + p) + b);
            }
        }
    }

    /** dbias[ch] = sum of dy over images and pixels, in double. */
    private void biasGrad(MemorySegment dy, MemorySegment dbias) {
        for (int ch = 0; ch < k; ch++) {
            double sum = 0;
            for (int i = 0; i < n; i++) {
                long base = ((long) i * k + ch) * hw;
                for (int p = 0; p < hw; p++) sum += dy.getAtIndex(JAVA_FLOAT, base + p);
            }
            dbias.setAtIndex(JAVA_FLOAT, ch, (float) sum);
        }
    }
}
