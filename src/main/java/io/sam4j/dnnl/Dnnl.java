package io.sam4j.dnnl;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.util.Map.entry;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The subset of the oneDNN 3.x C API that sam4j calls, bound with java.lang.foreign: ABI values, the
 * {@code dnnl_exec_arg_t} layout, one method handle per C function and typed wrappers that turn a non-zero
 * status into a {@link DnnlException}. Values are from the oneDNN 3.13 headers (unchanged since 3.0);
 * {@code native/check_enums.c} prints them for comparison after a version bump.
 *
 * <p>Loading this class loads the library: call {@link NativeLibrary#get()} first to get a clean
 * {@link DnnlUnavailableException} instead of an initialisation error.
 */
@SuppressWarnings("restricted") // native access is the point; the JVM flag enables it
public final class Dnnl {
    private Dnnl() {}

    // dnnl_status_t
    static final int SUCCESS = 0;
    private static final String[] STATUS_NAMES = {"success", "out_of_memory", "invalid_arguments", "unimplemented",
        "last_impl_reached", "runtime_error", "not_required", "invalid_graph", "invalid_graph_op", "invalid_shape",
        "invalid_data_type"};
    // dnnl_data_type_t, dnnl_engine_kind_t, dnnl_stream_flags_t
    static final int F32 = 3;
    static final int BF16 = 2;
    static final int ENGINE_CPU = 1;
    static final int STREAM_DEFAULT_FLAGS = 1;
    // dnnl_format_tag_t: user layouts; the weights' blocked layouts are chosen by the library via ANY
    static final int TAG_ANY = 1;
    static final int TAG_X = 2;
    static final int TAG_NCHW = 5;
    static final int TAG_OIHW = 5;
    static final int TAG_NCHW8C = 102; // dnnl_nChw8c = dnnl_aBcd8b: activations in sam4j's blocked layout (AVX2)
    static final int TAG_NCHW16C = 78; // dnnl_nChw16c = dnnl_aBcd16b: the same on AVX-512
    // dnnl_prop_kind_t, dnnl_alg_kind_t
    static final int FORWARD_TRAINING = 64;
    static final int BACKWARD_DATA = 160;
    static final int BACKWARD_WEIGHTS = 192;
    static final int CONVOLUTION_DIRECT = 1;
    // dnnl_query_t
    static final int QUERY_IMPL_INFO_STR = 8;
    static final int QUERY_SRC_MD = 129;
    static final int QUERY_DIFF_SRC_MD = 130;
    static final int QUERY_WEIGHTS_MD = 131;
    static final int QUERY_DIFF_WEIGHTS_MD = 132;
    static final int QUERY_DST_MD = 133;
    static final int QUERY_DIFF_DST_MD = 134;
    static final int QUERY_SCRATCHPAD_MD = 136;
    // DNNL_ARG_*
    static final int ARG_SRC = 1;
    static final int ARG_FROM = 1;
    static final int ARG_DST = 17;
    static final int ARG_TO = 17;
    static final int ARG_WEIGHTS = 33;
    static final int ARG_BIAS = 41;
    static final int ARG_SCRATCHPAD = 80;
    static final int ARG_DIFF_SRC = 129;
    static final int ARG_DIFF_DST = 145;
    static final int ARG_DIFF_WEIGHTS = 161;
    static final int ARG_DIFF_BIAS = 169;
    // dnnl_scratchpad_mode_t; DNNL_MAX_NDIMS
    static final int SCRATCHPAD_MODE_USER = 1;
    static final int MAX_NDIMS = 12;

    /** {@code dnnl_exec_arg_t { int arg; dnnl_memory_t memory; }}: 16 bytes, pointer at offset 8. */
    static final StructLayout EXEC_ARG =
            MemoryLayout.structLayout(JAVA_INT.withName("arg"), MemoryLayout.paddingLayout(4), ADDRESS.withName("memory"));

    private static final long EXEC_ARG_MEMORY = EXEC_ARG.byteOffset(MemoryLayout.PathElement.groupElement("memory"));

    /** {@code dnnl_version_t { int major, minor, patch; const char *hash; unsigned cpu_runtime, gpu_runtime; }}. */
    public record Version(int major, int minor, int patch, String hash, int cpuRuntime) {
        public String cpuRuntimeName() {
            return switch (cpuRuntime) {
                case 1 -> "sequential";
                case 2 -> "OpenMP";
                case 4 -> "TBB";
                case 8 -> "threadpool";
                default -> "runtime " + cpuRuntime;
            };
        }

        @Override
        public String toString() {
            return major + "." + minor + "." + patch;
        }
    }

    /**
     * Every C function bound here with its signature; {@link NativeLibrary} checks that each resolves
     * before this class is initialised. A nested class, so reading it does not load the library.
     */
    static final class Functions {
        private Functions() {}

        private static final MemoryLayout P = ADDRESS, I = JAVA_INT, J = JAVA_LONG;

        static final Map<String, FunctionDescriptor> ALL = Map.ofEntries(
                entry("dnnl_version", FunctionDescriptor.of(P)),
                entry("dnnl_get_effective_cpu_isa", FunctionDescriptor.of(I)),
                entry("dnnl_cpu_isa2str", FunctionDescriptor.of(P, I)),
                entry("dnnl_engine_create", FunctionDescriptor.of(I, P, I, J)),
                entry("dnnl_engine_destroy", FunctionDescriptor.of(I, P)),
                entry("dnnl_stream_create", FunctionDescriptor.of(I, P, P, I)),
                entry("dnnl_stream_wait", FunctionDescriptor.of(I, P)),
                entry("dnnl_stream_destroy", FunctionDescriptor.of(I, P)),
                entry("dnnl_memory_desc_create_with_tag", FunctionDescriptor.of(I, P, I, P, I, I)),
                entry("dnnl_memory_desc_create_with_strides", FunctionDescriptor.of(I, P, I, P, I, P)),
                entry("dnnl_memory_desc_equal", FunctionDescriptor.of(I, P, P)),
                entry("dnnl_memory_desc_get_size", FunctionDescriptor.of(J, P)),
                entry("dnnl_memory_desc_destroy", FunctionDescriptor.of(I, P)),
                entry("dnnl_memory_create", FunctionDescriptor.of(I, P, P, P, P)),
                entry("dnnl_memory_set_data_handle", FunctionDescriptor.of(I, P, P)),
                entry("dnnl_memory_destroy", FunctionDescriptor.of(I, P)),
                entry("dnnl_primitive_attr_create", FunctionDescriptor.of(I, P)),
                entry("dnnl_primitive_attr_set_scratchpad_mode", FunctionDescriptor.of(I, P, I)),
                entry("dnnl_primitive_attr_destroy", FunctionDescriptor.of(I, P)),
                entry("dnnl_convolution_forward_primitive_desc_create",
                        FunctionDescriptor.of(I, P, P, I, I, P, P, P, P, P, P, P, P, P)),
                entry("dnnl_convolution_backward_data_primitive_desc_create",
                        FunctionDescriptor.of(I, P, P, I, P, P, P, P, P, P, P, P, P)),
                entry("dnnl_convolution_backward_weights_primitive_desc_create",
                        FunctionDescriptor.of(I, P, P, I, P, P, P, P, P, P, P, P, P, P)),
                entry("dnnl_matmul_primitive_desc_create", FunctionDescriptor.of(I, P, P, P, P, P, P, P)),
                entry("dnnl_reorder_primitive_desc_create", FunctionDescriptor.of(I, P, P, P, P, P, P)),
                entry("dnnl_primitive_desc_query", FunctionDescriptor.of(I, P, I, I, P)),
                entry("dnnl_primitive_desc_query_md", FunctionDescriptor.of(P, P, I, I)),
                entry("dnnl_primitive_desc_destroy", FunctionDescriptor.of(I, P)),
                entry("dnnl_primitive_create", FunctionDescriptor.of(I, P, P)),
                entry("dnnl_primitive_execute", FunctionDescriptor.of(I, P, P, I, P)),
                entry("dnnl_primitive_destroy", FunctionDescriptor.of(I, P)),
                // libgomp, reached through libdnnl's lookup (dlsym searches its dependencies)
                entry("omp_set_num_threads", FunctionDescriptor.ofVoid(I)),
                entry("omp_get_max_threads", FunctionDescriptor.of(I)));
    }

    private static final SymbolLookup LIB = NativeLibrary.get().lookup();

    private static MethodHandle handle(String name) {
        FunctionDescriptor fd = Functions.ALL.get(name);
        if (fd == null) throw new AssertionError(name + " is missing from Dnnl.Functions.ALL");
        return Linker.nativeLinker().downcallHandle(LIB.findOrThrow(name), fd);
    }

    private static final MethodHandle GET_EFFECTIVE_CPU_ISA = handle("dnnl_get_effective_cpu_isa");
    private static final MethodHandle CPU_ISA2STR = handle("dnnl_cpu_isa2str");
    private static final MethodHandle ENGINE_CREATE = handle("dnnl_engine_create");
    private static final MethodHandle ENGINE_DESTROY = handle("dnnl_engine_destroy");
    private static final MethodHandle STREAM_CREATE = handle("dnnl_stream_create");
    private static final MethodHandle STREAM_WAIT = handle("dnnl_stream_wait");
    private static final MethodHandle STREAM_DESTROY = handle("dnnl_stream_destroy");
    private static final MethodHandle MD_CREATE_WITH_TAG = handle("dnnl_memory_desc_create_with_tag");
    private static final MethodHandle MD_CREATE_WITH_STRIDES = handle("dnnl_memory_desc_create_with_strides");
    private static final MethodHandle MD_EQUAL = handle("dnnl_memory_desc_equal");
    private static final MethodHandle MD_GET_SIZE = handle("dnnl_memory_desc_get_size");
    private static final MethodHandle MD_DESTROY = handle("dnnl_memory_desc_destroy");
    private static final MethodHandle MEMORY_CREATE = handle("dnnl_memory_create");
    private static final MethodHandle MEMORY_SET_DATA_HANDLE = handle("dnnl_memory_set_data_handle");
    private static final MethodHandle MEMORY_DESTROY = handle("dnnl_memory_destroy");
    private static final MethodHandle ATTR_CREATE = handle("dnnl_primitive_attr_create");
    private static final MethodHandle ATTR_SET_SCRATCHPAD_MODE = handle("dnnl_primitive_attr_set_scratchpad_mode");
    private static final MethodHandle ATTR_DESTROY = handle("dnnl_primitive_attr_destroy");
    private static final MethodHandle CONV_FWD_PD_CREATE = handle("dnnl_convolution_forward_primitive_desc_create");
    private static final MethodHandle CONV_BWD_DATA_PD_CREATE = handle("dnnl_convolution_backward_data_primitive_desc_create");
    private static final MethodHandle CONV_BWD_WEIGHTS_PD_CREATE =
            handle("dnnl_convolution_backward_weights_primitive_desc_create");
    private static final MethodHandle MATMUL_PD_CREATE = handle("dnnl_matmul_primitive_desc_create");
    private static final MethodHandle REORDER_PD_CREATE = handle("dnnl_reorder_primitive_desc_create");
    private static final MethodHandle PD_QUERY = handle("dnnl_primitive_desc_query");
    private static final MethodHandle PD_QUERY_MD = handle("dnnl_primitive_desc_query_md");
    private static final MethodHandle PD_DESTROY = handle("dnnl_primitive_desc_destroy");
    private static final MethodHandle PRIMITIVE_CREATE = handle("dnnl_primitive_create");
    private static final MethodHandle PRIMITIVE_EXECUTE = handle("dnnl_primitive_execute");
    private static final MethodHandle PRIMITIVE_DESTROY = handle("dnnl_primitive_destroy");
    private static final MethodHandle OMP_SET_NUM_THREADS = handle("omp_set_num_threads");
    private static final MethodHandle OMP_GET_MAX_THREADS = handle("omp_get_max_threads");

    // Bookkeeping for tests and leak hunting: objects created by the wrappers below and not yet destroyed.
    private static final AtomicLong LIVE_OBJECTS = new AtomicLong();
    private static final AtomicLong PRIMITIVES_CREATED = new AtomicLong();

    /** Native objects (engines, streams, descriptors, memories, attrs, primitives) alive right now. */
    static long liveObjects() {
        return LIVE_OBJECTS.get();
    }

    /** Primitives (convolutions and reorders) created since start-up. */
    static long primitivesCreated() {
        return PRIMITIVES_CREATED.get();
    }

    static String statusName(int status) {
        return status >= 0 && status < STATUS_NAMES.length ? STATUS_NAMES[status] : "unknown status";
    }

    private static void check(String function, int status) {
        if (status != SUCCESS) throw new DnnlException(function, status);
    }

    /** invokeExact throws Throwable; native calls throw nothing checked, so anything else is a bug. */
    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }

    private static MemorySegment created(MemorySegment out) {
        LIVE_OBJECTS.incrementAndGet();
        return out.get(ADDRESS, 0);
    }

    private static void destroyed(String function, int status) {
        check(function, status);
        LIVE_OBJECTS.decrementAndGet();
    }

    private static MemorySegment longs(Arena a, long... v) {
        MemorySegment s = a.allocate(JAVA_LONG, MAX_NDIMS); // all 12 entries, as dnnl_dims_t is declared
        MemorySegment.copy(v, 0, s, JAVA_LONG, 0, v.length);
        return s;
    }

    // ---- library information

    public static Version version() {
        return NativeLibrary.get().version();
    }

    /** The instruction set oneDNN dispatches to on this CPU, e.g. "cpu_isa_avx2" (so named on AMD too). */
    public static String effectiveCpuIsa() {
        try {
            int isa = (int) GET_EFFECTIVE_CPU_ISA.invokeExact();
            MemorySegment s = (MemorySegment) CPU_ISA2STR.invokeExact(isa);
            return s.equals(MemorySegment.NULL) ? "isa " + isa : s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // dnnl_cpu_isa_t values are bit sets: an ISA includes another when it has all of its bits.
    private static final int ISA_AVX512_CORE_BF16 = 0xe7, ISA_AVX2_VNNI_2 = 0x1f;

    /**
     * Whether the ISA oneDNN dispatches to has bf16 arithmetic: avx512_core_bf16 (AVX512_BF16; AMX builds on it)
     * or avx2_vnni_2 (AVX-NE-CONVERT). A {@code ONEDNN_MAX_CPU_ISA} cap counts, as oneDNN honours it.
     */
    public static boolean cpuIsaHasBf16() {
        try {
            int isa = (int) GET_EFFECTIVE_CPU_ISA.invokeExact();
            return (isa & ISA_AVX512_CORE_BF16) == ISA_AVX512_CORE_BF16 || (isa & ISA_AVX2_VNNI_2) == ISA_AVX2_VNNI_2;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** OpenMP threads for parallel regions started by the calling thread (a per-thread setting). */
    public static void ompSetNumThreads(int threads) {
        try {
            OMP_SET_NUM_THREADS.invokeExact(threads);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int ompGetMaxThreads() {
        try {
            return (int) OMP_GET_MAX_THREADS.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- engine and stream

    static MemorySegment engineCreateCpu() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check("dnnl_engine_create", (int) ENGINE_CREATE.invokeExact(out, ENGINE_CPU, 0L));
            return created(out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void engineDestroy(MemorySegment engine) {
        try {
            destroyed("dnnl_engine_destroy", (int) ENGINE_DESTROY.invokeExact(engine));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static MemorySegment streamCreate(MemorySegment engine) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check("dnnl_stream_create", (int) STREAM_CREATE.invokeExact(out, engine, STREAM_DEFAULT_FLAGS));
            return created(out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void streamWait(MemorySegment stream) {
        try {
            check("dnnl_stream_wait", (int) STREAM_WAIT.invokeExact(stream));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void streamDestroy(MemorySegment stream) {
        try {
            destroyed("dnnl_stream_destroy", (int) STREAM_DESTROY.invokeExact(stream));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- memory descriptors and memory objects

    /** An f32 descriptor with a format tag (a plain one, or {@link #TAG_ANY} to let a primitive choose). */
    static MemorySegment memoryDescCreate(int tag, long... dims) {
        return memoryDescCreate(F32, tag, dims);
    }

    /** A descriptor of data type {@code dataType} ({@link #F32}, {@link #BF16}) with a format tag. */
    static MemorySegment memoryDescCreate(int dataType, int tag, long... dims) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check("dnnl_memory_desc_create_with_tag",
                    (int) MD_CREATE_WITH_TAG.invokeExact(out, dims.length, longs(a, dims), dataType, tag));
            return created(out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** A descriptor of data type {@code dataType} with explicit strides in elements (e.g. a transposed view). */
    static MemorySegment memoryDescCreateWithStrides(int dataType, long[] dims, long[] strides) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check("dnnl_memory_desc_create_with_strides", (int) MD_CREATE_WITH_STRIDES.invokeExact(out, dims.length,
                    longs(a, dims), dataType, longs(a, strides)));
            return created(out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static boolean memoryDescEqual(MemorySegment a, MemorySegment b) {
        try {
            return (int) MD_EQUAL.invokeExact(a, b) == 1;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Bytes a tensor with this descriptor occupies (blocked layouts include their padding). */
    static long memoryDescSize(MemorySegment md) {
        try {
            return (long) MD_GET_SIZE.invokeExact(md);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void memoryDescDestroy(MemorySegment md) {
        try {
            destroyed("dnnl_memory_desc_destroy", (int) MD_DESTROY.invokeExact(md));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** A memory object with no buffer yet (DNNL_MEMORY_NONE); bind one with {@link #memorySetDataHandle}. */
    static MemorySegment memoryCreate(MemorySegment md, MemorySegment engine) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check("dnnl_memory_create", (int) MEMORY_CREATE.invokeExact(out, md, engine, MemorySegment.NULL));
            return created(out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void memorySetDataHandle(MemorySegment memory, MemorySegment data) {
        try {
            check("dnnl_memory_set_data_handle", (int) MEMORY_SET_DATA_HANDLE.invokeExact(memory, data));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void memoryDestroy(MemorySegment memory) {
        try {
            destroyed("dnnl_memory_destroy", (int) MEMORY_DESTROY.invokeExact(memory));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- attributes

    /** Attributes with scratchpad mode user: the caller passes the scratch buffer, see OneDnnConv. */
    static MemorySegment attrCreateUserScratchpad() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check("dnnl_primitive_attr_create", (int) ATTR_CREATE.invokeExact(out));
            MemorySegment attr = created(out);
            try {
                check("dnnl_primitive_attr_set_scratchpad_mode",
                        (int) ATTR_SET_SCRATCHPAD_MODE.invokeExact(attr, SCRATCHPAD_MODE_USER));
            } catch (RuntimeException e) {
                attrDestroy(attr);
                throw e;
            }
            return attr;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void attrDestroy(MemorySegment attr) {
        try {
            destroyed("dnnl_primitive_attr_destroy", (int) ATTR_DESTROY.invokeExact(attr));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- primitive descriptors (spatial strides/padding only: {sh, sw}; dilation 0 means none)

    static MemorySegment convolutionForwardPd(MemorySegment engine, int propKind, int algorithm, MemorySegment src,
            MemorySegment weights, MemorySegment bias, MemorySegment dst, long[] strides, long[] dilates,
            long[] padL, long[] padR, MemorySegment attr) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check("dnnl_convolution_forward_primitive_desc_create", (int) CONV_FWD_PD_CREATE.invokeExact(out, engine,
                    propKind, algorithm, src, weights, bias, dst, longs(a, strides), longs(a, dilates),
                    longs(a, padL), longs(a, padR), attr));
            return created(out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static MemorySegment convolutionBackwardDataPd(MemorySegment engine, int algorithm, MemorySegment diffSrc,
            MemorySegment weights, MemorySegment diffDst, long[] strides, long[] dilates, long[] padL, long[] padR,
            MemorySegment hintForwardPd, MemorySegment attr) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check("dnnl_convolution_backward_data_primitive_desc_create", (int) CONV_BWD_DATA_PD_CREATE.invokeExact(
                    out, engine, algorithm, diffSrc, weights, diffDst, longs(a, strides), longs(a, dilates),
                    longs(a, padL), longs(a, padR), hintForwardPd, attr));
            return created(out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static MemorySegment convolutionBackwardWeightsPd(MemorySegment engine, int algorithm, MemorySegment src,
            MemorySegment diffWeights, MemorySegment diffBias, MemorySegment diffDst, long[] strides, long[] dilates,
            long[] padL, long[] padR, MemorySegment hintForwardPd, MemorySegment attr) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check("dnnl_convolution_backward_weights_primitive_desc_create",
                    (int) CONV_BWD_WEIGHTS_PD_CREATE.invokeExact(out, engine, algorithm, src, diffWeights, diffBias,
                            diffDst, longs(a, strides), longs(a, dilates), longs(a, padL), longs(a, padR),
                            hintForwardPd, attr));
            return created(out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** dst = src x weights, 2-D: src [M][K], weights [K][N], dst [M][N]; bias NULL for none. */
    static MemorySegment matmulPd(MemorySegment engine, MemorySegment src, MemorySegment weights, MemorySegment bias,
            MemorySegment dst, MemorySegment attr) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check("dnnl_matmul_primitive_desc_create",
                    (int) MATMUL_PD_CREATE.invokeExact(out, engine, src, weights, bias, dst, attr));
            return created(out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static MemorySegment reorderPd(MemorySegment engine, MemorySegment srcMd, MemorySegment dstMd, MemorySegment attr) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check("dnnl_reorder_primitive_desc_create",
                    (int) REORDER_PD_CREATE.invokeExact(out, srcMd, engine, dstMd, engine, attr));
            return created(out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** A descriptor owned by {@code pd}: never destroy it. A zero descriptor when the argument is unused. */
    static MemorySegment pdQueryMd(MemorySegment pd, int what, int index) {
        try {
            MemorySegment md = (MemorySegment) PD_QUERY_MD.invokeExact(pd, what, index);
            if (md.equals(MemorySegment.NULL)) throw new DnnlException("dnnl_primitive_desc_query_md", 2);
            return md;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The implementation oneDNN picked, e.g. "jit:avx2", "brg_conv_fwd:avx2", "gemm:jit", "ref". */
    static String pdImplInfo(MemorySegment pd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check("dnnl_primitive_desc_query", (int) PD_QUERY.invokeExact(pd, QUERY_IMPL_INFO_STR, 0, out));
            return out.get(ADDRESS, 0).reinterpret(256).getString(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void pdDestroy(MemorySegment pd) {
        try {
            destroyed("dnnl_primitive_desc_destroy", (int) PD_DESTROY.invokeExact(pd));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- primitives

    static MemorySegment primitiveCreate(MemorySegment pd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check("dnnl_primitive_create", (int) PRIMITIVE_CREATE.invokeExact(out, pd));
            PRIMITIVES_CREATED.incrementAndGet();
            return created(out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Runs a primitive; {@code args} is an array of {@code nargs} {@link #EXEC_ARG} entries. */
    static void primitiveExecute(MemorySegment primitive, MemorySegment stream, int nargs, MemorySegment args) {
        try {
            check("dnnl_primitive_execute", (int) PRIMITIVE_EXECUTE.invokeExact(primitive, stream, nargs, args));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static void primitiveDestroy(MemorySegment primitive) {
        try {
            destroyed("dnnl_primitive_destroy", (int) PRIMITIVE_DESTROY.invokeExact(primitive));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Writes entry {@code i} of an exec-arg array. */
    static void setExecArg(MemorySegment args, int i, int arg, MemorySegment memory) {
        long at = i * EXEC_ARG.byteSize();
        args.set(JAVA_INT, at, arg);
        args.set(ADDRESS, at + EXEC_ARG_MEMORY, memory);
    }
}
