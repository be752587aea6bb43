package io.sam4j.train;

import io.sam4j.nn.Mode;
import io.sam4j.nn.Model;
import io.sam4j.optim.MicroBatchLoss;
import java.lang.foreign.MemorySegment;

/**
 * A batch of {@code n} examples (inputs at {@code x}, labels in {@code labels}) cut into equal contiguous
 * micro-batches of {@code size} examples, evaluated by the model one at a time. The label slices are
 * copied from the batch by {@link #refresh()} after each load; nothing is allocated per step.
 */
final class MicroBatches implements MicroBatchLoss {
    private final Model model;
    private final int[] labels;
    private final int size;
    private final MemorySegment[] inputs;
    private final int[][] microLabels;

    MicroBatches(Model model, MemorySegment x, int[] labels, int n, int size) {
        if (size < 1 || n % size != 0) throw new IllegalArgumentException("micro-batches of " + size + " do not divide a batch of " + n);
        this.model = model;
        this.labels = labels;
        this.size = size;
        int count = n / size;
        inputs = new MemorySegment[count];
        microLabels = new int[count][size];
        long bytes = 4L * size * model.inputSize();
        for (int k = 0; k < count; k++) inputs[k] = x.asSlice(k * bytes, bytes);
    }

    /** Copies the current batch's labels into the micro-batches' arrays. */
    void refresh() {
        for (int k = 0; k < microLabels.length; k++) System.arraycopy(labels, k * size, microLabels[k], 0, size);
    }

    @Override
    public int count() {
        return inputs.length;
    }

    @Override
    public double weight(int k) {
        return 1.0 / inputs.length;
    }

    @Override
    public double lossAndGrad(Mode mode, int k) {
        return model.lossAndGrad(inputs[k], microLabels[k], size, mode);
    }
}
