package io.sam4j.dnnl;

import static io.sam4j.dnnl.Dnnl.*;

import io.sam4j.dnnl.Workspace.Slot;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * What every oneDNN kernel of a backend holds: its native objects, the memory objects that work in the backend's
 * shared {@link Workspace} (rebound when it grows), and primitives with their exec-arg arrays, all made at
 * construction so a call allocates nothing native. Subclasses build their primitives with {@link #step},
 * {@link #reorder} and {@link #internal}, then call {@link #prepare} and {@link #bind} on every call.
 */
abstract class OneDnnKernel implements AutoCloseable {
    protected final OneDnnConvBackend backend;
    protected final NativeObjects objects = new NativeObjects();
    protected final Arena arena = Arena.ofShared(); // exec-arg arrays and small constant buffers
    private final String what; // for messages, e.g. "oneDNN convolution ConvShape[...]"
    private final List<Internal> internals = new ArrayList<>();
    private final long[] workspaceNeed = new long[Slot.values().length];
    private int boundGeneration = -1;
    private boolean closed;

    /** A memory object working in a workspace slot. */
    private record Internal(MemorySegment memory, Slot slot) {}

    /** A primitive with its exec-arg array. */
    record Step(MemorySegment primitive, MemorySegment args, int nargs) {
        void run(MemorySegment stream) {
            primitiveExecute(primitive, stream, nargs, args);
        }
    }

    OneDnnKernel(OneDnnConvBackend backend, String what) {
        this.backend = backend;
        this.what = what;
    }

    /** A memory object of descriptor {@code md} in workspace slot {@code slot}, which grows to hold it. */
    protected MemorySegment internal(MemorySegment md, Slot slot) {
        MemorySegment mem = objects.memory(md, backend.engine());
        internals.add(new Internal(mem, slot));
        need(slot, memoryDescSize(md));
        return mem;
    }

    protected void need(Slot slot, long bytes) {
        workspaceNeed[slot.ordinal()] = Math.max(workspaceNeed[slot.ordinal()], bytes);
    }

    /** The primitive of {@code pd} and its exec-arg array, plus a scratchpad argument if it needs one. */
    protected Step step(MemorySegment pd, int[] ids, MemorySegment[] memories) {
        MemorySegment scratchMd = pdQueryMd(pd, QUERY_SCRATCHPAD_MD, 0);
        boolean scratch = memoryDescSize(scratchMd) > 0;
        int nargs = ids.length + (scratch ? 1 : 0);
        MemorySegment args = arena.allocate(EXEC_ARG, nargs);
        for (int i = 0; i < ids.length; i++) setExecArg(args, i, ids[i], memories[i]);
        if (scratch) setExecArg(args, ids.length, ARG_SCRATCHPAD, internal(scratchMd, Slot.SCRATCHPAD));
        return new Step(objects.primitive(pd), args, nargs);
    }

    /** A reorder (layout change and/or cast) from one memory object into another. */
    protected Step reorder(MemorySegment fromMd, MemorySegment from, MemorySegment toMd, MemorySegment to, MemorySegment attr) {
        MemorySegment pd = objects.primitiveDesc(reorderPd(backend.engine(), fromMd, toMd, attr));
        return step(pd, new int[] {ARG_FROM, ARG_TO}, new MemorySegment[] {from, to});
    }

    /** The implementation oneDNN picked for the last {@link #matmul} made, e.g. "brg_matmul:avx10_1_512_amx". */
    protected String matmulImplementation = "?";

    /**
     * dst = src x weights (+ bias): a matmul primitive over the given memory objects, 2-D descriptors (strided
     * views welcome); {@code bias} null for none.
     */
    protected Step matmul(MemorySegment srcMd, MemorySegment src, MemorySegment weightsMd, MemorySegment weights,
            MemorySegment biasMd, MemorySegment bias, MemorySegment dstMd, MemorySegment dst, MemorySegment attr) {
        MemorySegment pd = objects.primitiveDesc(matmulPd(backend.engine(), srcMd, weightsMd, biasMd, dstMd, attr));
        matmulImplementation = pdImplInfo(pd);
        return bias != null
                ? step(pd, new int[] {ARG_SRC, ARG_WEIGHTS, ARG_BIAS, ARG_DST}, new MemorySegment[] {src, weights, bias, dst})
                : step(pd, new int[] {ARG_SRC, ARG_WEIGHTS, ARG_DST}, new MemorySegment[] {src, weights, dst});
    }

    /** Before a call: open, the workspace grown to this kernel's needs and the internal memories bound to it. */
    protected void prepare() {
        if (closed) throw new IllegalStateException(what + " is closed");
        ompSetNumThreads(backend.threads()); // a per-thread OpenMP setting: set it on the calling thread
        Workspace ws = backend.workspace();
        ws.fit(workspaceNeed);
        if (ws.generation() != boundGeneration) {
            for (Internal i : internals) memorySetDataHandle(i.memory(), ws.buffer(i.slot()));
            boundGeneration = ws.generation();
        }
    }

    /** Points a user-layout memory object at the caller's segment, checking that it is native and large enough. */
    protected void bind(MemorySegment memory, MemorySegment data, long floats, String name) {
        if (data == null) throw new NullPointerException(name);
        if (!data.isNative()) throw new IllegalArgumentException(name + " must be an off-heap segment (oneDNN reads it natively)");
        if (data.byteSize() < 4 * floats) {
            throw new IllegalArgumentException(name + " holds " + data.byteSize() / 4 + " floats, " + what + " needs " + floats);
        }
        memorySetDataHandle(memory, data);
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        backend.forget(this);
        release();
    }

    /** Frees the native objects (also for a kernel whose construction failed midway). */
    protected void release() {
        try {
            objects.close();
        } finally {
            arena.close();
        }
    }
}
