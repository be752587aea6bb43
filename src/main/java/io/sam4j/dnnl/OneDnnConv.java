package io.sam4j.dnnl;

import static io.sam4j.dnnl.Dnnl.*;

import io.sam4j.dnnl.Workspace.Slot;
import io.sam4j.conv.Convolution;
import io.sam4j.conv.ConvShape;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * One convolution shape on oneDNN. The forward_training, backward_data and backward_weights primitives are
 * created once with {@code format_tag any}, so oneDNN picks its blocked layouts (jit:avx2 on AVX2 machines,
 * 1.6-2x faster than plain NCHW). The caller's tensors stay plain NCHW/OIHW: each call reorders inputs into
 * the chosen layouts and outputs back, through reorder primitives also created once. Forward and
 * backward-data get their own weight reorder, as they usually want different weight layouts. A kernel made
 * {@code blocked} takes x, y, dx and dy in nChw8c or nChw16c, the layouts oneDNN picks for activations on AVX2
 * and AVX-512, so its
 * passes usually reorder only the (small) weights; where oneDNN wants another activation layout (plain src
 * for a 1- or 3-channel stem) the same reorder logic converts.
 *
 * <p>Steady state: no native allocation. Memory objects exist from construction; each call rebinds them to
 * the caller's segments with dnnl_memory_set_data_handle. Internal buffers come from the backend's shared
 * {@link Workspace}; scratchpads are passed explicitly (scratchpad mode user), see {@link OneDnnConvBackend}.
 */
final class OneDnnConv extends OneDnnKernel implements Convolution {
    private final ConvShape shape;
    private final boolean hasBias;
    /** Floats of x and y in the user layout (blocked layouts pad the channels). */
    private final long xFloats, yFloats;
    /** "pass:tensor" of every reorder of x, y, dx or dy, e.g. "forward:x" (for tests and logs). */
    private final List<String> activationReorders = new ArrayList<>();

    // Memory objects in the user layouts, rebound to the caller's segments on every call.
    private final MemorySegment xMem, wMem, yMem, dyMem, dxMem, dwMem, biasMem, dbiasMem;
    private final MemorySegment zeroBias, discardedBiasGrad;


    private final Pass forward, backwardData, backwardWeights;
    private final String implementation;

    /** A convolution primitive and the reorders that run before and after it. */
    private record Pass(String impl, List<Step> before, Step main, List<Step> after) {}

    /** One argument of a primitive: which query gives its wanted layout, and its user-layout counterpart. */
    private record Arg(int arg, int query, int index, MemorySegment userMd, MemorySegment userMem, Slot slot,
            boolean output) {}

    OneDnnConv(OneDnnConvBackend backend, ConvShape shape, boolean hasBias, int lanes, boolean bf16) {
        this(backend, shape, hasBias, lanes, lanes, bf16);
    }

