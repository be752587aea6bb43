package io.sam4j.kernels;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * A fixed team of platform threads for data-parallel loops over the flat buffers and GEMM tiles.
 * The caller thread works too, so {@code threads = 1} runs everything inline with no hand-off.
 *
 * <p>Work items are claimed from a shared counter, but each item's result must depend only on its
 * index (fixed chunk boundaries), so reductions combined in index order are deterministic whatever
 * thread ran which item. Workers spin briefly after each task, then park until the next call
 * unparks them: hand-off stays fast inside a step, and an idle team (or a closed one) costs no CPU.
 */
public final class Parallel implements AutoCloseable {
    /** One forEach call: its own counters, so a late worker can never claim items of a newer call. */
    private static final class Task {
        final IntConsumer body;
        final int n;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();
        volatile Throwable failure;

        Task(IntConsumer body, int n) {
            this.body = body;
            this.n = n;
        }

        void run() {
            int i;
            while ((i = next.getAndIncrement()) < n) {
                try {
                    body.accept(i);
                } catch (Throwable t) {
                    failure = t;
                } finally {
                    done.incrementAndGet();
                }
            }
        }
    }

    /** ~20-50 microseconds of polling after each task before a worker parks. */
    private static final int SPIN_AFTER_TASK = 2_000;

    private final int threads;
    private final Thread[] workers;
    private volatile Task current;
    private volatile boolean closed;

    private static volatile Parallel common;

    public Parallel(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            Thread t = new Thread(this::workerLoop, "sam4j-worker-" + (i + 1));
            t.setDaemon(true);
            workers[i] = t;
            t.start();
        }
    }

    /** The process-wide team, sized by {@link #setCommonThreads} (default: available processors). */
    public static Parallel common() {
        Parallel p = common;
        if (p == null) {
            synchronized (Parallel.class) {
                if (common == null) common = new Parallel(Runtime.getRuntime().availableProcessors());
                p = common;
            }
        }
        return p;
    }

    /** Replaces the process-wide team with one of {@code n} threads. */
    public static synchronized void setCommonThreads(int n) {
        if (common != null && common.threads == n) return;
        if (common != null) common.close();
        common = new Parallel(n);
    }

    public int threads() {
        return threads;
    }

    /** Runs {@code body.accept(i)} for every i in [0, n) across the team; returns when all are done. */
    public synchronized void forEach(int n, IntConsumer body) {
        if (n <= 0) return;
        if (threads == 1 || n == 1) {
            for (int i = 0; i < n; i++) body.accept(i);
            return;
        }
        Task task = new Task(body, n);
        current = task;
        for (Thread t : workers) LockSupport.unpark(t);
        task.run();
        int spins = 0;
        while (task.done.get() < n) {
            if (++spins < 100_000) Thread.onSpinWait();
            else LockSupport.parkNanos(1000);
        }
        current = null;
        Throwable f = task.failure;
        if (f != null) {
            if (f instanceof RuntimeException re) throw re;
            if (f instanceof Error e) throw e;
            throw new RuntimeException(f);
        }
    }

    private void workerLoop() {
        Task last = null;
        while (!closed) {
            Task t = current;
            if (t != null && t != last) {
                last = t;
                t.run();
                // Spin briefly for the next loop (a training step issues many short loops back to
                // back), then park until forEach unparks us: an idle team costs no CPU.
                for (int s = 0; s < SPIN_AFTER_TASK && !closed; s++) {
                    Task c = current;
                    if (c != null && c != last) break;
                    Thread.onSpinWait();
                }
                continue;
            }
            LockSupport.park(this);
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Thread t : workers) LockSupport.unpark(t);
    }
}
