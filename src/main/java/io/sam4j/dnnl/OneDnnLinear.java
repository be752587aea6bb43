package io.sam4j.dnnl;

import static io.sam4j.dnnl.Dnnl.*;

import io.sam4j.conv.LinearKernel;
import io.sam4j.dnnl.Workspace.Slot;
import java.lang.foreign.MemorySegment;

/**
 * A bf16 linear layer for one batch size: three oneDNN matmuls (AMX / AVX512_BF16 where the CPU has them) on bf16
 * copies of x, w and dy, made by reorders (the casts) into the backend's workspace, with fp32 outputs written
 * straight into the caller's tensors. With {@code -Dsam4j.bf16.weightGradients=fp32} the weight gradient's matmul
 * takes the fp32 x and dy as they are. The transposes (w^T in the forward, dy^T in the weight gradient) are
 * strided views, not copies.
 */
final class OneDnnLinear extends OneDnnKernel implements LinearKernel {
    private final long n, in, out;
    private final MemorySegment xMem, wMem, yMem, dyMem, dxMem, dwMem;
    private final MemorySegment dyTMem; // dy^T, a view of the caller's dy (fp32 weight gradients only)
    private final Step xToBf16, wToBf16, dyToBf16, forward, backwardData, backwardWeights;
    private final boolean fp32WeightGradients;
    private final String implementation;

    OneDnnLinear(OneDnnConvBackend backend, int n, int in, int out, boolean fp32WeightGradients) {
        super(backend, "oneDNN bf16 linear " + n + "x" + in + " -> " + out);
        if (n < 1 || in < 1 || out < 1) throw new IllegalArgumentException("bad linear shape: n " + n + ", in " + in + ", out " + out);
        this.n = n;
        this.in = in;
        this.out = out;
        this.fp32WeightGradients = fp32WeightGradients;
        try {
            ompSetNumThreads(backend.threads());
            MemorySegment engine = backend.engine();
            MemorySegment attr = objects.attrUserScratchpad();
            MemorySegment x32 = rows(F32, n, in), w32 = rows(F32, out, in), y32 = rows(F32, n, out);
            MemorySegment x16 = rows(BF16, n, in), w16 = rows(BF16, out, in), dy16 = rows(BF16, n, out);
            xMem = objects.memory(x32, engine);
            wMem = objects.memory(w32, engine);
            yMem = objects.memory(y32, engine);
            dyMem = objects.memory(y32, engine);
            dxMem = objects.memory(x32, engine);
            dwMem = objects.memory(w32, engine);
            MemorySegment xB = internal(x16, Slot.SRC), wB = internal(w16, Slot.WEIGHTS), dyB = internal(dy16, Slot.DST);
            xToBf16 = reorder(x32, xMem, x16, xB, attr);
            wToBf16 = reorder(w32, wMem, w16, wB, attr);
            dyToBf16 = reorder(y32, dyMem, dy16, dyB, attr);

            // y [n][out] = x [n][in] . w^T, w^T a [in][out] view of w [out][in]
            MemorySegment wT16 = objects.memoryDescStrided(BF16, new long[] {in, out}, new long[] {1, in});
            forward = matmul(x16, xB, wT16, wB, y32, yMem, attr);
            // dx [n][in] = dy [n][out] . w [out][in]
            backwardData = matmul(dy16, dyB, w16, wB, x32, dxMem, attr);
            // dw [out][in] = dy^T [out][n] . x [n][in]
            // (a memory object per view: a primitive reads its arguments through their own descriptors)
            MemorySegment dyT = objects.memoryDescStrided(fp32WeightGradients ? F32 : BF16, new long[] {out, n}, new long[] {1, out});
            dyTMem = fp32WeightGradients ? objects.memory(dyT, engine) : null;
            backwardWeights = fp32WeightGradients ? matmul(dyT, dyTMem, x32, xMem, w32, dwMem, attr)
                    : matmul(dyT, internal(dyT, Slot.DST), x16, xB, w32, dwMem, attr);
            implementation = "onednn-bf16:" + matmulImpl;
        } catch (DnnlException e) {
            release();
            throw new DnnlException("oneDNN bf16 linear " + n + "x" + in + " -> " + out, e);
        } catch (RuntimeException | Error e) {
            release();
            throw e;
        }
    }

    private String matmulImpl = "?"; // set by matmul(): the implementation oneDNN picked

    private MemorySegment rows(int type, long r, long c) {
        return objects.memoryDescStrided(type, new long[] {r, c}, new long[] {c, 1});
    }

    private Step matmul(MemorySegment srcMd, MemorySegment src, MemorySegment weightsMd, MemorySegment weights,
            MemorySegment dstMd, MemorySegment dst, MemorySegment attr) {
        MemorySegment pd = objects.primitiveDesc(matmulPd(backend.engine(), srcMd, weightsMd, MemorySegment.NULL, dstMd, attr));
        matmulImpl = pdImplInfo(pd);
        return step(pd, new int[] {ARG_SRC, ARG_WEIGHTS, ARG_DST}, new MemorySegment[] {src, weights, dst});
    }

    @Override
    public void forward(MemorySegment x, MemorySegment w, MemorySegment y) {
        prepare();
        bind(xMem, x, n * in, "x");
        bind(wMem, w, out * in, "w");
        bind(yMem, y, n * out, "y");
        MemorySegment stream = backend.stream();
        xToBf16.run(stream);
        wToBf16.run(stream);
        forward.run(stream);
        streamWait(stream);
    }

    @Override
    public void backwardData(MemorySegment dy, MemorySegment w, MemorySegment dx) {
        prepare();
        bind(dyMem, dy, n * out, "dy");
        bind(wMem, w, out * in, "w");
        bind(dxMem, dx, n * in, "dx");
        MemorySegment stream = backend.stream();
        dyToBf16.run(stream);
        wToBf16.run(stream);
        backwardData.run(stream);
        streamWait(stream);
    }

    @Override
    public void backwardWeights(MemorySegment x, MemorySegment dy, MemorySegment dw) {
        prepare();
        bind(xMem, x, n * in, "x");
        bind(dyMem, dy, n * out, "dy");
        bind(dwMem, dw, out * in, "dw");
        if (fp32WeightGradients) bind(dyTMem, dy, n * out, "dy");
        MemorySegment stream = backend.stream();
        if (!fp32WeightGradients) {
            xToBf16.run(stream);
            dyToBf16.run(stream);
        }
        backwardWeights.run(stream);
        streamWait(stream);
    }

    @Override
    public String implementation() {
        return implementation;
    }
}
