package io.sam4j.dnnl;

import io.sam4j.conv.ConvBackend;
import io.sam4j.conv.Convolution;
import io.sam4j.conv.LinearKernel;
import io.sam4j.conv.ConvShape;
import io.sam4j.conv.Precision;
import io.sam4j.kernels.Parallel;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Convolutions on oneDNN (libdnnl 3.x through java.lang.foreign). One CPU engine and stream per backend;
 * its kernels share one {@link Workspace} of internal buffers.
 *
 * <p>Threading: a backend and all its kernels must be used by one thread at a time (creating kernels
 * included), like the trainer's layer loop. Which thread does not matter: primitives are created with
 * scratchpad mode user, so they are not tied to their creating thread (in the default library mode this
 * OpenMP build, without DNNL_ENABLE_CONCURRENT_EXEC, would be). Prefer one long-lived calling thread
 * anyway: libgomp keeps a team of {@code threads - 1} OpenMP workers per Java thread that ever calls in,
 * so calls from many pool threads multiply native threads. Kernel creation and every call first set
 * {@code omp_set_num_threads(threads)} on the calling thread (a cheap per-thread OpenMP setting; oneDNN
 * also fixes a primitive's thread split when it is created). For parallel replicas, one backend each.
 */
public final class OneDnnConvBackend implements ConvBackend {
    private final int threads;
    private final NativeObjects objects = new NativeObjects();
    private final MemorySegment engine;
    private final MemorySegment stream;
    private final Workspace workspace = new Workspace();
    private final Set<AutoCloseable> kernels = new LinkedHashSet<>();
    private Integer blockedLanes;
    private Parallel javaTeam; // im2col convolutions' Java parts; made on first use
    private boolean closed;

    private OneDnnConvBackend(int threads) {
        this.threads = threads;
        try {
            engine = objects.own(Dnnl.engineCreateCpu(), Dnnl::engineDestroy);
            stream = objects.own(Dnnl.streamCreate(engine), Dnnl::streamDestroy);
        } catch (RuntimeException e) {
            objects.close();
            throw e;
        }
    }

    /**
     * A backend running oneDNN with {@code threads} OpenMP threads.
     *
     * @throws DnnlUnavailableException when the library cannot be loaded (one-line message: paths and reasons)
     */
    public static OneDnnConvBackend create(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        NativeLibrary.get(); // fails cleanly before Dnnl's handles are linked
        return new OneDnnConvBackend(threads);
    }

    /** Like {@link #create}, empty when the library cannot be loaded; {@link #unavailableReason()} says why. */
    public static Optional<OneDnnConvBackend> tryCreate(int threads) {
        try {
            return Optional.of(create(threads));
        } catch (DnnlUnavailableException e) {
            return Optional.empty();
        }
    }

    /** Why oneDNN cannot be loaded (one line), or empty when it can. Loading is attempted once per process. */
    public static Optional<String> unavailableReason() {
        try {
            NativeLibrary.get();
            return Optional.empty();
        } catch (DnnlUnavailableException e) {
            return Optional.of(e.getMessage());
        }
    }

    /**
     * One line for logs, e.g. "oneDNN 3.13.0, OpenMP runtime, ISA avx2, 2 OpenMP threads by default,
     * /home/u/.cache/sam4j/native/.../libdnnl.so.3 (extracted from the class path)"; the failure reason otherwise.
     */
    @Override
    public String summary() {
        return describe();
    }

    public static String describe() {
        try {
            NativeLibrary.Loaded lib = NativeLibrary.get();
            Dnnl.Version v = lib.version();
            boolean hash = !v.hash().isEmpty() && !v.hash().equals("N/A");
            return "oneDNN " + v + (hash ? " (" + v.hash() + ")" : "") + ", " + v.cpuRuntimeName() + " runtime, ISA "
                    + Dnnl.effectiveCpuIsa().replaceFirst("^cpu_isa_", "") + ", " + Dnnl.ompGetMaxThreads()
                    + " OpenMP threads by default, " + lib.path() + " (" + lib.origin() + ")";
        } catch (DnnlUnavailableException e) {
            return e.getMessage();
        }
    }

    @Override
    public String name() {
        return "onednn";
    }

    public int threads() {
        return threads;
    }

    /**
     * A kernel for {@code shape}; creating it builds the primitives (tens of ms, up to ~125 ms for a large
     * layer), so callers keep it per shape. Throws {@link DnnlException} if oneDNN rejects the shape.
     */
    @Override
    public Convolution conv(ConvShape shape, boolean bias) {
        return conv(shape, bias, 0);
    }

    @Override
    public Convolution conv(ConvShape shape, boolean bias, int lanes) {
        return conv(shape, bias, lanes, Precision.FP32);
    }

    /** With {@code lanes} 8 or 16, activations are nChw8c / nChw16c (the layouts oneDNN's AVX2 / AVX-512 kernels compute in). */
    @Override
    public Convolution conv(ConvShape shape, boolean bias, int lanes, Precision precision) {
        return conv(shape, bias, lanes, lanes, precision);
    }

    /** A plain-input kernel ({@code inputLanes} 0 under blocked {@code lanes}) always runs the direct kernels. */
    @Override
    public synchronized Convolution conv(ConvShape shape, boolean bias, int inputLanes, int lanes, Precision precision) {
        if (closed) throw new IllegalStateException("oneDNN backend is closed");
        unsupported(precision).ifPresent(why -> {
            throw new UnsupportedOperationException(why);
        });
        for (int l : new int[] {inputLanes, lanes}) {
            if (l != 0 && l != 8 && l != 16) throw new IllegalArgumentException("block width must be 0, 8 or 16, got " + l);
        }
        if (inputLanes != lanes && inputLanes != 0) {
            throw new IllegalArgumentException("x may be plain (0) under y's block width " + lanes + ", not " + inputLanes + " wide");
        }
        boolean bf16 = precision == Precision.BF16;
        if (inputLanes != lanes) return keep(new OneDnnConv(this, shape, bias, inputLanes, lanes, bf16));
        boolean fp32WeightGradients = OneDnnConv.weightGradientsInFp32();
        GemmPasses gemm = bf16 ? gemmPasses(shape, fp32WeightGradients, hasAmx()) : GemmPasses.NONE;
        // The backend keeps each oneDNN kernel (not a split's wrapper) to close what callers leave open.
        if (gemm.data() && gemm.weights()) return keep(new OneDnnGemmConv(this, shape, bias, lanes, fp32WeightGradients, gemm));
        if (!gemm.data() && !gemm.weights()) return keep(new OneDnnConv(this, shape, bias, lanes, bf16));
        OneDnnConv direct = keep(new OneDnnConv(this, shape, bias, lanes, bf16));
        try {
            OneDnnGemmConv matmul = keep(new OneDnnGemmConv(this, shape, bias, lanes, fp32WeightGradients, gemm));
            return gemm.data() ? new SplitConvolution(matmul, direct) : new SplitConvolution(direct, matmul);
        } catch (RuntimeException | Error e) {
            direct.close();
            throw e;
        }
    }

    /** Linear layers on oneDNN's matmul, in fp32 or bf16 ({@link OneDnnLinear}). */
    @Override
    public synchronized Optional<LinearKernel> linear(int n, int in, int out, Precision precision) {
        if (closed) throw new IllegalStateException("oneDNN backend is closed");
        unsupported(precision).ifPresent(why -> {
            throw new UnsupportedOperationException(why);
        });
        boolean bf16 = precision == Precision.BF16;
        return Optional.of(keep(new OneDnnLinear(this, n, in, out, bf16, bf16 && OneDnnConv.weightGradientsInFp32())));
    }

    private static volatile Boolean amx;

    /** Whether oneDNN dispatches to AMX on this machine (its effective ISA, so {@code ONEDNN_MAX_CPU_ISA} counts). */
    static boolean hasAmx() {
        if (amx == null) amx = Dnnl.effectiveCpuIsa().contains("amx");
        return amx;
    }

    private <K extends AutoCloseable> K keep(K kernel) {
        kernels.add(kernel);
        return kernel;
    }

    /** {@code -Dsam4j.bf16.gemmConv=auto|always|never} (default auto): which bf16 convolution passes run as im2col + matmul. */
    static final String GEMM_CONV = "sam4j.bf16.gemmConv";

    /** Which passes of a bf16 convolution run as {@link OneDnnGemmConv}: forward and backward data, backward weights. */
    record GemmPasses(boolean data, boolean weights) {
        static final GemmPasses NONE = new GemmPasses(false, false);
    }

    /**
     * Which passes of a bf16 convolution of {@code shape} run as im2col + one matmul ({@link OneDnnGemmConv})
     * rather than on oneDNN's direct kernels. {@code auto} follows where each measured faster (ResNet-18 at
     * 28x28 input, batch 128, 2-core Sapphire Rapids, {@code OneDnnConvBench bf16-gemm}, bench/README.md):
     * forward and backward data on output planes of at most 16 pixels (the 4x4 stage: 0.53-0.57x the direct
     * time) and on strided layers with at most 64 (0.35-0.93x); backward weights on planes of at most 64
     * (0.18-0.46x), only with bf16 weight gradients (the fp32 matmul with a transposed input ran slower than the
     * direct fp32 kernel); 7x7 stride-1 forward and backward data are a tie (0.99-1.02x) and stay direct, 14x14 and
     * larger too (1.1-1.7x slower as a matmul, and the im2col matrix is R*S times the
     * input). Only where oneDNN dispatches to AMX ({@code amx}): capped at avx512_core_bf16 (AVX512_BF16 without
     * AMX, as on AMD Zen 4/5; {@code ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16} on the same machine) the matmul ran the
     * data passes 1.1-1.8x slower than oneDNN's direct kernels and the weight gradients at 0.77-1.14x, so there
     * everything stays direct. {@code always} puts every pass on the matmul (fp32 weight gradients included),
     * {@code never} none.
     */
    static GemmPasses gemmPasses(ConvShape shape, boolean fp32WeightGradients, boolean amx) {
        String v = System.getProperty(GEMM_CONV, "auto");
        return switch (v) {
            case "always" -> new GemmPasses(true, true);
            case "never" -> GemmPasses.NONE;
            case "auto" -> {
                if (!amx) yield GemmPasses.NONE;
                long plane = (long) shape.outH() * shape.outW();
                yield new GemmPasses(plane <= 16 || (shape.stride() > 1 && plane <= 64), plane <= 64 && !fp32WeightGradients);
            }
            default -> throw new IllegalArgumentException("-D" + GEMM_CONV + ": expected auto, always or never, got '" + v + "'");
        };
    }

    /**
     * The block width oneDNN computes convolutions in on this machine: 8 when it picks nChw8c (AVX2), 16 when
     * it picks nChw16c (AVX-512), 0 for anything else (models then stay NCHW). Probed once from the source
     * layout of a 16-channel 3x3 convolution's {@code format any} forward descriptor, so it follows
     * {@code ONEDNN_MAX_CPU_ISA} too.
     */
    @Override
    public synchronized int blockedLanes() {
        if (blockedLanes == null) {
            if (closed) throw new IllegalStateException("oneDNN backend is closed");
            try (NativeObjects probe = new NativeObjects()) {
                Dnnl.ompSetNumThreads(threads);
                long[] one = {1, 1}, none = {0, 0}, pad = {1, 1};
                MemorySegment any = probe.memoryDesc(Dnnl.TAG_ANY, 1, 16, 8, 8);
                MemorySegment pd = probe.primitiveDesc(Dnnl.convolutionForwardPd(engine, Dnnl.FORWARD_TRAINING,
                        Dnnl.CONVOLUTION_DIRECT, any, probe.memoryDesc(Dnnl.TAG_ANY, 16, 16, 3, 3), MemorySegment.NULL, any,
                        one, none, pad, pad, probe.attrUserScratchpad()));
                MemorySegment chosen = Dnnl.pdQueryMd(pd, Dnnl.QUERY_SRC_MD, 0);
                blockedLanes = Dnnl.memoryDescEqual(chosen, probe.memoryDesc(Dnnl.TAG_NCHW16C, 1, 16, 8, 8)) ? 16
                        : Dnnl.memoryDescEqual(chosen, probe.memoryDesc(Dnnl.TAG_NCHW8C, 1, 16, 8, 8)) ? 8 : 0;
            }
        }
        return blockedLanes;
    }

    /** bf16 needs oneDNN's bf16 kernels on this CPU; no slow emulation on one without bf16 instructions. */
    @Override
    public Optional<String> unsupported(Precision precision) {
        if (precision == Precision.FP32 || Dnnl.cpuIsaHasBf16()) return Optional.empty();
        return Optional.of("no bf16 on this CPU: oneDNN's ISA is " + Dnnl.effectiveCpuIsa().replaceFirst("^cpu_isa_", "")
                + ", bf16 needs avx512_bf16, amx_bf16 or avx_ne_convert");
    }

    /** Bytes of internal buffers (chosen-layout tensors and scratchpads) shared by this backend's kernels. */
    public long workspaceBytes() {
        return workspace.bytes();
    }

    MemorySegment engine() {
        return engine;
    }

    MemorySegment stream() {
        return stream;
    }

    Workspace workspace() {
        return workspace;
    }

    /** {@code threads} Java threads for the Java parts of {@link OneDnnGemmConv} (im2col, col2im), made on first use. */
    synchronized Parallel javaTeam() {
        if (javaTeam == null) javaTeam = new Parallel(threads);
        return javaTeam;
    }

    synchronized void forget(AutoCloseable kernel) {
        kernels.remove(kernel);
    }

    /** Closes the kernels still open, then the workspace, stream and engine. */
    @Override
    public void close() {
        List<AutoCloseable> open;
        synchronized (this) {
            if (closed) return;
            closed = true;
            open = new ArrayList<>(kernels);
        }
        for (AutoCloseable k : open) {
            try {
                k.close();
            } catch (Exception e) {
                throw new IllegalStateException("closing a oneDNN kernel", e);
            }
        }
        synchronized (this) {
            if (javaTeam != null) javaTeam.close();
        }
        workspace.close();
        objects.close();
    }
}
