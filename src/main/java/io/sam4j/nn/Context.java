package io.sam4j.nn;

import io.sam4j.kernels.Kernels;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * What layers share: the thread team, the element-wise kernel implementation, the convolution
 * backend, and the arena their activation workspaces live in (shared, because the team's threads
 * write them). Closing the context (with the model) closes the convolution kernels made through it,
 * the backend, and the arena.
 */
public final class Context implements AutoCloseable {
    private final Parallel par;
    private final Kernels kernels;
    private final ConvBackend convBackend;
    private final List<ConvKernel> convKernels = new ArrayList<>();
    private final Arena arena = Arena.ofShared();

    /** With the pure-Java convolution backend. */
    public Context(Parallel par, Kernels kernels) {
        this(par, kernels, new JavaConvBackend(par));
    }

    /** The context takes ownership of {@code convBackend} and closes it. */
    public Context(Parallel par, Kernels kernels, ConvBackend convBackend) {
        this.par = par;
        this.kernels = kernels;
        this.convBackend = convBackend;
    }

    public static Context defaults() {
        return new Context(Parallel.common(), KernelsProvider.get());
    }

    public Parallel parallel() {
        return par;
    }

    public Kernels kernels() {
        return kernels;
    }

    public ConvBackend convBackend() {
        return convBackend;
    }

    /** A kernel from the backend, closed with this context (layers cache it per batch size). */
    public synchronized ConvKernel convKernel(ConvShape shape, boolean bias) {
        ConvKernel k = convBackend.conv(shape, bias);
        convKernels.add(k);
        return k;
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
    public synchronized void close() {
        for (ConvKernel k : convKernels) k.close();
        convKernels.clear();
        convBackend.close();
        arena.close();
    }
}
