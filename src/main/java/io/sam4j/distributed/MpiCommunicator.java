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
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * MPI through the FFM API: the MPI C library called directly, no JNI, no Java bindings; Open MPI
 * ({@code libmpi.so.40}) or an MPICH-family MPI ({@code libmpich.so.12}, Intel MPI's {@code libmpi.so.12}),
 * whose binary interfaces differ ({@link MpiAbi}). One per process ({@link #init()}); MPI can be
 * initialised only once per process.
 *
 * <p><b>Which library.</b> The one named ({@code --mpi-library}, {@value #LIBRARY_PROPERTY},
 * ${@value #LIBRARY_ENV}), else the one of the MPI whose launcher started the process ({@link Launcher}).
 * After {@code MPI_Init} the world size is compared with the size the launcher announced: a mismatch
 * (a library of another MPI than the launcher's, which initialises every rank as its own one-rank world)
 * is an error rather than N independent trainings.
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
 * <p>The per-MPI specifics (handle representation, constants, symbol names) are in {@link MpiAbi}.
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
    private final MpiAbi abi;
    private final int maxCount;
    private final Thread owner;
    private final MethodHandle allreduce;
    private final MethodHandle iallreduce;
    private final MethodHandle testall;
    private final MethodHandle waitall;
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
    /** When the last MPI call started or ended (System.nanoTime), and its name: for the hang watchdog. */
    private volatile long lastActivity = System.nanoTime();
    private volatile String currentCall = "";
    private Thread hangWatchdog;
    private final Thread shutdownHook;
    /** Native copy of the doubles being summed: grows to the largest array, then is reused (per-step sums). */
    private MemorySegment doubleScratch = MemorySegment.NULL;

    /** Loads the configured library ({@link #configuredLibrary()}, else the launcher's) and initialises MPI. */
    public static MpiCommunicator init() {
        return init(configuredLibrary());
    }

    /**
     * Loads {@code library} (a soname such as "libmpich.so.12", or a path; null: the library of the MPI
     * whose launcher started this process) and initialises MPI.
     */
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
        Map<String, String> env = System.getenv();
        Launcher launcher = Launcher.of(env);
        List<String> candidates = library != null ? List.of(library)
                : launcher.libraries.isEmpty() ? DEFAULT_LIBRARIES : launcher.libraries;
        Loaded loaded = load(candidates, launcher);
        MpiCommunicator comm = new MpiCommunicator(loaded.lookup(), loaded.name(), maxCount);
        comm.checkWorldSize(launcher, Launcher.worldSize(env));
        return comm;
    }

    /** Libraries tried, in order, when neither a name nor a launcher says which MPI to use. */
    static final List<String> DEFAULT_LIBRARIES = List.of("libmpi.so.40", "libmpich.so.12", "libmpi.so.12");

    /** The library to load: {@value #LIBRARY_PROPERTY}, else ${@value #LIBRARY_ENV}, else null (automatic). */
    public static String configuredLibrary() {
        String p = System.getProperty(LIBRARY_PROPERTY);
        if (p != null && !p.isBlank()) return p.strip();
        String e = System.getenv(LIBRARY_ENV);
        if (e != null && !e.isBlank()) return e.strip();
        return null;
    }

    record Loaded(SymbolLookup lookup, String name) {}

    /** The first of {@code candidates} that loads, or an error naming all of them and what to install. */
    static Loaded load(List<String> candidates, Launcher launcher) {
        keepJvmSignalsFromUcx();
        StringBuilder why = new StringBuilder();
        for (String library : candidates) {
            try {
                return new Loaded(SymbolLookup.libraryLookup(library, Arena.global()), library);
            } catch (RuntimeException e) {
                why.append(why.isEmpty() ? "" : "; ").append(library).append(": ").append(e.getMessage());
            }
        }
        String started = launcher == Launcher.NONE ? "" : " (started by " + launcher.description + ")";
        throw new IllegalStateException("cannot load an MPI library" + started + ": " + why + ". Install the MPI "
                + "the job is launched with (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev, or mpich "
                + "libmpich-dev), or name its library with --mpi-library PATH (or -D" + LIBRARY_PROPERTY + "=PATH, "
                + LIBRARY_ENV + "=PATH)");
    }

    /**
     * UCX (MPICH's ch4:ucx, Open MPI's pml ucx) installs SIGSEGV/SIGBUS handlers when it loads, which take
     * the signals the JVM raises on purpose (implicit null checks, safepoint polls) and crash it. Unless the
     * user set them, tell UCX (through the process environment, before the library loads) not to.
     */
    private static void keepJvmSignalsFromUcx() {
        try {
            Linker linker = Linker.nativeLinker();
            MethodHandle setenv = linker.downcallHandle(linker.defaultLookup().find("setenv").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
            try (Arena a = Arena.ofConfined()) {
                for (String[] kv : new String[][] {{"UCX_ERROR_SIGNALS", ""}, {"UCX_HANDLE_ERRORS", "none"}}) {
                    int rc = (int) setenv.invokeExact(a.allocateFrom(kv[0]), a.allocateFrom(kv[1]), 0); // 0: keep the user's
                    if (rc != 0) System.err.println("sam4j: cannot set " + kv[0] + " for UCX (setenv returned " + rc + ")");
                }
            }
        } catch (Throwable t) {
            System.err.println("sam4j: cannot set UCX_ERROR_SIGNALS for UCX: " + t);
        }
    }

    /** A world smaller than the launcher started means the library and the launcher are of different MPIs. */
    private void checkWorldSize(Launcher launcher, OptionalInt announced) {
        if (announced.isEmpty() || announced.getAsInt() == size) return;
        String msg = launcher.description + " started " + announced.getAsInt() + " ranks, but " + library + " ("
                + abi.description + ") formed a world of " + size + ": the library belongs to another MPI than the "
                + "launcher; load the launcher's library with --mpi-library PATH";
        try {
            close();
        } catch (RuntimeException ignored) {
            // the mismatch is the error to report
        }
        throw new IllegalStateException(msg);
    }

    private MpiCommunicator(SymbolLookup lib, String library, int maxCount) {
        this.library = library;
        this.maxCount = maxCount;
        this.abi = MpiAbi.of(lib, library);
        this.owner = Thread.currentThread();
        var H = MpiAbi.HANDLE;
        var P = ADDRESS;
        var I = JAVA_INT;
        MethodHandle initialized = abi.downcall(lib, "MPI_Initialized", FunctionDescriptor.of(I, P));
        MethodHandle initThread = abi.downcall(lib, "MPI_Init_thread", FunctionDescriptor.of(I, P, P, I, P));
        MethodHandle setErrhandler = abi.downcall(lib, "MPI_Comm_set_errhandler", FunctionDescriptor.of(I, H, H));
        MethodHandle commRank = abi.downcall(lib, "MPI_Comm_rank", FunctionDescriptor.of(I, H, P));
        MethodHandle commSize = abi.downcall(lib, "MPI_Comm_size", FunctionDescriptor.of(I, H, P));
        MethodHandle libVersion = abi.downcall(lib, "MPI_Get_library_version", FunctionDescriptor.of(I, P, P));
        MethodHandle procName = abi.downcall(lib, "MPI_Get_processor_name", FunctionDescriptor.of(I, P, P));
        allreduce = abi.downcall(lib, "MPI_Allreduce", FunctionDescriptor.of(I, P, P, I, H, H, H));
        iallreduce = abi.downcall(lib, "MPI_Iallreduce", FunctionDescriptor.of(I, P, P, I, H, H, H, P));
        testall = abi.downcall(lib, "MPI_Testall", FunctionDescriptor.of(I, I, P, P, P));
        waitall = abi.downcall(lib, "MPI_Waitall", FunctionDescriptor.of(I, I, P, P));
        bcast = abi.downcall(lib, "MPI_Bcast", FunctionDescriptor.of(I, P, I, H, I, H));
        barrierFn = abi.downcall(lib, "MPI_Barrier", FunctionDescriptor.of(I, H));
        abortFn = abi.downcall(lib, "MPI_Abort", FunctionDescriptor.of(I, H, I));
        finalizeFn = abi.downcall(lib, "MPI_Finalize", FunctionDescriptor.of(I));
        errorStringFn = abi.downcall(lib, "MPI_Error_string", FunctionDescriptor.of(I, I, P, P));

        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_INT);
            int rc = (int) initialized.invokeExact(out);
            check("MPI_Initialized", -1, rc);
            if (out.get(JAVA_INT, 0) != 0) {
                throw new IllegalStateException("MPI was already initialised in this process by other code");
            }
            MpiCommunicator.initialized = true; // from here on, MPI cannot be initialised again
            rc = (int) initThread.invokeExact(MemorySegment.NULL, MemorySegment.NULL,
                    MpiAbi.THREAD_FUNNELED, out);
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
            if (threadLevel < MpiAbi.THREAD_FUNNELED) {
                int frc = (int) finalizeFn.invokeExact();
                state.set(State.FINALIZED);
                throw new IllegalStateException("MPI provides only thread level "
                        + MpiAbi.threadLevelName(threadLevel) + " (MPI_Finalize returned " + frc
                        + "); sam4j runs compute threads beside the MPI thread and needs at least FUNNELED");
            }
            MemorySegment text = a.allocate(abi.maxLibraryVersionString + 1L);
            rc = (int) libVersion.invokeExact(text, out);
            version = rc == MpiAbi.SUCCESS ? firstPart(text.getString(0)) : abi.family.toString();
            text.fill((byte) 0);
            rc = (int) procName.invokeExact(text, out);
            host = rc == MpiAbi.SUCCESS ? text.getString(0) : "?";
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

    /** "Open MPI v4.1.4" from "Open MPI v4.1.4, package: ...", "MPICH Version: 4.0.2" from MPICH's lines. */
    static String firstPart(String libraryVersion) {
        String s = libraryVersion.strip();
        int end = s.length();
        for (char c : new char[] {',', '\n', '\r'}) {
            int i = s.indexOf(c);
            if (i > 0) end = Math.min(end, i);
        }
        return s.substring(0, end).replaceAll("\\s+", " ").strip();
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
        call("MPI_Barrier", () -> (int) barrierFn.invokeExact(abi.commWorld));
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
        inMpi("MPI_Bcast", () -> {
            for (long off = 0; off < count; off += maxCount) {
                int n = (int) Math.min(maxCount, count - off);
                MemorySegment chunk = floats.asSlice(4 * off, 4L * n);
                check("MPI_Bcast", (int) bcast.invokeExact(chunk, n, abi.floatType, root, abi.commWorld));
            }
        });
    }

    @Override
    public void allReduceSum(MemorySegment floats, long count) {
        checkBuffer(floats, count, 4);
        inMpi("MPI_Allreduce", () -> {
            for (long off = 0; off < count; off += maxCount) {
                int n = (int) Math.min(maxCount, count - off);
                MemorySegment chunk = floats.asSlice(4 * off, 4L * n);
                check("MPI_Allreduce", (int) allreduce.invokeExact(abi.inPlace, chunk, n,
                        abi.floatType, abi.opSum, abi.commWorld));
            }
        });
    }

    @Override
    public PendingSums pendingSums(int capacity) {
        if (capacity < 1) throw new IllegalArgumentException("capacity must be >= 1, got " + capacity);
        return new Pending(capacity);
    }

    /**
     * MPI_Iallreduce into a fixed array of request handles (pointers or ints, as the ABI has them),
     * completed together by MPI_Testall / MPI_Waitall.
     */
    private final class Pending implements PendingSums {
        private final int capacity;
        private final MemorySegment requests;
        private final MemorySegment flag;
        private int started;

        Pending(int capacity) {
            this.capacity = capacity;
            Arena arena = Arena.ofAuto(); // lives as long as this object
            this.requests = arena.allocate((long) abi.requestBytes * capacity, 8);
            this.flag = arena.allocate(JAVA_INT);
        }

        @Override
        public void start(MemorySegment floats, long count) {
            checkBuffer(floats, count, 4);
            startChunks(null, floats, count);
        }

        @Override
        public void start(MemorySegment send, MemorySegment recv, long count) {
            checkBuffer(send, count, 4);
            checkBuffer(recv, count, 4);
            if (send.address() < recv.address() + 4 * count && recv.address() < send.address() + 4 * count) {
                throw new IllegalArgumentException("out-of-place sum: send and receive buffers overlap");
            }
            startChunks(send, recv, count);
        }

        /** MPI_Iallreduce of {@code send} (null: in place) into {@code recv}, in chunks of at most maxCount floats. */
        private void startChunks(MemorySegment send, MemorySegment recv, long count) {
            inMpi("MPI_Iallreduce", () -> {
                for (long off = 0; off < count; off += maxCount) {
                    if (started == capacity) {
                        throw new IllegalStateException("more than " + capacity + " pending sums started before waitAll");
                    }
                    int n = (int) Math.min(maxCount, count - off);
                    MemorySegment from = send == null ? abi.inPlace : send.asSlice(4 * off, 4L * n);
                    MemorySegment into = recv.asSlice(4 * off, 4L * n);
                    MemorySegment request = requests.asSlice((long) abi.requestBytes * started, abi.requestBytes);
                    check("MPI_Iallreduce", (int) iallreduce.invokeExact(from, into, n, abi.floatType, abi.opSum,
                            abi.commWorld, request));
                    started++;
                }
            });
        }

        @Override
        public void progress() {
            if (started == 0) return;
            call("MPI_Testall", () -> (int) testall.invokeExact(started, requests, flag, abi.statusesIgnore));
            if (flag.get(JAVA_INT, 0) != 0) started = 0; // all complete: the handles are MPI_REQUEST_NULL now
        }

        @Override
        public void waitAll() {
            if (started == 0) return;
            call("MPI_Waitall", () -> (int) waitall.invokeExact(started, requests, abi.statusesIgnore));
            started = 0;
        }
    }

    @Override
    public void allReduceSum(double[] values) {
        Objects.requireNonNull(values, "values");
        if (values.length == 0) return;
        if (doubleScratch.byteSize() < 8L * values.length) {
            doubleScratch = Arena.ofAuto().allocate(JAVA_DOUBLE, Math.max(values.length, 64));
        }
        MemorySegment buf = doubleScratch;
        MemorySegment.copy(values, 0, buf, JAVA_DOUBLE, 0, values.length);
        call("MPI_Allreduce", () -> (int) allreduce.invokeExact(abi.inPlace, buf, values.length,
                abi.doubleType, abi.opSum, abi.commWorld));
        MemorySegment.copy(buf, JAVA_DOUBLE, 0, values, 0, values.length);
    }

    /** How long {@link #abort} waits between printing its message and calling MPI_Abort. */
    private static final long ABORT_MESSAGE_GRACE_MS = 200;

    @Override
    public void abort(int code, String message) {
        int c = code == 0 ? 1 : code;
        System.out.flush();
        System.err.println("sam4j: rank " + rank + " of " + size + " aborting the job (exit code " + c + "): "
                + message);
        System.err.flush();
        if (state.getAndSet(State.ABORTED) == State.OPEN) {
            // Give the launcher a moment to forward that line: MPICH's Hydra tears the job down on MPI_Abort and
            // once dropped it (a CI run where the hung-rank test saw the job end without the rank's message).
            try {
                Thread.sleep(ABORT_MESSAGE_GRACE_MS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
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
        return "mpi: " + version + " (" + abi.description + ", " + library + "), rank " + rank + " of " + size
                + ", thread level " + MpiAbi.threadLevelName(threadLevel) + ", host " + host;
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

    /** Downcalls and their {@link #check}s, as one MPI call's body ({@code invokeExact} throws Throwable). */
    @FunctionalInterface
    private interface Downcalls {
        void run() throws Throwable;
    }

    /** One downcall returning an MPI error code. */
    @FunctionalInterface
    private interface Downcall {
        int invoke() throws Throwable;
    }

    /** {@code downcall} as the MPI call {@code call}, its return code checked ({@link #inMpi}). */
    private void call(String call, Downcall downcall) {
        inMpi(call, () -> check(call, downcall.invoke()));
    }

    /**
     * Runs {@code body} as the MPI call {@code call}: state and thread checked and the call counted in flight
     * for the hang watchdog ({@link #enter}, {@link #leave}); a checked Throwable from a downcall comes out
     * as an IllegalStateException, runtime exceptions (MpiException) and errors as they are.
     */
    private void inMpi(String call, Downcalls body) {
        enter(call);
        try {
            body.run();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        } finally {
            leave();
        }
    }

    /** Checks state and thread, then counts the call as in flight (the caller decrements). */
    private void enter(String call) {
        State s = state.get();
        if (s != State.OPEN) {
            throw new IllegalStateException(call + " on rank " + rank + " after the communicator was "
                    + (s == State.FINALIZED ? "closed" : "aborted"));
        }
        if (threadLevel < MpiAbi.THREAD_SERIALIZED && Thread.currentThread() != owner) {
            throw new IllegalStateException(call + " called on thread '" + Thread.currentThread().getName()
                    + "', but MPI was initialised with thread level " + MpiAbi.threadLevelName(threadLevel)
                    + " on thread '" + owner.getName() + "': make every MPI call from that thread");
        }
        currentCall = call;
        lastActivity = System.nanoTime();
        inFlight.incrementAndGet();
    }

    private void leave() {
        lastActivity = System.nanoTime();
        inFlight.decrementAndGet();
    }

    /**
     * Bounds the time a hung rank can hold the job: a daemon thread aborts the job when this rank has made
     * no MPI call for {@code seconds} (it is the hung one: stuck outside MPI, "rank R ... hung"), or has
     * waited inside one MPI call for {@code seconds} plus a grace of max(5 s, seconds / 4) (another rank is
     * hung or gone; the grace lets the hung rank name itself first). 0 turns it off. Pick more than the
     * longest stretch without a collective (a training step, an evaluation between its reductions).
     */
    @Override
    public void watchForHangs(long seconds) {
        if (seconds <= 0 || hangWatchdog != null) return;
        long limit = seconds * 1_000_000_000L, grace = Math.max(5, seconds / 4) * 1_000_000_000L;
        lastActivity = System.nanoTime();
        hangWatchdog = Thread.ofPlatform().daemon().name("sam4j-mpi-hang-watchdog").start(() -> {
            while (state.get() == State.OPEN) {
                long idle = System.nanoTime() - lastActivity;
                boolean inCall = inFlight.get() > 0;
                if (!inCall && idle > limit) {
                    abort(FAILURE_EXIT_CODE, "rank " + rank + " is hung: no MPI call for " + seconds + " s (it is stuck, "
                            + "or a stretch between collectives takes longer than --hang-timeout " + seconds + ")");
                } else if (inCall && idle > limit + grace) {
                    abort(FAILURE_EXIT_CODE, "waited " + idle / 1_000_000_000L + " s in " + currentCall + ": another rank "
                            + "is hung or gone (--hang-timeout " + seconds + ")");
                }
                try {
                    Thread.sleep(Math.min(1000, Math.max(50, seconds * 100)));
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
    }

    private void check(String call, int rc) {
        check(call, rank, rc);
    }

    private void check(String call, int r, int rc) {
        if (rc != MpiAbi.SUCCESS) throw new MpiException(call, r, rc, errorString(rc));
    }

    private String errorString(int code) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment text = a.allocate(abi.maxErrorString + 1L);
            MemorySegment len = a.allocate(JAVA_INT);
            int rc = (int) errorStringFn.invokeExact(code, text, len);
            return rc == MpiAbi.SUCCESS ? text.getString(0).strip().replaceAll("\\s*\\n\\s*", "; ") : null; // MPICH: several lines
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
