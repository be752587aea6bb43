package io.sam4j.kernels;

import java.lang.foreign.MemorySegment;

/**
 * One implementation of all three kernel families behind {@link Kernels}, each call forwarded to its
 * family's object ({@link ScalarKernels}: the references; {@code VectorKernels}: the Vector-API ones).
 * The forwarding costs one monomorphic call per chunk, which C2 inlines.
 */
abstract class KernelSet implements Kernels {
    private final String name;
    private final MathKernels math;
    private final LayerKernels layers;
    private final OptimizerKernels optimizer;

    KernelSet(String name, MathKernels math, LayerKernels layers, OptimizerKernels optimizer) {
        this.name = name;
        this.math = math;
        this.layers = layers;
        this.optimizer = optimizer;
    }

    @Override
    public final String name() {
        return name;
    }

    // ---- MathKernels ----

    @Override
    public final double sumSquares(MemorySegment x, long from, long to) {
        return math.sumSquares(x, from, to);
    }

    @Override
    public final double dot(MemorySegment x, MemorySegment y, long from, long to) {
        return math.dot(x, y, from, to);
    }

    @Override
    public final void axpy(float a, MemorySegment x, MemorySegment y, long from, long to) {
        math.axpy(a, x, y, from, to);
    }

    @Override
    public final void triad(MemorySegment b, float s, MemorySegment c, MemorySegment a, long from, long to) {
        math.triad(b, s, c, a, from, to);
    }

    @Override
    public final void scale(float a, MemorySegment x, long from, long to) {
        math.scale(a, x, from, to);
    }

    @Override
    public final void scaleTo(float a, MemorySegment src, MemorySegment dst, long from, long to) {
        math.scaleTo(a, src, dst, from, to);
    }

    @Override
    public final void copy(MemorySegment src, MemorySegment dst, long from, long to) {
        math.copy(src, dst, from, to);
    }

    @Override
    public final void fill(float v, MemorySegment x, long from, long to) {
        math.fill(v, x, from, to);
    }

    @Override
    public final void relu(MemorySegment x, MemorySegment y, long from, long to) {
        math.relu(x, y, from, to);
    }

    @Override
    public final void reluBackward(MemorySegment y, MemorySegment dy, MemorySegment dx, long from, long to) {
        math.reluBackward(y, dy, dx, from, to);
    }

    // ---- LayerKernels ----

    @Override
    public final double sum(MemorySegment x, long from, long to) {
        return layers.sum(x, from, to);
    }

    @Override
    public final double sumSquaredDeviation(MemorySegment x, float c, long from, long to) {
        return layers.sumSquaredDeviation(x, c, from, to);
    }

    @Override
    public final double dotDeviation(MemorySegment y, MemorySegment x, float c, long from, long to) {
        return layers.dotDeviation(y, x, c, from, to);
    }

    @Override
    public final void affine(MemorySegment x, MemorySegment y, float a, float b, long from, long to) {
        layers.affine(x, y, a, b, from, to);
    }

    @Override
    public final void affine2(MemorySegment dy, MemorySegment x, MemorySegment dx, float a, float b, float c, long from, long to) {
        layers.affine2(dy, x, dx, a, b, c, from, to);
    }

    @Override
    public final void maxPool2x2(MemorySegment x, long in, int h, int w, MemorySegment y, MemorySegment argmax, long out) {
        layers.maxPool2x2(x, in, h, w, y, argmax, out);
    }

    @Override
    public final void sumLanes(int lanes, MemorySegment x, long from, long to, double[] acc, int at) {
        layers.sumLanes(lanes, x, from, to, acc, at);
    }

    @Override
    public final void sumSquaredDeviationLanes(int lanes, MemorySegment x, float[] c, long from, long to, double[] acc, int at) {
        layers.sumSquaredDeviationLanes(lanes, x, c, from, to, acc, at);
    }

    @Override
    public final void dotDeviationLanes(int lanes, MemorySegment y, MemorySegment x, float[] c, long from, long to, double[] acc, int at) {
        layers.dotDeviationLanes(lanes, y, x, c, from, to, acc, at);
    }

    @Override
    public final void affineLanes(int lanes, MemorySegment x, MemorySegment y, float[] a, float[] b, int at, long from, long to) {
        layers.affineLanes(lanes, x, y, a, b, at, from, to);
    }

