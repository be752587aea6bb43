package io.sam4j.kernels;

import java.lang.foreign.MemorySegment;

/**
 * Whole-buffer BLAS-1 operations over [0, n) floats, split into fixed chunks of {@link #CHUNK} floats
 * across a {@link Parallel} team; reductions combine chunk sums in chunk order (deterministic).
 * TODO(helper): implement with Parallel + KernelsProvider.get().
 */
public final class FlatOps {
    public static final int CHUNK = 1 << 16;

    private final Kernels k;
    private final Parallel par;

    public FlatOps(Kernels k, Parallel par) {
        this.k = k;
        this.par = par;
    }

    /** One chunk of a fused pass: floats [from, to) of every buffer, chunk number {@code index}. */
    @FunctionalInterface
    public interface ChunkBody {
        void run(int index, long from, long to);
    }

    public static int chunks(long n) {
        return (int) ((n + CHUNK - 1) / CHUNK);
    }

    /** Runs {@code body} over fixed chunks of [0, n) across the team. */
    public void forChunks(long n, ChunkBody body) {
        int c = chunks(n);
        par.forEach(c, i -> {
            long from = (long) i * CHUNK;
            body.run(i, from, Math.min(n, from + CHUNK));
        });
    }

    public Kernels kernels() { return k; }
    public Parallel parallel() { return par; }
    public double sumSquares(MemorySegment x, long n) { return k.sumSquares(x, 0, n); }
    public double dot(MemorySegment x, MemorySegment y, long n) { return k.dot(x, y, 0, n); }
    public void axpy(float a, MemorySegment x, MemorySegment y, long n) { k.axpy(a, x, y, 0, n); }
    public void scale(float a, MemorySegment x, long n) { k.scale(a, x, 0, n); }
    public void copy(MemorySegment src, MemorySegment dst, long n) { k.copy(src, dst, 0, n); }
    public void fill(float v, MemorySegment x, long n) { k.fill(v, x, 0, n); }
}
