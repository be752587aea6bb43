package io.sam4j.data;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.NoSuchElementException;
import java.util.Objects;

/**
 * Prepares the training batches of upcoming steps on one background daemon thread, so that the trainer does
 * not wait for shuffling, normalisation and augmentation.
 *
 * <p>Step {@code s} (counted from the start of training) is batch {@code s mod batchesPerEpoch} of epoch
 * {@code s / batchesPerEpoch}: exactly what {@link #fill(Batcher, Augmentation, long, MemorySegment, int[])}
 * writes, i.e. {@link Batcher#fill} followed by {@link Augmentation#apply(MemorySegment, int, int, int)}. The
 * loader thread fills the steps {@code startStep, startStep+1, ..., totalSteps-1} in order into a ring of
 * {@code depth} (default 3) batch buffers allocated once from a shared arena, running at most {@code depth}
 * steps ahead of the consumer; {@link #next} hands them out in the same order, copying the batch into the
 * caller's buffers (1.5 MB for 128 CIFAR images, negligible next to a training step). Since every batch is a
 * pure function of its step, the sequence is the same whatever the timing of the two threads, and a run
 * resumed at step s (pass it as {@code startStep}) sees the same batches as an uninterrupted one.
 *
 * <p>If preparing a batch fails, the batches before it are still delivered and the call of {@code next} for
 * the failing step rethrows the loader thread's exception itself (same type and message, e.g. a
 * {@link DataException}); so does every later call.
 *
 * <p>From construction until {@link #close} the loader thread uses the Batcher and the Augmentation
 * exclusively: do not call them elsewhere meanwhile (both are single-threaded; the Dataset and Normalizer
 * behind them are immutable and may be shared). {@code next} and {@code close} are for one consumer thread;
 * {@code close} stops and joins the loader thread (it finishes at most the batch in progress) and frees the
 * buffers. Allocates nothing per batch.
 */
public final class BatchLoader implements AutoCloseable {
    /** Batches prepared ahead by default: triple buffering. */
    public static final int DEFAULT_DEPTH = 3;

    /** Writes the batch of one step; package-private so tests can inject failures. */
    @FunctionalInterface
    interface Source {
        void fill(long step, MemorySegment x, int[] labels);
    }

    private final Source source;
    private final long start, total;
    private final int depth, batchSize;
    private final long batchBytes;
    private final int perEpoch;
    private final Arena arena;
    private final MemorySegment[] xs;
    private final int[][] labs;
    private final Throwable[] errors;

    private final Object lock = new Object();
    private long produced; // steps [start, produced) are ready or failed (guarded by lock)
    private long consumed; // the next step next() delivers; all before it were handed out (guarded by lock)
    private boolean closed; // guarded by lock
    private Throwable fatal; // the loader thread stopped without preparing step `produced` (guarded by lock)
    private Throwable failure; // consumer side: sticky once a failed step was reached
    private long waitNanos; // consumer side
    private final Thread thread;

    /**
     * Starts the loader thread with {@value #DEFAULT_DEPTH} buffers.
     *
     * @param batcher    the training batcher (used only by the loader thread from now on)
     * @param augOrNull  applied to every batch after normalisation, or null for none
     * @param startStep  the first step to deliver (0, or the step a resumed run continues from)
     * @param totalSteps the number of steps of the whole run; steps {@code [startStep, totalSteps)} are delivered
     */
    public BatchLoader(Batcher batcher, Augmentation augOrNull, long startStep, long totalSteps) {
        this(batcher, augOrNull, startStep, totalSteps, DEFAULT_DEPTH);
    }

    /** As {@link #BatchLoader(Batcher, Augmentation, long, long)} with {@code depth} (at least 1) buffers. */
    public BatchLoader(Batcher batcher, Augmentation augOrNull, long startStep, long totalSteps, int depth) {
        this(stepSource(batcher, augOrNull), batcher.batchesPerEpoch(), batcher.batchSize(), batcher.batchBytes(),
                startStep, totalSteps, depth);
    }

