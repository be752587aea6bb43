package io.sam4j.nn;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Wall time of each layer's forward and backward passes, summed over the calls made while a {@link Context} carries
 * this collector ({@link Context#timeLayers}): where a step's time goes, for {@code bench --layer-times}. Layers are
 * the children of the model's {@link Sequential}s that are not Sequentials themselves (a residual block and, through
 * its inner chains, its convolutions and BatchNorms), keyed by their state_dict names ({@code layer1.0},
 * {@code layer1.0.conv1}, {@code fc1}; parameterless ones by position, {@code #2}), in the order of their first forward.
 * Kernels run synchronously (oneDNN's stream is waited on inside each layer), so a layer's time is its own. A layer
 * holding timed layers (a residual block's inner chains) gets its exclusive time: what it spends outside them (the
 * residual add, its ReLU), so the entries never overlap and add up to the time inside the model. Collecting costs two
 * clock reads per layer and pass; one thread drives the model. Models with the same names (fresh models of one
 * configuration) add up.
 */
public final class LayerTimes {
    /** One layer's sums. */
    public static final class Entry {
        private final String name, kind;
        private long forwardNanos, backwardNanos;

        private Entry(String name, String kind) {
            this.name = name;
            this.kind = kind;
        }

        public String name() {
            return name;
        }

        /** The layer's class, e.g. Conv2d. */
        public String kind() {
            return kind;
        }

        public long forwardNanos() {
            return forwardNanos;
        }

        public long backwardNanos() {
            return backwardNanos;
        }

    }

    private final Map<String, Entry> entries = new LinkedHashMap<>();
    /** Per open (nested) timing: the time of the timed layers inside it so far. */
    private long[] inner = new long[8];
    private int depth;

    /** Starts timing a layer's pass; returns the start for {@link #exit}. */
    long enter() {
        if (depth == inner.length) inner = java.util.Arrays.copyOf(inner, 2 * depth);
        inner[depth++] = 0;
        return System.nanoTime();
    }

    /** Ends the pass started at {@code start}: the layer's exclusive time to its entry, the whole to the enclosing layer. */
    void exit(Entry e, long start, boolean forward) {
        long total = System.nanoTime() - start, self = total - inner[--depth];
        if (forward) e.forwardNanos += self;
        else e.backwardNanos += self;
        if (depth > 0) inner[depth - 1] += total;
    }

    /** The entry for a layer, made on first use. */
    synchronized Entry entry(String name, String kind) {
        return entries.computeIfAbsent(name, k -> new Entry(name, kind));
    }

    /** The layers timed so far, in the order of their first forward. */
    public synchronized List<Entry> entries() {
        return new ArrayList<>(entries.values());
    }

    /** Forward plus backward time of every layer. */
    public synchronized long totalNanos() {
        long t = 0;
        for (Entry e : entries.values()) t += e.forwardNanos + e.backwardNanos;
        return t;
    }
}
