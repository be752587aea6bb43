package io.sam4j.nn;

import io.sam4j.kernels.Kernels;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * What layers share: the thread team, the kernel implementation, and the arena their activation
 * workspaces live in (shared, because the team's threads write them; closed with the model).
 */
public final class Context implements AutoCloseable {
    private final Parallel par;
    private final Kernels kernels;
    private final Arena arena = Arena.ofShared();

    public Context(Parallel par, Kernels kernels) {
        this.par = par;
        this.kernels = kernels;
    }

    public static Context defaults() {
        return new Context(Parallel.common(), KernelsProvider.get());
    }

    public Parallel parallel() {
        return par;
    }

    /** The convolution backend's name, for logs ("java" until a conv backend is attached). */
    public String convBackendName() {
        return "java";
    }

    public Kernels kernels() {
        return kernels;
    }

    /**
     * Returns {@code current} if it holds at least {@code floats} floats, else a new 64-byte-aligned
     * buffer. Workspaces grow to the largest batch seen, then stay: no allocation in the steady state.
     */
    public MemorySegment ensure(MemorySegment current, long floats) {
        if (current != null && current.byteSize() >= 4L * floats) return current;
        return arena.allocate(4L * Math.max(floats, 1), 64);
    }

    @Override
    public void close() {
        arena.close();
    }
}
