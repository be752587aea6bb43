package io.sam4j.nn;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A batch of float32 inputs off-heap, with its labels, for {@link Model#lossAndGrad}, {@link Model#logits} and
 * {@link Model#evaluate}. It owns a SHARED arena: the model's thread team reads the batch from its worker
 * threads, and a segment of a confined arena fails there with {@code WrongThreadException}. Allocate once
 * and {@link #fill} it every step (no per-step native allocation); close it when done.
 */
public final class Batch implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private final MemorySegment x;
    private final int[] labels;
    private final long exampleSize;
    private int size;

    private Batch(int capacity, long exampleSize) {
        if (capacity < 1 || exampleSize < 1) {
            throw new IllegalArgumentException("a batch needs capacity >= 1 and example size >= 1, got " + capacity + ", " + exampleSize);
        }
        this.x = arena.allocate(4L * capacity * exampleSize, 64);
        this.labels = new int[capacity];
        this.exampleSize = exampleSize;
    }

    /** An empty batch of up to {@code capacity} examples of {@code exampleShape} (e.g. 1, 28, 28). */
    public static Batch allocate(int capacity, int... exampleShape) {
        long n = 1;
        for (int d : exampleShape) n = Math.multiplyExact(n, d);
        return new Batch(capacity, n);
    }

    /**
     * A batch holding a copy of {@code inputs} ({@code labels.length} examples of {@code exampleShape}, row-major,
     * already normalised) and {@code labels}.
     */
    public static Batch of(float[] inputs, int[] labels, int... exampleShape) {
        Batch b = allocate(labels.length, exampleShape);
        b.fill(inputs, labels);
        return b;
    }

    /** Replaces the content: {@code labels.length} examples, at most the capacity. */
    public Batch fill(float[] inputs, int[] newLabels) {
        if (newLabels.length > labels.length) {
            throw new IllegalArgumentException(newLabels.length + " examples do not fit a batch of " + labels.length);
        }
        if (inputs.length != newLabels.length * exampleSize) {
            throw new IllegalArgumentException("inputs hold " + inputs.length + " floats, " + newLabels.length
                    + " examples of " + exampleSize + " need " + newLabels.length * exampleSize);
        }
        MemorySegment.copy(inputs, 0, x, JAVA_FLOAT, 0, inputs.length);
        System.arraycopy(newLabels, 0, labels, 0, newLabels.length);
        Arrays.fill(labels, newLabels.length, labels.length, 0);
        size = newLabels.length;
        return this;
    }

    /** The inputs, {@code [size, exampleShape...]} float32 in native order (64-byte aligned). */
    public MemorySegment x() {
        return x;
    }

    /** The labels; only the first {@link #size()} are the batch's. */
    public int[] labels() {
        return labels;
    }

    public int size() {
        return size;
    }

    @Override
    public void close() {
        arena.close();
    }
}
