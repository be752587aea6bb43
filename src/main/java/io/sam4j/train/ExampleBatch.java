package io.sam4j.train;

import io.sam4j.nn.Mode;
import io.sam4j.nn.Model;
import io.sam4j.optim.ExampleLossFunction;
import java.lang.foreign.MemorySegment;

/**
 * The model's loss on one batch (inputs at {@code x}, labels in {@code labels}, both refilled by the caller
 * before each step), with the per-example losses and the subset evaluation ESAM's data selection uses.
 * The subset's gathered inputs live in one buffer of the model's context, allocated on the first subset call.
 */
public final class ExampleBatch implements ExampleLossFunction {
    private final Model model;
    private final MemorySegment x;
    private final int[] labels;
    private final int n;
    private MemorySegment subsetX;
    private int[] subsetLabels;

    public ExampleBatch(Model model, MemorySegment x, int[] labels, int n) {
        this.model = model;
        this.x = x;
        this.labels = labels;
        this.n = n;
    }

    @Override
    public double lossAndGrad(Mode mode) {
        return model.lossAndGrad(x, labels, n, mode);
    }

    @Override
    public int batchSize() {
        return n;
    }

    @Override
    public double exampleLoss(int i) {
        return model.exampleLoss(i);
    }

    @Override
    public double lossOnly(Mode mode) {
        return model.loss(x, labels, n, mode);
    }

    @Override
    public double lossAndGradOn(Mode mode, int[] subset, int count) {
        long row = 4L * model.inputSize();
        if (subsetX == null) {
            subsetX = model.context().ensure(null, (long) n * model.inputSize());
            subsetLabels = new int[n];
        }
        for (int j = 0; j < count; j++) {
            MemorySegment.copy(x, subset[j] * row, subsetX, j * row, row);
            subsetLabels[j] = labels[subset[j]];
        }
        return model.lossAndGrad(subsetX, subsetLabels, count, mode);
    }
}
