package io.sam4j.dnnl;

import static io.sam4j.dnnl.Dnnl.*;

import io.sam4j.conv.LinearKernel;
import io.sam4j.dnnl.Workspace.Slot;
import java.lang.foreign.MemorySegment;

/**
 * A linear layer for one batch size as three oneDNN matmuls, writing fp32 outputs straight into the caller's
 * tensors. fp32: the matmuls read the caller's x, w and dy (brg_matmul: 3.7 against the Java GEMM's 14.8 ms for the
 * three products of the cnn's 3136 -> 256 layer in isolation, 2-core Sapphire Rapids; in whole steps the mlp's
 * SGD step went from 1.85-2.15 to 1.43-1.75 ms, the cnn's stayed within noise). bf16: they read bf16
 * copies of x, w and dy made by reorders (the casts) into the backend's workspace (AMX / AVX512_BF16); with
 * {@code -Dsam4j.bf16.weightGradients=fp32} the weight gradient takes the fp32 x and dy. The transposes (w^T in the
 * forward, dy^T in the weight gradient) are strided views, each with its own memory object (a primitive reads an
 * argument through the descriptor it was made with).
 */
final class OneDnnLinear extends OneDnnKernel implements LinearKernel {
    private final long n, in, out;
    private final boolean bf16, castForWeights;
    // The caller's tensors: rebound on every call. wT and dyT are views of w and dy where those are read as fp32.
    private final MemorySegment xMem, wMem, yMem, dyMem, dxMem, dwMem, wTMem, dyTMem;
    private final Step xCast, wCast, dyCast, forward, backwardData, backwardWeights;
    private final String implementation;

    OneDnnLinear(OneDnnConvBackend backend, int n, int in, int out, boolean bf16, boolean fp32WeightGradients) {
        super(backend, "oneDNN " + (bf16 ? "bf16" : "fp32") + " linear " + n + "x" + in + " -> " + out);
        if (n < 1 || in < 1 || out < 1) throw new IllegalArgumentException("bad linear shape: n " + n + ", in " + in + ", out " + out);
        this.n = n;
        this.in = in;
        this.out = out;
        this.bf16 = bf16;
        this.castForWeights = bf16 && !fp32WeightGradients;
        try {
            ompSetNumThreads(backend.threads());
            MemorySegment engine = backend.engine();
            MemorySegment attr = objects.attrUserScratchpad();
            MemorySegment x32 = rows(F32, n, in), w32 = rows(F32, out, in), y32 = rows(F32, n, out);
            xMem = objects.memory(x32, engine);
            wMem = objects.memory(w32, engine);
            yMem = objects.memory(y32, engine);
            dyMem = objects.memory(y32, engine);
            dxMem = objects.memory(x32, engine);
            dwMem = objects.memory(w32, engine);
            int t = bf16 ? BF16 : F32, tw = castForWeights ? BF16 : F32; // the data and weight-gradient matmuls' input type
            MemorySegment xT = rows(t, n, in), wRows = rows(t, out, in), dyRows = rows(t, n, out);
            MemorySegment wTMd = objects.memoryDescStrided(t, new long[] {in, out}, new long[] {1, in});
            MemorySegment dyTMd = objects.memoryDescStrided(tw, new long[] {out, n}, new long[] {1, out});
            MemorySegment xW = rows(tw, n, in);
            // bf16 copies in the workspace: x in SRC, w in WEIGHTS, dy in DST (each read through its views too)
            MemorySegment xB = bf16 ? internal(xT, Slot.SRC) : xMem, wB = bf16 ? internal(wRows, Slot.WEIGHTS) : wMem;
            MemorySegment dyB = bf16 ? internal(dyRows, Slot.DST) : dyMem;
            xCast = bf16 ? reorder(x32, xMem, xT, xB, attr) : null;
            wCast = bf16 ? reorder(w32, wMem, wRows, wB, attr) : null;
            dyCast = bf16 ? reorder(y32, dyMem, dyRows, dyB, attr) : null;
            wTMem = bf16 ? null : objects.memory(wTMd, engine);
            dyTMem = castForWeights ? null : objects.memory(dyTMd, engine);

            // y [n][out] = x [n][in] . w^T, w^T a [in][out] view of w [out][in]
            forward = matmul(xT, xB, wTMd, bf16 ? internal(wTMd, Slot.WEIGHTS) : wTMem, y32, yMem, attr);
            // dx [n][in] = dy [n][out] . w [out][in]
            backwardData = matmul(dyRows, dyB, wRows, wB, x32, dxMem, attr);
            // dw [out][in] = dy^T [out][n] . x [n][in]
            backwardWeights = matmul(dyTMd, castForWeights ? internal(dyTMd, Slot.DST) : dyTMem, xW, castForWeights ? xB : xMem,
                    w32, dwMem, attr);
            implementation = (bf16 ? "onednn-bf16:" : "onednn:") + matmulImplementation;
        } catch (DnnlException e) {
            release();
            throw new DnnlException("oneDNN " + (bf16 ? "bf16" : "fp32") + " linear " + n + "x" + in + " -> " + out, e);
        } catch (RuntimeException | Error e) {
            release();
            throw e;
        }
    }

    private MemorySegment rows(int type, long r, long c) {
        return objects.memoryDescStrided(type, new long[] {r, c}, new long[] {c, 1});
    }

    private Step matmul(MemorySegment srcMd, MemorySegment src, MemorySegment weightsMd, MemorySegment weights,
            MemorySegment dstMd, MemorySegment dst, MemorySegment attr) {
        return matmul(srcMd, src, weightsMd, weights, MemorySegment.NULL, null, dstMd, dst, attr);
    }

    @Override
    public void forward(MemorySegment x, MemorySegment w, MemorySegment y) {
        prepare();
        bind(xMem, x, n * in, "x");
        bind(wMem, w, out * in, "w");
        if (!bf16) bind(wTMem, w, out * in, "w");
        bind(yMem, y, n * out, "y");
        MemorySegment stream = backend.stream();
        if (bf16) {
            xCast.run(stream);
            wCast.run(stream);
        }
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
        if (bf16) {
            dyCast.run(stream);
            wCast.run(stream);
        }
        backwardData.run(stream);
        streamWait(stream);
    }

    @Override
    public void backwardWeights(MemorySegment x, MemorySegment dy, MemorySegment dw) {
        prepare();
        bind(xMem, x, n * in, "x");
        bind(dyMem, dy, n * out, "dy");
        bind(dwMem, dw, out * in, "dw");
        if (!castForWeights) bind(dyTMem, dy, n * out, "dy");
        MemorySegment stream = backend.stream();
        if (castForWeights) {
            xCast.run(stream);
            dyCast.run(stream);
        }
        backwardWeights.run(stream);
        streamWait(stream);
    }

    @Override
    public String implementation() {
        return implementation;
    }
}
