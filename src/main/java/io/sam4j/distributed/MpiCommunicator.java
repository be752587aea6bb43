package io.sam4j.distributed;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * MPI through the FFM API: Open MPI's C library ({@code libmpi.so.40}) called directly, no JNI, no
 * Java bindings. One per process ({@link #init()}); MPI can be initialised only once per process.
 *
 * <p><b>Threads.</b> {@link #init()} calls {@code MPI_Init_thread} requesting
 * {@code MPI_THREAD_FUNNELED}: only the thread that initialised MPI may make MPI calls, while other
 * threads (sam4j's {@link io.sam4j.kernels.Parallel} workers, oneDNN's OpenMP team) compute. The
 * collectives check that they are called from that thread. {@link #close()} and {@link #abort} may be
 * called from any thread (the JVM runs shutdown hooks and uncaught-exception handlers on other
 * threads; Open MPI tolerates this for finalize and abort).
 *
 * <p><b>Errors.</b> MPI_COMM_WORLD's error handler is set to {@code MPI_ERRORS_RETURN}, so a failing
 * call returns a code, which becomes an {@link MpiException} naming the call and the rank. (Errors
 * inside {@code MPI_Init_thread} itself still abort, as MPI defines.)
 *
 * <p><b>Failure of one rank.</b> A rank that fails must end the whole job, or the others wait forever
 * in their next collective: {@link #abort} calls {@code MPI_Abort}, after which mpirun kills every
 * rank. {@link #runGuarded} does that for any Throwable; an exception escaping the initialising
 * thread (e.g. out of {@code main}) aborts too, through that thread's uncaught-exception handler.
 * A rank that dies without finalizing (SIGKILL, {@code Runtime.halt}, a crash) makes mpirun kill the
 * others.
 *
 * <p><b>Shutdown.</b> Call {@link #close()} on every rank after the last collective
 * ({@code MPI_Finalize} returns once all ranks have called it). If a JVM exits without it, a shutdown
 * hook finalizes, guarded by a watchdog: if the other ranks do not all finalize within
 * {@value #DEFAULT_FINALIZE_TIMEOUT_S} s (system property {@value #FINALIZE_TIMEOUT_PROPERTY}; 0 waits
 * forever), e.g. because this rank called {@code System.exit} while the others wait in a collective,
 * the rank halts without finalizing and mpirun ends the job. The hook does not finalize when the JVM
 * is shutting down in the middle of an MPI call (mpirun's SIGTERM after another rank aborted).
 *
 * <p>The Open MPI specifics (handle representation, constants, symbol names) are in
 * {@link OpenMpiAbi}.
 */
public final class MpiCommunicator implements Communicator {
    /** System property naming the MPI library to load (a soname or a path). */
    public static final String LIBRARY_PROPERTY = "sam4j.mpi.library";
    /** Environment variable naming the MPI library, used when the property is not set. */
    public static final String LIBRARY_ENV = "SAM4J_MPI_LIBRARY";
    /** System property: seconds the shutdown hook waits for MPI_Finalize before halting (0: forever). */
    public static final String FINALIZE_TIMEOUT_PROPERTY = "sam4j.mpi.finalizeTimeoutSeconds";
    public static final long DEFAULT_FINALIZE_TIMEOUT_S = 30;

    /** MPI counts are C ints: larger buffers go in several calls of at most this many elements. */
    static final int MAX_COUNT = Integer.MAX_VALUE;

    private static boolean initialized; // guarded by MpiCommunicator.class

    private enum State { OPEN, FINALIZED, ABORTED }

    private final String library;
    private final OpenMpiAbi abi;
    private final int maxCount;
    private final Thread owner;
    private final MethodHandle allreduce;
    private final MethodHandle bcast;
    private final MethodHandle barrierFn;
    private final MethodHandle abortFn;
    private final MethodHandle finalizeFn;
    private final MethodHandle errorStringFn;
    private final int threadLevel;
    private final int rank;
    private final int size;
    private final String version;
    private final String host;
    private final AtomicReference<State> state = new AtomicReference<>(State.OPEN);
    private final AtomicInteger inFlight = new AtomicInteger();
    private final Thread shutdownHook;

    /** Loads the configured library ({@link #configuredLibrary()}) and initialises MPI. */
    public static MpiCommunicator init() {
        return init(configuredLibrary());
    }

    /** Loads {@code library} (a soname such as "libmpi.so.40", or a path) and initialises MPI. */
    public static MpiCommunicator init(String library) {
        return init(library, MAX_COUNT);
    }

    /** As {@link #init(String)}, splitting collectives into calls of at most {@code maxCount} elements. */
    static synchronized MpiCommunicator init(String library, int maxCount) {
        if (initialized) {
            throw new IllegalStateException("MPI was already initialised in this process (MPI allows that only "
                    + "once per process); reuse the first communicator");
        }
        if (maxCount < 1) throw new IllegalArgumentException("maxCount must be >= 1, got " + maxCount);
        SymbolLookup lib = load(library);
        return new MpiCommunicator(lib, library, maxCount);
    }

    /** The library to load: {@value #LIBRARY_PROPERTY}, else ${@value #LIBRARY_ENV}, else libmpi.so.40. */
    public static String configuredLibrary() {
        String p = System.getProperty(LIBRARY_PROPERTY);
        if (p != null && !p.isBlank()) return p.strip();
        String e = System.getenv(LIBRARY_ENV);
        if (e != null && !e.isBlank()) return e.strip();
        return OpenMpiAbi.DEFAULT_LIBRARY;
    }

    static SymbolLookup load(String library) {
        try {
            return SymbolLookup.libraryLookup(library, Arena.global());
        } catch (RuntimeException e) {
            throw new IllegalStateException("cannot load the MPI library '" + library + "' (" + e.getMessage()
                    + "). sam4j's distributed mode needs Open MPI 4.x: install it (Debian/Ubuntu: apt-get install "
                    + "openmpi-bin libopenmpi-dev), or name the library with -D" + LIBRARY_PROPERTY + "=PATH or "
                    + LIBRARY_ENV + "=PATH", e);
        }
    }

    private MpiCommunicator(SymbolLookup lib, String library, int maxCount) {
        this.library = library;
        this.maxCount = maxCount;
        this.abi = new OpenMpiAbi(lib, library);
        this.owner = Thread.currentThread();
        var H = OpenMpiAbi.HANDLE;
        var P = ADDRESS;
        var I = JAVA_INT;
        MethodHandle initialized = fn(lib, "MPI_Initialized", FunctionDescriptor.of(I, P));
        MethodHandle initThread = fn(lib, "MPI_Init_thread", FunctionDescriptor.of(I, P, P, I, P));
        MethodHandle setErrhandler = fn(lib, "MPI_Comm_set_errhandler", FunctionDescriptor.of(I, H, H));
        MethodHandle commRank = fn(lib, "MPI_Comm_rank", FunctionDescriptor.of(I, H, P));
        MethodHandle commSize = fn(lib, "MPI_Comm_size", FunctionDescriptor.of(I, H, P));
        MethodHandle libVersion = fn(lib, "MPI_Get_library_version", FunctionDescriptor.of(I, P, P));
        MethodHandle procName = fn(lib, "MPI_Get_processor_name", FunctionDescriptor.of(I, P, P));
        allreduce = fn(lib, "MPI_Allreduce", FunctionDescriptor.of(I, P, P, I, H, H, H));
        bcast = fn(lib, "MPI_Bcast", FunctionDescriptor.of(I, P, I, H, I, H));
        barrierFn = fn(lib, "MPI_Barrier", FunctionDescriptor.of(I, H));
        abortFn = fn(lib, "MPI_Abort", FunctionDescriptor.of(I, H, I));
        finalizeFn = fn(lib, "MPI_Finalize", FunctionDescriptor.of(I));
        errorStringFn = fn(lib, "MPI_Error_string", FunctionDescriptor.of(I, I, P, P));

        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_INT);
            int rc = (int) initialized.invokeExact(out);
            check("MPI_Initialized", -1, rc);
            if (out.get(JAVA_INT, 0) != 0) {
                throw new IllegalStateException("MPI was already initialised in this process by other code");
            }
            MpiCommunicator.initialized = true; // from here on, MPI cannot be initialised again
            rc = (int) initThread.invokeExact(MemorySegment.NULL, MemorySegment.NULL,
                    OpenMpiAbi.THREAD_FUNNELED, out);
            check("MPI_Init_thread", -1, rc);
            threadLevel = out.get(JAVA_INT, 0);
            rc = (int) setErrhandler.invokeExact(abi.commWorld, abi.errorsReturn);
            check("MPI_Comm_set_errhandler", -1, rc);
            rc = (int) commRank.invokeExact(abi.commWorld, out);
            check("MPI_Comm_rank", -1, rc);
            rank = out.get(JAVA_INT, 0);
            rc = (int) commSize.invokeExact(abi.commWorld, out);
            check("MPI_Comm_size", rank, rc);
            size = out.get(JAVA_INT, 0);
            if (threadLevel < OpenMpiAbi.THREAD_FUNNELED) {
                int frc = (int) finalizeFn.invokeExact();
                state.set(State.FINALIZED);
                throw new IllegalStateException("MPI provides only thread level "
                        + OpenMpiAbi.threadLevelName(threadLevel) + " (MPI_Finalize returned " + frc
                        + "); sam4j runs compute threads beside the MPI thread and needs at least FUNNELED");
            }
            MemorySegment text = a.allocate(OpenMpiAbi.MAX_LIBRARY_VERSION_STRING + 1L);
            rc = (int) libVersion.invokeExact(text, out);
            version = rc == OpenMpiAbi.SUCCESS ? firstPart(text.getString(0)) : OpenMpiAbi.IMPLEMENTATION;
            text.fill((byte) 0);
            rc = (int) procName.invokeExact(text, out);
            host = rc == OpenMpiAbi.SUCCESS ? text.getString(0) : "?";
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("MPI initialisation failed: " + t, t);
        }

        shutdownHook = new Thread(this::onShutdown, "sam4j-mpi-shutdown");
        Runtime.getRuntime().addShutdownHook(shutdownHook);
        Thread.UncaughtExceptionHandler previous = owner.getUncaughtExceptionHandler();
        owner.setUncaughtExceptionHandler((t, e) -> {
            if (state.get() == State.OPEN) abortOnFailure(e);
            previous.uncaughtException(t, e);
        });
    }

    private static MethodHandle fn(SymbolLookup lib, String name, FunctionDescriptor fd) {
        MemorySegment addr = lib.find(name).orElseThrow(
                () -> new IllegalStateException("the MPI library has no function " + name));
        return Linker.nativeLinker().downcallHandle(addr, fd);
    }

    private static String firstPart(String libraryVersion) {
        String s = libraryVersion.strip();
        int comma = s.indexOf(',');
        return comma > 0 ? s.substring(0, comma) : s;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    /** The thread level MPI provided (1 = FUNNELED, ...). */
    public int threadLevel() {
        return threadLevel;
    }

    /** The library that was loaded, as named ("libmpi.so.40" or a path). */
    public String library() {
        return library;
    }

    @Override
    public void barrier() {
        enter("MPI_Barrier");
        try {
            check("MPI_Barrier", (int) barrierFn.invokeExact(abi.commWorld));
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        } finally {
            inFlight.decrementAndGet();
        }
    }

    @Override
    public void broadcast(MemorySegment floats, long count, int root) {
        checkBuffer(floats, count, 4);
        if (root < 0 || root >= size) {
            throw new IllegalArgumentException("root " + root + " out of range for " + size + " ranks");
        }
        bcastChunks(floats, count, root);
    }

    /** The MPI_Bcast loop without the Java-side argument checks (tests reach MPI's own checks with it). */
    void bcastChunks(MemorySegment floats, long count, int root) {
        enter("MPI_Bcast");
        try {
            for (long off = 0; off < count; off += maxCount) {
                int n = (int) Math.min(maxCount, count - off);
                MemorySegment chunk = floats.asSlice(4 * off, 4L * n);
                check("MPI_Bcast", (int) bcast.invokeExact(chunk, n, abi.floatType, root, abi.commWorld));
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        } finally {
            inFlight.decrementAndGet();
        }
    }

    @Override
    public void allReduceSum(MemorySegment floats, long count) {
        checkBuffer(floats, count, 4);
        enter("MPI_Allreduce");
        try {
            for (long off = 0; off < count; off += maxCount) {
                int n = (int) Math.min(maxCount, count - off);
                MemorySegment chunk = floats.asSlice(4 * off, 4L * n);
                check("MPI_Allreduce", (int) allreduce.invokeExact(OpenMpiAbi.IN_PLACE, chunk, n,
                        abi.floatType, abi.opSum, abi.commWorld));
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        } finally {
            inFlight.decrementAndGet();
        }
    }

    @Override
    public void allReduceSum(double[] values) {
        Objects.requireNonNull(values, "values");
        if (values.length == 0) return;
        enter("MPI_Allreduce");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(JAVA_DOUBLE, values.length);
            MemorySegment.copy(values, 0, buf, JAVA_DOUBLE, 0, values.length);
            check("MPI_Allreduce", (int) allreduce.invokeExact(OpenMpiAbi.IN_PLACE, buf, values.length,
                    abi.doubleType, abi.opSum, abi.commWorld));
            MemorySegment.copy(buf, JAVA_DOUBLE, 0, values, 0, values.length);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        } finally {
            inFlight.decrementAndGet();
        }
    }

    @Override
    public void abort(int code, String message) {
        int c = code == 0 ? 1 : code;
        System.out.flush();
        System.err.println("sam4j: rank " + rank + " of " + size + " aborting the job (exit code " + c + "): "
                + message);
        System.err.flush();
        if (state.getAndSet(State.ABORTED) == State.OPEN) {
            try {
                int rc = (int) abortFn.invokeExact(abi.commWorld, c); // does not return in Open MPI
                System.err.println("sam4j: rank " + rank + ": MPI_Abort returned " + rc);
            } catch (Throwable t) {
                System.err.println("sam4j: rank " + rank + ": MPI_Abort failed: " + t);
            }
        }
        Runtime.getRuntime().halt(c);
    }

    @Override
    public String describe() {
        return "mpi: " + version + ", rank " + rank + " of " + size + ", thread level "
                + OpenMpiAbi.threadLevelName(threadLevel) + ", host " + host + ", library " + library;
    }

    @Override
    public void close() {
        if (!state.compareAndSet(State.OPEN, State.FINALIZED)) return;
        if (Thread.currentThread() != shutdownHook) {
            try {
                Runtime.getRuntime().removeShutdownHook(shutdownHook);
            } catch (IllegalStateException shuttingDown) {
                // the JVM is exiting; the hook will find the state FINALIZED and do nothing
            }
        }
        int rc;
        try {
            rc = (int) finalizeFn.invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException("MPI_Finalize failed on rank " + rank + ": " + t, t);
        }
        check("MPI_Finalize", rc);
    }

    private void onShutdown() {
        if (state.get() != State.OPEN) return;
        if (inFlight.get() > 0) {
            // Killed in the middle of a collective (mpirun's SIGTERM after another rank failed):
            // finalizing would race the blocked call on another thread and could hang.
            System.err.println("sam4j: rank " + rank + ": JVM exiting during an MPI call; not finalizing");
            return;
        }
        long timeout = finalizeTimeoutSeconds();
        Thread watchdog = null;
        if (timeout > 0) {
            watchdog = Thread.ofPlatform().daemon().name("sam4j-mpi-finalize-watchdog").start(() -> {
                try {
                    Thread.sleep(timeout * 1000);
                } catch (InterruptedException done) {
                    return;
                }
                System.err.println("sam4j: rank " + rank + ": MPI_Finalize at JVM exit did not complete within "
                        + timeout + " s (other ranks still running or waiting in a collective; call "
                        + "Communicator.close() on every rank, and abort() on failure); halting this rank");
                System.err.flush();
                Runtime.getRuntime().halt(1);
            });
        }
        try {
            close();
        } catch (RuntimeException e) {
            System.err.println("sam4j: rank " + rank + ": " + e.getMessage());
        } finally {
            if (watchdog != null) watchdog.interrupt();
        }
    }

    static long finalizeTimeoutSeconds() {
        String p = System.getProperty(FINALIZE_TIMEOUT_PROPERTY);
        if (p == null || p.isBlank()) return DEFAULT_FINALIZE_TIMEOUT_S;
        try {
            return Math.max(0, Long.parseLong(p.strip()));
        } catch (NumberFormatException e) {
            return DEFAULT_FINALIZE_TIMEOUT_S;
        }
    }

    /** Checks state and thread, then counts the call as in flight (the caller decrements). */
    private void enter(String call) {
        State s = state.get();
        if (s != State.OPEN) {
            throw new IllegalStateException(call + " on rank " + rank + " after the communicator was "
                    + (s == State.FINALIZED ? "closed" : "aborted"));
        }
        if (threadLevel < OpenMpiAbi.THREAD_SERIALIZED && Thread.currentThread() != owner) {
            throw new IllegalStateException(call + " called on thread '" + Thread.currentThread().getName()
                    + "', but MPI was initialised with thread level " + OpenMpiAbi.threadLevelName(threadLevel)
                    + " on thread '" + owner.getName() + "': make every MPI call from that thread");
        }
        inFlight.incrementAndGet();
    }

    private void check(String call, int rc) {
        check(call, rank, rc);
    }

    private void check(String call, int r, int rc) {
        if (rc != OpenMpiAbi.SUCCESS) throw new MpiException(call, r, rc, errorString(rc));
    }

    private String errorString(int code) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment text = a.allocate(OpenMpiAbi.MAX_ERROR_STRING + 1L);
            MemorySegment len = a.allocate(JAVA_INT);
            int rc = (int) errorStringFn.invokeExact(code, text, len);
            return rc == OpenMpiAbi.SUCCESS ? text.getString(0) : null;
        } catch (Throwable t) {
            return null;
        }
    }

    /** Checks that {@code s} is a native segment holding {@code count} elements of {@code elemBytes}. */
    static void checkBuffer(MemorySegment s, long count, int elemBytes) {
        Objects.requireNonNull(s, "buffer");
        if (count < 0) throw new IllegalArgumentException("count < 0: " + count);
        if (!s.isNative()) {
            throw new IllegalArgumentException("collective buffers must be native (off-heap) segments");
        }
        if (count > s.byteSize() / elemBytes) {
            throw new IllegalArgumentException("buffer of " + s.byteSize() + " bytes is too small for " + count
                    + " elements of " + elemBytes + " bytes");
        }
    }
}
