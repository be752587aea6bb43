package io.sam4j.dnnl;

import io.sam4j.conv.Convolution;
import java.lang.foreign.MemorySegment;

/**
 * One convolution whose forward and backward-data passes run on one kernel and whose backward-weights pass runs
 * on another: for the bf16 layers where im2col + matmul is the faster way for only some passes (see
 * {@link OneDnnConvBackend#gemmPasses}). Owns both.
 */
final class SplitConvolution implements Convolution {
    private final Convolution data, weights;

    SplitConvolution(Convolution data, Convolution weights) {
        this.data = data;
        this.weights = weights;
    }

    @Override
    public void forward(MemorySegment x, MemorySegment w, MemorySegment bias, MemorySegment y) {
        data.forward(x, w, bias, y);
    }

    @Override
    public void backwardData(MemorySegment dy, MemorySegment w, MemorySegment dx) {
        data.backwardData(dy, w, dx);
    }

    @Override
    public void backwardWeights(MemorySegment x, MemorySegment dy, MemorySegment dw, MemorySegment dbias) {
        weights.backwardWeights(x, dy, dw, dbias);
    }

    @Override
    public String implementation() {
        return data.implementation() + ";bwd_weights=" + weights.implementation();
    }

    @Override
    public void close() {
        try {
            data.close();
        } finally {
            weights.close();
        }
    }
}
