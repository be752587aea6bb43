package io.sam4j.kernels;

import java.lang.foreign.MemorySegment;

/**
 * Whole-buffer BLAS-1 operations over [0, n) floats, split into fixed chunks of {@link #CHUNK} floats
 * across a {@link Parallel} team; reductions combine chunk sums in chunk order, so results are
 * bit-identical whatever the thread count or scheduling.
 *
 * <p>{@link #forChunks} exposes the chunking so callers can build their own fused passes: the optimizers
 * run their kernels per chunk into per-chunk partial sums they allocate once ({@link #chunks}) and combine in
 * chunk order, so a step allocates nothing. {@link #reduce} does the same for one-off reductions (the
 * bandwidth benchmark, e.g. {@code reduce(n, 2, (f, t, acc) -> k.directionStats(..., f, t, ..., acc))}): a
 * buffer that fits in one chunk runs inline with no allocation; larger ones allocate one small partial-sum
 * array per call (n / CHUNK doubles), which keeps a shared FlatOps safe to call from several threads.
 */
public final class FlatOps {
    public static final int CHUNK = 1 << 16;

    /** One chunk's share of a fused pass: floats [from, to) of chunk {@code chunkIndex}. */
    @FunctionalInterface
    public interface ChunkBody {
        void run(int chunkIndex, long from, long to);
    }

    /** One chunk's share of a reduction: add this chunk's sums into {@code acc} (fresh zeros per chunk). */
    @FunctionalInterface
    public interface ReduceBody {
        void run(long from, long to, double[] acc);
    }

    private final Kernels k;
    private final Parallel par;

    public FlatOps(Kernels k, Parallel par) {
        this.k = k;
        this.par = par;
    }

    public Kernels kernels() { return k; }

    public Parallel parallel() { return par; }

    /** Number of chunks covering n floats. */
    public static int chunks(long n) {
        if (n < 0) throw new IllegalArgumentException("n < 0: " + n);
        return Math.toIntExact((n + CHUNK - 1) / CHUNK);
    }

    /** Runs {@code body} on every chunk of [0, n) across the team; returns when all are done. */
    public void forChunks(long n, ChunkBody body) {
        int c = chunks(n);
        if (c == 1) body.run(0, 0, n);
        else if (c > 1) par.forEach(c, i -> body.run(i, (long) i * CHUNK, Math.min(n, (long) (i + 1) * CHUNK)));
    }

    /** Sums a {@code width}-wide reduction over [0, n): per-chunk partials, combined in chunk order. */
    public double[] reduce(long n, int width, ReduceBody body) {
        int c = chunks(n);
        double[] out = new double[width];
        if (c == 1) {
            body.run(0, n, out);
            return out;
        }
        double[] partial = new double[c * width];
        forChunks(n, (i, from, to) -> {
            double[] acc = new double[width];
            body.run(from, to, acc);
            System.arraycopy(acc, 0, partial, i * width, width);
        });
        for (int i = 0; i < c; i++) {
            for (int j = 0; j < width; j++) out[j] += partial[i * width + j];
        }
        return out;
    }

    /** Single-value reduction without the per-chunk arrays of {@link #reduce}. */
    private double sum(long n, ChunkSum f) {
        int c = chunks(n);
        if (c <= 1) return c == 0 ? 0 : f.apply(0, n);
        double[] partial = new double[c];
        forChunks(n, (i, from, to) -> partial[i] = f.apply(from, to));
        double s = 0;
        for (double p : partial) s += p;
        return s;
    }

    @FunctionalInterface
    private interface ChunkSum {
        double apply(long from, long to);
    }

    public double sumSquares(MemorySegment x, long n) {
        return sum(n, (from, to) -> k.sumSquares(x, from, to));
    }

    public double dot(MemorySegment x, MemorySegment y, long n) {
        return sum(n, (from, to) -> k.dot(x, y, from, to));
    }

    public void axpy(float a, MemorySegment x, MemorySegment y, long n) {
        forChunks(n, (i, from, to) -> k.axpy(a, x, y, from, to));
    }

    public void scale(float a, MemorySegment x, long n) {
        forChunks(n, (i, from, to) -> k.scale(a, x, from, to));
    }

    public void scaleTo(float a, MemorySegment src, MemorySegment dst, long n) {
        forChunks(n, (i, from, to) -> k.scaleTo(a, src, dst, from, to));
    }

    public void copy(MemorySegment src, MemorySegment dst, long n) {
        forChunks(n, (i, from, to) -> k.copy(src, dst, from, to));
    }

    public void fill(float v, MemorySegment x, long n) {
        forChunks(n, (i, from, to) -> k.fill(v, x, from, to));
    }
}
