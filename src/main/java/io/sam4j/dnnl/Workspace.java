package io.sam4j.dnnl;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The internal buffers of all kernels of one backend: tensors in the layouts oneDNN chose, and the
 * primitives' scratchpads. A call reorders its inputs in and its outputs out, so nothing in here outlives
 * a call; kernels of a backend run one at a time, so one buffer per role serves every layer (a ResNet
 * needs the largest layer's share once, not once per layer). Buffers only grow; each growth bumps
 * {@link #generation()} so kernels know to rebind their memory objects.
 */
final class Workspace implements AutoCloseable {
    /** Roles that are never needed twice within one primitive execution (COLUMNS: {@link OneDnnGemmConv}'s im2col matrix). */
    enum Slot { SRC, DST, WEIGHTS, BIAS, SCRATCHPAD, COLUMNS }

    private static final int SLOTS = Slot.values().length;

    private final Arena[] arenas = new Arena[SLOTS];
    private final MemorySegment[] buffers = new MemorySegment[SLOTS];
    private int generation;

    /** Grows the buffers to at least {@code bytes[slot.ordinal()]} each. */
    void fit(long[] bytes) {
        for (int i = 0; i < SLOTS; i++) {
            long have = buffers[i] == null ? 0 : buffers[i].byteSize();
            if (bytes[i] <= have) continue;
            Arena a = Arena.ofShared();
            MemorySegment b = a.allocate(bytes[i], 4096);
            if (arenas[i] != null) arenas[i].close();
            arenas[i] = a;
            buffers[i] = b;
            generation++;
        }
    }

    MemorySegment buffer(Slot slot) {
        return buffers[slot.ordinal()];
    }

    int generation() {
        return generation;
    }

    long bytes() {
        long sum = 0;
        for (MemorySegment b : buffers) if (b != null) sum += b.byteSize();
        return sum;
    }

    @Override
    public void close() {
        for (int i = 0; i < SLOTS; i++) {
            if (arenas[i] != null) arenas[i].close();
            arenas[i] = null;
            buffers[i] = null;
        }
    }
}
