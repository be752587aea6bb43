package io.sam4j.optim;

import io.sam4j.kernels.FlatOps;
import io.sam4j.nn.Mode;
import io.sam4j.nn.ParameterStore;
import java.lang.foreign.MemorySegment;

/**
 * Gradient accumulation: one evaluation of the whole batch as the weighted sum of its micro-batches'
 * gradients (weights = their shares of the examples, so the result is the batch mean), so any optimizer
 * sees the batch gradient. A SAM step through it builds ONE perturbation from the accumulated pass-1
 * gradient and accumulates pass 2 at that point (single-epsilon accumulation). The accumulator is
 * allocated once, here.
 */
public final class Accumulated implements LossFunction {
    private final MicroBatchLoss micro;
    private final ParameterStore store;
    private final FlatOps ops;
    private final MemorySegment sum;

    public Accumulated(MicroBatchLoss micro, ParameterStore store, FlatOps ops) {
        this.micro = micro;
        this.store = store;
        this.ops = ops;
        this.sum = store.newStateBuffer();
    }

    @Override
    public double lossAndGrad(Mode mode) {
        long n = store.paramLength();
        MemorySegment g = store.grads();
        double loss = 0;
        for (int k = 0; k < micro.count(); k++) {
            double w = micro.weight(k);
            loss += w * micro.lossAndGrad(mode, k);
            if (k == 0) {
                ops.copy(g, sum, n);
                if (w != 1) ops.scale((float) w, sum, n);
            } else {
                ops.axpy((float) w, g, sum, n);
            }
        }
        ops.copy(sum, g, n);
        return loss;
    }

    /** Each micro-batch's backward rewrites the buffer: nothing is final before the sum is. */
    @Override
    public boolean singleBackward() {
        return false;
    }
}
