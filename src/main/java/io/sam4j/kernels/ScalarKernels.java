package io.sam4j.kernels;

import java.lang.foreign.MemorySegment;

/** Plain loops: the reference every fast kernel is tested against. TODO(helper): implement. */
public final class ScalarKernels implements Kernels {
    public static final ScalarKernels INSTANCE = new ScalarKernels();

    public String name() { return "scalar"; }
    public double sumSquares(MemorySegment x, long from, long to) { throw new UnsupportedOperationException(); }
    public double dot(MemorySegment x, MemorySegment y, long from, long to) { throw new UnsupportedOperationException(); }
    public void axpy(float a, MemorySegment x, MemorySegment y, long from, long to) { throw new UnsupportedOperationException(); }
    public void scale(float a, MemorySegment x, long from, long to) { throw new UnsupportedOperationException(); }
    public void copy(MemorySegment src, MemorySegment dst, long from, long to) { throw new UnsupportedOperationException(); }
    public void fill(float v, MemorySegment x, long from, long to) { throw new UnsupportedOperationException(); }
    public void directionStats(MemorySegment g, MemorySegment m, MemorySegment w, long from, long to,
                               boolean friendly, float sigma, float eta, double[] acc) { throw new UnsupportedOperationException(); }
    public void perturb(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment m, long from, long to,
                        float s, boolean friendly, float sigma, int emaMode, float lambda, float eta, double[] acc) { throw new UnsupportedOperationException(); }
    public void adversarialStats(MemorySegment w, MemorySegment w0, MemorySegment g, long from, long to,
                                 float eta, double[] acc) { throw new UnsupportedOperationException(); }
    public void sgdStep(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment b, long from, long to,
                        float gScale, float lr, float wd, float mu, boolean nesterov, boolean first) { throw new UnsupportedOperationException(); }
    public void adamwStep(MemorySegment w, MemorySegment w0, MemorySegment g, MemorySegment m, MemorySegment v,
                          long from, long to, float gScale, float lr, float wd, float b1, float b2, float eps,
                          float bc1, float bc2) { throw new UnsupportedOperationException(); }
}
