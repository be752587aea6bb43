package io.sam4j.nn;

import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * The buffers of activation gradients (each layer's dL/dx) of one model, with liveness: a backward pass
 * holds only the gradients still needed.
 *
 * <p>Protocol, for every {@link Layer#backward}: the layer takes its dx with {@link #acquire} and
 * {@link #release}s the dy it was given once it no longer reads it (whether or not it returns a dx); a
 * layer that hands dy on unchanged (a Flatten with nothing to reorder) neither takes nor releases. A block
 * that feeds one gradient to two branches {@link #retain}s it first, so that it lives until both returned.
 * Releasing a buffer the pool did not hand out (the loss gradient, a test's array) does nothing.
 *
 * <p>Two policies. <b>Shared</b> ({@link Model#lossAndGrad}): a released buffer goes back to a free list
 * of its exact size and the next acquire of that size takes it, so a chain of layers ping-pongs between
 * two buffers per size and a residual block adds one for its branch sum. Every shared pass starts with
 * {@link #startSharedPass}, which returns every buffer, so each step makes the same choices: buffers are
 * allocated during the first backward of each batch size and reused from then on. <b>Per layer</b> (the
 * default, and {@link Model#curvatureProduct}): each acquiring layer keeps its own buffer for the life of
 * the model, because the R-backward of an exact Hessian-vector product re-reads the dy every layer saw
 * in the ordinary backward; release is then a no-op.
 */
public final class GradientPool {
    private final Context ctx;
    private boolean shared;
    /** Shared policy: free buffers by size in floats, and the reference count of each buffer handed out. */
    private final Map<Long, ArrayDeque<MemorySegment>> free = new HashMap<>();
    private final Map<MemorySegment, Integer> live = new IdentityHashMap<>();
    private final Map<MemorySegment, Long> sizeOf = new IdentityHashMap<>();
    /** Per-layer policy: each owner's buffer. */
    private final Map<Object, MemorySegment> owned = new IdentityHashMap<>();
    private long sharedBytes;

    GradientPool(Context ctx) {
        this.ctx = ctx;
    }

    /**
     * Switches to the shared policy and returns every shared buffer to the free lists (a pass that failed
     * half-way leaves nothing held). Called by {@link Model} before each training backward.
     */
    void startSharedPass() {
        shared = true;
        for (MemorySegment g : live.keySet()) free.computeIfAbsent(sizeOf.get(g), s -> new ArrayDeque<>()).push(g);
        live.clear();
    }

    /** Switches to the per-layer policy (each layer keeps its dx), as the R-operator's passes need. */
    void usePerLayerBuffers() {
        shared = false;
    }

    /** Whether buffers are shared by liveness right now. */
    public boolean shared() {
        return shared;
    }

    /** A gradient buffer of at least {@code floats} floats for {@code owner}'s dx (or another role's object). */
    public MemorySegment acquire(Object owner, long floats) {
        if (!shared) {
            MemorySegment g = ctx.ensure(owned.get(owner), floats);
            owned.put(owner, g);
            return g;
        }
        ArrayDeque<MemorySegment> list = free.get(floats);
        MemorySegment g = list == null || list.isEmpty() ? newShared(floats) : list.pop();
        live.put(g, 1);
        return g;
    }

    private MemorySegment newShared(long floats) {
        MemorySegment g = ctx.ensure(null, floats);
        sizeOf.put(g, floats);
        sharedBytes += g.byteSize();
        return g;
    }

    /** One more reader of {@code g}: it is freed after one more {@link #release}. */
    public void retain(MemorySegment g) {
        Integer count = g == null ? null : live.get(g);
        if (count != null) live.put(g, count + 1);
    }

    /** One reader of {@code g} is done with it (null and buffers not from this pool: nothing happens). */
    public void release(MemorySegment g) {
        Integer count = g == null ? null : live.get(g);
        if (count == null) return;
        if (count > 1) {
            live.put(g, count - 1);
        } else {
            live.remove(g);
            free.computeIfAbsent(sizeOf.get(g), s -> new ArrayDeque<>()).push(g);
        }
    }

    /** Shared buffers handed out and not yet released (0 after a complete backward). */
    public int liveBuffers() {
        return live.size();
    }

    /** Distinct buffers ever allocated: shared ones plus per-layer ones. */
    public int buffers() {
        return sizeOf.size() + owned.size();
    }

    /** Bytes of the shared buffers. */
    public long sharedBytes() {
        return sharedBytes;
    }

    /** Bytes of the per-layer buffers. */
    public long perLayerBytes() {
        long bytes = 0;
        for (MemorySegment g : owned.values()) bytes += g.byteSize();
        return bytes;
    }
}
