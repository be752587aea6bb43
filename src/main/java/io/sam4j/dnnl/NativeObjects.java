package io.sam4j.dnnl;

import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.function.Consumer;

/**
 * Owns native oneDNN objects and destroys them in reverse order of creation on {@link #close()}, so a
 * half-built kernel (a creation call failed midway) is cleaned up like a finished one.
 */
final class NativeObjects implements AutoCloseable {
    private record Owned(MemorySegment handle, Consumer<MemorySegment> destroy) {}

    private final ArrayDeque<Owned> owned = new ArrayDeque<>();

    /** Takes ownership of {@code handle}, to be released with {@code destroy}. */
    MemorySegment own(MemorySegment handle, Consumer<MemorySegment> destroy) {
        owned.push(new Owned(handle, destroy));
        return handle;
    }

    MemorySegment memoryDesc(int tag, long... dims) {
        return own(Dnnl.memoryDescCreate(tag, dims), Dnnl::memoryDescDestroy);
    }

    /** Like {@link #memoryDesc(int, long...)} with data type {@code dataType}. */
    MemorySegment memoryDescOfType(int dataType, int tag, long... dims) {
        return own(Dnnl.memoryDescCreate(dataType, tag, dims), Dnnl::memoryDescDestroy);
    }

    /** A descriptor with explicit strides (elements), e.g. a transposed view of a row-major matrix. */
    MemorySegment memoryDescStrided(int dataType, long[] dims, long[] strides) {
        return own(Dnnl.memoryDescCreateWithStrides(dataType, dims, strides), Dnnl::memoryDescDestroy);
    }

    MemorySegment memory(MemorySegment md, MemorySegment engine) {
        return own(Dnnl.memoryCreate(md, engine), Dnnl::memoryDestroy);
    }

    MemorySegment primitiveDesc(MemorySegment pd) {
        return own(pd, Dnnl::pdDestroy);
    }

    MemorySegment primitive(MemorySegment pd) {
        return own(Dnnl.primitiveCreate(pd), Dnnl::primitiveDestroy);
    }

    MemorySegment attrUserScratchpad() {
        return own(Dnnl.attrCreateUserScratchpad(), Dnnl::attrDestroy);
    }

    /** Destroys everything, even if one destroy fails; the first failure is rethrown at the end. */
    @Override
    public void close() {
        RuntimeException first = null;
        while (!owned.isEmpty()) {
            Owned o = owned.pop();
            try {
                o.destroy().accept(o.handle());
            } catch (RuntimeException e) {
                if (first == null) first = e;
            }
        }
        if (first != null) throw first;
    }
}
