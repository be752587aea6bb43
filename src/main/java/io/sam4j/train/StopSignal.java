package io.sam4j.train;

import java.util.concurrent.atomic.AtomicReference;
import sun.misc.Signal;

/**
 * SIGTERM and SIGINT as a request to stop: the first one is recorded for the training loop, which finishes its
 * step, checkpoints and exits 128 + the signal number (143, 130); a second one ends the process at once with
 * that status. Uses {@code sun.misc.Signal} (module jdk.unsupported, in every JDK): the JDK has no supported
 * API to handle a signal without exiting.
 */
public final class StopSignal {
    private final AtomicReference<String> requested = new AtomicReference<>();

    private StopSignal() {}

    /** Installs the handlers for this process (call once, before training). */
    public static StopSignal install() {
        StopSignal s = new StopSignal();
        for (String name : new String[] {"TERM", "INT"}) {
            Signal.handle(new Signal(name), sig -> {
                if (!s.requested.compareAndSet(null, sig.getName())) Runtime.getRuntime().halt(exitCode(sig.getName()));
                System.err.println("sam4j: SIG" + sig.getName() + ": finishing the step and writing a checkpoint "
                        + "(signal again to exit at once)");
            });
        }
        return s;
    }

    /** For tests and embedding: no handler; {@link #request} asks the run to stop as a signal would. */
    public static StopSignal manual() {
        return new StopSignal();
    }

    /** A stop request as if {@code signal} ("TERM" or "INT") had arrived. */
    public void request(String signal) {
        requested.compareAndSet(null, signal);
    }

    /** The signal's name ("TERM", "INT") once one arrived, else null. */
    public String requested() {
        return requested.get();
    }

    static int exitCode(String signal) {
        return 128 + (signal.equals("INT") ? 2 : 15);
    }
}