    /** With x and dx in the block width {@code inputLanes}, y and dy in {@code lanes} (0: NCHW). */
    OneDnnConv(OneDnnConvBackend backend, ConvShape shape, boolean hasBias, int inputLanes, int lanes, boolean bf16) {
        super(backend, "oneDNN convolution " + shape);
        this.shape = shape;
        this.hasBias = hasBias;
        try {
            // oneDNN sizes its thread decomposition (jcp.nthr) when the pd is created, from this thread's setting.
            ompSetNumThreads(backend.threads());
            MemorySegment engine = backend.engine();
            long n = shape.n(), c = shape.c(), k = shape.k();
            int act = activationTag(lanes), inputAct = activationTag(inputLanes);
            MemorySegment xMd = objects.memoryDesc(inputAct, n, c, shape.h(), shape.w());
            MemorySegment wMd = objects.memoryDesc(TAG_OIHW, k, c, shape.r(), shape.s());
            MemorySegment yMd = objects.memoryDesc(act, n, k, shape.outH(), shape.outW());
            xFloats = memoryDescSize(xMd) / 4;
            yFloats = memoryDescSize(yMd) / 4;
            MemorySegment bMd = hasBias ? objects.memoryDesc(TAG_X, k) : MemorySegment.NULL;
            // What the primitives compute in. bf16: the inputs of each pass (forward: x, w; backward data: dy, w;
            // backward weights: x, dy) are bf16, its output (y, dx, dw, db) fp32, so the reorders that feed the
            // primitives are the casts, and results come back fp32 without one.
            int in = bf16 ? BF16 : F32;
            MemorySegment srcAny = objects.memoryDescOfType(in, TAG_ANY, n, c, shape.h(), shape.w());
            MemorySegment wAny = objects.memoryDescOfType(in, TAG_ANY, k, c, shape.r(), shape.s());
            MemorySegment dstAny = objects.memoryDescOfType(in, TAG_ANY, n, k, shape.outH(), shape.outW());
            MemorySegment srcOutAny = bf16 ? objects.memoryDesc(TAG_ANY, n, c, shape.h(), shape.w()) : srcAny;
            MemorySegment wOutAny = bf16 ? objects.memoryDesc(TAG_ANY, k, c, shape.r(), shape.s()) : wAny;
            MemorySegment dstOutAny = bf16 ? objects.memoryDesc(TAG_ANY, n, k, shape.outH(), shape.outW()) : dstAny;
            // The user's layouts in the input type: what choose() prefers, so a bf16 cast keeps the layout.
            MemorySegment xIn = bf16 ? objects.memoryDescOfType(BF16, inputAct, n, c, shape.h(), shape.w()) : xMd;
            MemorySegment yIn = bf16 ? objects.memoryDescOfType(BF16, act, n, k, shape.outH(), shape.outW()) : yMd;

            xMem = objects.memory(xMd, engine);
            wMem = objects.memory(wMd, engine);
            yMem = objects.memory(yMd, engine);
            dyMem = objects.memory(yMd, engine);
            dxMem = objects.memory(xMd, engine);
            dwMem = objects.memory(wMd, engine);
            biasMem = hasBias ? objects.memory(bMd, engine) : null;
            dbiasMem = hasBias ? objects.memory(bMd, engine) : null;
            zeroBias = hasBias ? arena.allocate(4 * k, 64) : null;
            discardedBiasGrad = hasBias ? arena.allocate(4 * k, 64) : null;

            // Symmetric padding: ConvShape's floor division matches oneDNN's output-size check with padR = pad.
            long[] strides = {shape.stride(), shape.stride()}, dilates = {0, 0}, pad = {shape.pad(), shape.pad()};
            MemorySegment attr = objects.attrUserScratchpad();
            // Whole channel blocks: prefer an implementation that works in the user's blocked layout (see choose()).
            // Not in bf16: every pass casts its inputs in a reorder anyway, and the user's nChw16c rules out the AMX
            // brgemm kernels (they take nhwc), leaving avx512_core_bf16 direct kernels that ran SLOWER than fp32
            // (resnet18 SGD step, 2-core Sapphire Rapids: 4.8 s against fp32's 3.8 s; with oneDNN's choice, AMX, 2.6 s).
            // A plain-input first layer (inputLanes 0) too: oneDNN takes few-channel sources plain anyway.
            boolean userLayouts = lanes != 0 && (inputLanes != lanes || c % lanes == 0);
            boolean keepBlocked = !bf16 && userLayouts;
            MemorySegment fwdPd = choose(keepBlocked, srcAny, dstOutAny, xIn, yMd, QUERY_SRC_MD, QUERY_DST_MD,
                    (src, dst) -> convolutionForwardPd(engine, FORWARD_TRAINING, CONVOLUTION_DIRECT, src, wAny, bMd, dst,
                            strides, dilates, pad, pad, attr));
            MemorySegment bwdDataPd = choose(keepBlocked, srcOutAny, dstAny, xMd, yIn, QUERY_DIFF_SRC_MD, QUERY_DIFF_DST_MD,
                    (src, dst) -> convolutionBackwardDataPd(engine, CONVOLUTION_DIRECT, src, wAny, dst, strides, dilates,
                            pad, pad, fwdPd, attr));
            // bf16's weight gradients with -Dsam4j.bf16.weightGradients=fp32: from the fp32 activations in the user's
            // layout (no casts, exact fp32). The default, bf16, is what autocast does and, with the small-plane layers
            // on OneDnnGemmConv, the faster: oneDNN's bf16 kernel beats its fp32 one on 14x14 and larger planes
            // (28x28x64: 20.7 against 50 ms) and loses on 7x7 and 4x4 ones, which the backend sends to the matmul.
            boolean fp32Weights = bf16 && weightGradientsInFp32();
            MemorySegment wHint = fp32Weights ? objects.primitiveDesc(convolutionForwardPd(engine, FORWARD_TRAINING,
                    CONVOLUTION_DIRECT, srcOutAny, wOutAny, bMd, dstOutAny, strides, dilates, pad, pad, attr)) : fwdPd;
            MemorySegment bwdWeightsPd = fp32Weights
                    ? choose(userLayouts, srcOutAny, dstOutAny, xMd, yMd, QUERY_SRC_MD, QUERY_DIFF_DST_MD,
                        (src, dst) -> convolutionBackwardWeightsPd(engine, CONVOLUTION_DIRECT, src, wOutAny, bMd, dst, strides,
                            dilates, pad, pad, wHint, attr))
                    : choose(keepBlocked, srcAny, dstAny, xIn, yIn, QUERY_SRC_MD, QUERY_DIFF_DST_MD,
                    (src, dst) -> convolutionBackwardWeightsPd(engine, CONVOLUTION_DIRECT, src, wOutAny, bMd, dst, strides,
                            dilates, pad, pad, fwdPd, attr));

            List<Arg> fwdArgs = new ArrayList<>(List.of(
                    new Arg(ARG_SRC, QUERY_SRC_MD, 0, xMd, xMem, Slot.SRC, false),
                    new Arg(ARG_WEIGHTS, QUERY_WEIGHTS_MD, 0, wMd, wMem, Slot.WEIGHTS, false),
                    new Arg(ARG_DST, QUERY_DST_MD, 0, yMd, yMem, Slot.DST, true)));
            List<Arg> bwdWeightsArgs = new ArrayList<>(List.of(
                    new Arg(ARG_SRC, QUERY_SRC_MD, 0, xMd, xMem, Slot.SRC, false),
                    new Arg(ARG_DIFF_DST, QUERY_DIFF_DST_MD, 0, yMd, dyMem, Slot.DST, false),
                    new Arg(ARG_DIFF_WEIGHTS, QUERY_DIFF_WEIGHTS_MD, 0, wMd, dwMem, Slot.WEIGHTS, true)));
            if (hasBias) { // the bias descriptor is the second weights-like argument
                fwdArgs.add(new Arg(ARG_BIAS, QUERY_WEIGHTS_MD, 1, bMd, biasMem, Slot.BIAS, false));
                bwdWeightsArgs.add(new Arg(ARG_DIFF_BIAS, QUERY_DIFF_WEIGHTS_MD, 1, bMd, dbiasMem, Slot.BIAS, true));
            }
            forward = pass("forward", fwdPd, attr, fwdArgs);
            backwardData = pass("backward_data", bwdDataPd, attr, List.of(
                    new Arg(ARG_DIFF_DST, QUERY_DIFF_DST_MD, 0, yMd, dyMem, Slot.DST, false),
                    new Arg(ARG_WEIGHTS, QUERY_WEIGHTS_MD, 0, wMd, wMem, Slot.WEIGHTS, false),
                    new Arg(ARG_DIFF_SRC, QUERY_DIFF_SRC_MD, 0, xMd, dxMem, Slot.SRC, true)));
            backwardWeights = pass("backward_weights", bwdWeightsPd, attr, bwdWeightsArgs);
        } catch (DnnlException e) {
            release();
            throw new DnnlException("oneDNN convolution " + shape + (hasBias ? " with bias" : ""), e);
        } catch (RuntimeException | Error e) {
            release();
            throw e;
        }
        String f = forward.impl(), d = backwardData.impl(), w = backwardWeights.impl();
        String name = bf16 ? "onednn-bf16:" : "onednn:";
        implementation = f.equals(d) && f.equals(w)
                ? name + f
                : name + "fwd=" + f + ",bwd_data=" + d + ",bwd_weights=" + w;
    }