    @Override
    public final void affine2Lanes(int lanes, MemorySegment dy, MemorySegment x, MemorySegment dx, float[] a, float[] b, float[] c, int at, long from, long to) {
        layers.affine2Lanes(lanes, dy, x, dx, a, b, c, at, from, to);
    }

    @Override
    public final void affineRelu(MemorySegment x, MemorySegment y, float a, float b, long from, long to) {
        layers.affineRelu(x, y, a, b, from, to);
    }

    @Override
    public final double sumRelu(MemorySegment dy, MemorySegment x, float a, float b, long from, long to) {
        return layers.sumRelu(dy, x, a, b, from, to);
    }

    @Override
    public final double dotDeviationRelu(MemorySegment dy, MemorySegment x, float c, float a, float b, long from, long to) {
        return layers.dotDeviationRelu(dy, x, c, a, b, from, to);
    }

    @Override
    public final void affine2Relu(MemorySegment dy, MemorySegment x, MemorySegment dx, float p, float q, float r, float a, float b,
                                  long from, long to) {
        layers.affine2Relu(dy, x, dx, p, q, r, a, b, from, to);
    }

    @Override
    public final void affineReluLanes(int lanes, MemorySegment x, MemorySegment y, float[] a, float[] b, int at, long from, long to) {
        layers.affineReluLanes(lanes, x, y, a, b, at, from, to);
    }

    @Override
    public final void sumAndDotDeviationReluLanes(int lanes, MemorySegment dy, MemorySegment x, float[] c, float[] a, float[] b,
                                                  long from, long to, double[] sums, double[] dots, int at) {
        layers.sumAndDotDeviationReluLanes(lanes, dy, x, c, a, b, from, to, sums, dots, at);
    }

    @Override
    public final void affine2ReluLanes(int lanes, MemorySegment dy, MemorySegment x, MemorySegment dx, float[] p, float[] q,
                                       float[] r, float[] a, float[] b, int at, long from, long to) {
        layers.affine2ReluLanes(lanes, dy, x, dx, p, q, r, a, b, at, from, to);
    }

    @Override
    public final void fillLanes(int lanes, float[] v, int at, MemorySegment x, long from, long to) {
        layers.fillLanes(lanes, v, at, x, from, to);
    }

    @Override
    public final void maxPool2x2Lanes(int lanes, MemorySegment x, long in, int h, int w, MemorySegment y, MemorySegment argmax, long out) {
        layers.maxPool2x2Lanes(lanes, x, in, h, w, y, argmax, out);
    }

    @Override
    public final void maxPool2x2LanesBackward(int lanes, MemorySegment dy, MemorySegment argmax, long out, int h, int w, MemorySegment dx, long in) {
        layers.maxPool2x2LanesBackward(lanes, dy, argmax, out, h, w, dx, in);
    }

    // ---- OptimizerKernels ----

    @Override
    public final void directionStats(MemorySegment g, MemorySegment m, MemorySegment w, long from, long to, boolean friendly, float sigma, Scaling t, double[] acc) {
        optimizer.directionStats(g, m, w, from, to, friendly, sigma, t, acc);
    }

    @Override
    public final void perturb(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment m, long from, long to, float s, boolean friendly, float sigma, EmaUpdate ema, float lambda, Scaling t, double[] acc) {
        optimizer.perturb(w, w0, g, m, from, to, s, friendly, sigma, ema, lambda, t, acc);
    }

    @Override
    public final void adversarialStats(MemorySegment w, MemorySegment w0, MemorySegment g, long from, long to, Scaling t, double[] acc) {
        optimizer.adversarialStats(w, w0, g, from, to, t, acc);
    }

    @Override
    public final void sgdStep(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment b, long from, long to, float gScale, float lr, float wd, float mu, boolean nesterov, boolean first) {
        optimizer.sgdStep(w, w0, g, b, from, to, gScale, lr, wd, mu, nesterov, first);
    }

    @Override
    public final void adamwStep(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment m, MemorySegment v, long from, long to, float gScale, float lr, float wd, float b1, float b2, float eps, float bc1, float bc2) {
        optimizer.adamwStep(w, w0, g, m, v, from, to, gScale, lr, wd, b1, b2, eps, bc1, bc2);
    }
}