    BatchLoader(Source source, int batchesPerEpoch, int batchSize, long batchBytes, long startStep, long totalSteps,
                int depth) {
        this.source = Objects.requireNonNull(source);
        if (batchesPerEpoch <= 0) throw new IllegalArgumentException("no batches per epoch: " + batchesPerEpoch);
        if (depth < 1) throw new IllegalArgumentException("loader depth must be >= 1, got " + depth);
        if (startStep < 0 || totalSteps < startStep) {
            throw new IllegalArgumentException("steps [" + startStep + ", " + totalSteps + ") are not a valid range");
        }
        if ((totalSteps - 1) / batchesPerEpoch > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(totalSteps + " steps exceed the int range of epochs");
        }
        this.perEpoch = batchesPerEpoch;
        this.batchSize = batchSize;
        this.batchBytes = batchBytes;
        this.start = startStep;
        this.total = totalSteps;
        this.depth = depth;
        this.produced = startStep;
        this.consumed = startStep;
        this.arena = Arena.ofShared();
        this.xs = new MemorySegment[depth];
        this.labs = new int[depth][batchSize];
        this.errors = new Throwable[depth];
        try {
            for (int i = 0; i < depth; i++) xs[i] = arena.allocate(batchBytes, 64);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
        this.thread = Thread.ofPlatform().daemon().name("sam4j-batch-loader").unstarted(this::produce);
        thread.start();
    }

    private static Source stepSource(Batcher batcher, Augmentation aug) {
        Objects.requireNonNull(batcher);
        return (step, x, labels) -> fill(batcher, aug, step, x, labels);
    }

    /**
     * The batch of training step {@code step}, synchronously: {@code batcher.fill(epoch, index, x, labels)} with
     * {@code epoch = step / batchesPerEpoch} and {@code index = step % batchesPerEpoch}, then, unless
     * {@code augOrNull} is null, {@code augOrNull.apply(x, batchSize, epoch, index)}. The loader delivers
     * exactly this; use it where no background thread is wanted.
     */
    public static void fill(Batcher batcher, Augmentation augOrNull, long step, MemorySegment x, int[] labels) {
        int perEpoch = batcher.batchesPerEpoch();
        int epoch = Math.toIntExact(step / perEpoch);
        int index = (int) (step % perEpoch);
        batcher.fill(epoch, index, x, labels);
        if (augOrNull != null) augOrNull.apply(x, batcher.batchSize(), epoch, index);
    }

    /**
     * Copies the batch of the next step into {@code x} (at least {@code 4*B*C*H*W} bytes) and {@code labels}
     * (at least B entries), waiting for the loader thread if it is not ready yet.
     *
     * @throws NoSuchElementException if all steps up to {@code totalSteps} were delivered
     * @throws IllegalStateException  after {@link #close}, or if the waiting thread is interrupted
     * @throws RuntimeException       the loader thread's own exception if preparing this batch failed
     */
    public void next(MemorySegment x, int[] labels) {
        if (failure != null) throw rethrow(failure);
        if (x.byteSize() < batchBytes) {
            throw new IllegalArgumentException("batch buffer has " + x.byteSize() + " bytes, need " + batchBytes);
        }
        if (labels.length < batchSize) {
            throw new IllegalArgumentException("label buffer has " + labels.length + " entries, need " + batchSize);
        }
        long s;
        synchronized (lock) {
            if (closed) throw new IllegalStateException("batch loader is closed");
            s = consumed;
            if (s >= total) {
                throw new NoSuchElementException("batch loader: all steps up to " + total + " were delivered");
            }
            if (produced <= s) {
                long t0 = System.nanoTime();
                try {
                    while (produced <= s && !closed && fatal == null) lock.wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while waiting for the batch of step " + s, e);
                } finally {
                    waitNanos += System.nanoTime() - t0;
                }
                if (closed) throw new IllegalStateException("batch loader is closed");
                if (produced <= s) {
                    failure = fatal;
                    throw rethrow(fatal);
                }
            }
        }
        int slot = (int) (s % depth);
        Throwable err = errors[slot];
        if (err != null) {
            failure = err;
            throw rethrow(err);
        }
        MemorySegment.copy(xs[slot], 0, x, 0, batchBytes);
        System.arraycopy(labs[slot], 0, labels, 0, batchSize);
        synchronized (lock) {
            consumed = s + 1;
            lock.notifyAll();
        }
    }

    /** The step the next call of {@link #next} delivers. */
    public long nextStep() {
        synchronized (lock) {
            return consumed;
        }
    }

    /** The first step delivered. */
    public long startStep() { return start; }

    /** The end of the range of steps delivered (exclusive). */
    public long totalSteps() { return total; }

    /** Batches per epoch of the underlying batcher. */
    public int batchesPerEpoch() { return perEpoch; }

    /** Number of batch buffers (how far the loader may run ahead). */
    public int depth() { return depth; }

    /**
     * Total time {@link #next} spent waiting for the loader thread, in nanoseconds (0 when data loading is
     * always ahead of training). Call from the consumer thread.
     */
    public long waitNanos() { return waitNanos; }

    /** Stops and joins the loader thread and frees the buffers. Idempotent. */
    @Override
    public void close() {
        synchronized (lock) {
            if (closed) return;
            closed = true;
            lock.notifyAll();
        }
        boolean interrupted = false;
        while (true) {
            try {
                thread.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        arena.close();
        if (interrupted) Thread.currentThread().interrupt();
    }

    /** The loader thread (for tests). */
    Thread thread() { return thread; }

    private void produce() {
        for (long s = start; s < total; s++) {
            synchronized (lock) {
                try {
                    while (!closed && s - consumed >= depth) lock.wait();
                } catch (InterruptedException e) { // close() does not interrupt; someone else did
                    fatal = new IllegalStateException("batch loader thread interrupted before step " + s, e);
                    lock.notifyAll();
                    return;
                }
                if (closed) return;
            }
            int slot = (int) (s % depth);
            Throwable err = null;
            try {
                source.fill(s, xs[slot], labs[slot]);
            } catch (Throwable t) {
                err = t;
            }
            synchronized (lock) {
                errors[slot] = err;
                produced = s + 1;
                lock.notifyAll();
            }
            if (err != null) return;
        }
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t.getMessage(), t);
    }
}