    /**
     * {@code -Dsam4j.bf16.weightGradients=bf16|fp32} (default bf16, as PyTorch's autocast): the inputs of bf16 runs'
     * weight-gradient passes. fp32 gives exact fp32 weight gradients at a cost: on ResNet-18's small planes oneDNN's
     * fp32 kernels are 3-5x slower than the bf16 matmul of {@link OneDnnGemmConv}.
     */
    static boolean weightGradientsInFp32() {
        String v = System.getProperty(WEIGHT_GRADIENTS, "bf16");
        return switch (v) {
            case "fp32" -> true;
            case "bf16" -> false;
            default -> throw new IllegalArgumentException("-D" + WEIGHT_GRADIENTS + ": expected fp32 or bf16, got '" + v + "'");
        };
    }

    static final String WEIGHT_GRADIENTS = "sam4j.bf16.weightGradients";

    /** oneDNN's format tag for activations in block width {@code lanes} (0: NCHW). */
    static int activationTag(int lanes) {
        return switch (lanes) {
            case 0 -> TAG_NCHW;
            case 8 -> TAG_NCHW8C;
            case 16 -> TAG_NCHW16C;
            default -> throw new IllegalArgumentException("block width must be 0, 8 or 16, got " + lanes);
        };
    }

    /** Creates a primitive descriptor from its src-like and dst-like activation descriptors. */
    private interface PdMaker {
        MemorySegment make(MemorySegment src, MemorySegment dst);
    }

