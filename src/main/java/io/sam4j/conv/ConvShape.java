package io.sam4j.conv;

/**
 * A 2-D convolution problem: input [n, c, h, w] (NCHW), weights [k, c, r, s] (OIHW), square stride and
 * symmetric zero padding, output [n, k, outH, outW]. Backends create one {@link Convolution} per shape.
 */
public record ConvShape(int n, int c, int h, int w, int k, int r, int s, int stride, int pad) {
    public ConvShape {
        if (n < 1 || c < 1 || h < 1 || w < 1 || k < 1 || r < 1 || s < 1 || stride < 1 || pad < 0) {
            throw new IllegalArgumentException("bad convolution shape " + this);
        }
        // Fields are not assigned yet in a compact constructor: use the parameters, not outH()/outW().
        if (h + 2 * pad < r || w + 2 * pad < s) throw new IllegalArgumentException("convolution output is empty for " + this);
    }

    public int outH() {
        return (h + 2 * pad - r) / stride + 1;
    }

    public int outW() {
        return (w + 2 * pad - s) / stride + 1;
    }

    public long inputSize() {
        return (long) n * c * h * w;
    }

    public long weightSize() {
        return (long) k * c * r * s;
    }

    public long outputSize() {
        return (long) n * k * outH() * outW();
    }

    /** Multiply-adds of one forward pass (x2 for FLOP). */
    public double macs() {
        return (double) n * k * outH() * outW() * c * r * s;
    }

    public ConvShape withBatch(int batch) {
        return new ConvShape(batch, c, h, w, k, r, s, stride, pad);
    }
}