    /**
     * The descriptor with {@code format any} activations; if {@code keepUser} and oneDNN chose activation
     * layouts other than the user's (brgconv_strided takes nhwc for the backward data of a strided 3x3), the
     * descriptor with the user's layouts instead, when oneDNN has an implementation for them: that saves
     * two activation reorders per call (jit:avx2 in nChw8c ran as fast as brgconv_strided without its
     * reorders on ResNet-18's strided layers, N=128, loaded 2-core AVX2 machine).
     */
    private MemorySegment choose(boolean keepUser, MemorySegment srcAny, MemorySegment dstAny, MemorySegment xMd,
            MemorySegment yMd, int srcQuery, int dstQuery, PdMaker maker) { // xMd, yMd: the user's layouts, in the pass's types
        MemorySegment pd = objects.primitiveDesc(maker.make(srcAny, dstAny));
        if (!keepUser || (memoryDescEqual(pdQueryMd(pd, srcQuery, 0), xMd) && memoryDescEqual(pdQueryMd(pd, dstQuery, 0), yMd))) {
            return pd;
        }
        MemorySegment user;
        try {
            user = objects.primitiveDesc(maker.make(xMd, yMd));
        } catch (DnnlException e) {
            return pd; // no implementation in the user's layouts: reorders around the chosen one
        }
        // oneDNN's reference kernels take any layout (a plain-input stem's backward data in NCHW/nChw16c got ref:any,
        // orders of magnitude slower): reorders around a jit kernel beat them.
        return isReference(user) && !isReference(pd) ? pd : user;
    }

    private static boolean isReference(MemorySegment pd) {
        return pdImplInfo(pd).startsWith("ref");
    }

    /** Builds the primitive for {@code pd}, with a reorder for every argument whose chosen layout is not the user's. */
    private Pass pass(String name, MemorySegment pd, MemorySegment attr, List<Arg> args) {
        List<Step> before = new ArrayList<>(), after = new ArrayList<>();
        List<MemorySegment> memories = new ArrayList<>();
        List<Integer> ids = new ArrayList<>();
        for (Arg a : args) {
            MemorySegment want = pdQueryMd(pd, a.query(), a.index());
            MemorySegment mem = a.userMem();
            if (!memoryDescEqual(want, a.userMd())) {
                mem = internal(want, a.slot());
                if (a.slot() == Slot.SRC || a.slot() == Slot.DST) activationReorders.add(name + ":" + tensorName(a.arg()));
                if (a.output()) after.add(reorder(want, mem, a.userMd(), a.userMem(), attr));
                else before.add(reorder(a.userMd(), a.userMem(), want, mem, attr));
            }
            ids.add(a.arg());
            memories.add(mem);
        }
        return new Pass(pdImplInfo(pd), List.copyOf(before),
                step(pd, ids.stream().mapToInt(Integer::intValue).toArray(), memories.toArray(MemorySegment[]::new)),
                List.copyOf(after));
    }

    @Override
    public void forward(MemorySegment x, MemorySegment w, MemorySegment bias, MemorySegment y) {
        prepare();
        bind(xMem, x, xFloats, "x");
        bind(wMem, w, shape.weightSize(), "w");
        bindBias(biasMem, bias, zeroBias, "bias");
        bind(yMem, y, yFloats, "y");
        run(forward);
    }

    @Override
    public void backwardData(MemorySegment dy, MemorySegment w, MemorySegment dx) {
        prepare();
        bind(dyMem, dy, yFloats, "dy");
        bind(wMem, w, shape.weightSize(), "w");
        bind(dxMem, dx, xFloats, "dx");
        run(backwardData);
    }

    @Override
    public void backwardWeights(MemorySegment x, MemorySegment dy, MemorySegment dw, MemorySegment dbias) {
        prepare();
        bind(xMem, x, xFloats, "x");
        bind(dyMem, dy, yFloats, "dy");
        bind(dwMem, dw, shape.weightSize(), "dw");
        bindBias(dbiasMem, dbias, discardedBiasGrad, "dbias");
        run(backwardWeights);
    }

    @Override
    public String implementation() {
        return implementation;
    }

    /** Reorder primitives around the three convolutions (0 when oneDNN kept the plain layouts). */
    int reorderCount() {
        return forward.before().size() + forward.after().size() + backwardData.before().size()
                + backwardData.after().size() + backwardWeights.before().size() + backwardWeights.after().size();
    }

    /** Of those, the reorders of x, y, dx or dy, as "pass:tensor" (none when oneDNN works in the user's layout). */
    List<String> activationReorders() {
        return List.copyOf(activationReorders);
    }

    private static String tensorName(int arg) {
        return switch (arg) {
            case ARG_SRC -> "x";
            case ARG_DST -> "y";
            case ARG_DIFF_SRC -> "dx";
            case ARG_DIFF_DST -> "dy";
            default -> "arg " + arg;
        };
    }

    private void run(Pass p) {
        MemorySegment stream = backend.stream();
        for (Step s : p.before()) s.run(stream);
        p.main().run(stream);
        for (Step s : p.after()) s.run(stream);
        streamWait(stream);
    }

    /** Null is fine for a bias kernel (zero bias / gradient not wanted); a bias for a bias-less kernel is not. */
    private void bindBias(MemorySegment memory, MemorySegment data, MemorySegment standIn, String name) {
        if (!hasBias) {
            if (data != null) throw new IllegalArgumentException(name + " given to a kernel created without bias");
            return;
        }
        bind(memory, data != null ? data : standIn, shape.k(), name);
    }
}
