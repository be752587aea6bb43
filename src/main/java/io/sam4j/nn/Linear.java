package io.sam4j.nn;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import io.sam4j.conv.LinearKernel;
import io.sam4j.kernels.Gemm;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;

/**
 * y = x W^T + b with W of shape [out, in] (PyTorch's layout and names: weight, bias). The three products run on the
 * backend's {@link LinearKernel} where it has one (oneDNN's matmul, in the context's precision: fp32, or bf16 with
 * {@link Context#usePrecision}), one per batch size, else on the Java GEMM; the bias and its gradient are fp32 here.
 * The R-operator passes (exact Hessian-vector products) run on the Java GEMM in fp32 either way.
 */
public final class Linear implements Layer {
    private final int outFeatures;
    private final boolean hasBias;
    private int in;
    private boolean spatialInput;
    private Context ctx;
    private ParameterStore.Tensor wT, bT;
    private MemorySegment w, b, dw, db;
    /** The last forward's input and output, and the last backward's dy (re-read by rBackward). */
    private MemorySegment x, y, dy;
    /** Curvature products: slices of the direction and of Hv, and the R-buffers. */
    private MemorySegment vw, vb, hw, hb, rx, ry, rdx;
    private float[] biasAcc;
    /** Per batch size: the backend's kernel in the context's precision, or empty for the Java GEMM (fp32). */
    private final Map<Integer, Optional<LinearKernel>> kernels = new HashMap<>();

    public Linear(int outFeatures) {
        this(outFeatures, true);
    }

    public Linear(int outFeatures, boolean bias) {
        this.outFeatures = outFeatures;
        this.hasBias = bias;
    }

    @Override
    public int[] declare(int[] inShape, String prefix, ParameterStore.Builder builder, Context ctx) {
        this.ctx = ctx;
        this.in = (int) Layer.numel(inShape);
        this.spatialInput = inShape.length == 3;
        wT = builder.param(prefix + "weight", outFeatures, in);
        if (hasBias) bT = builder.param(prefix + "bias", outFeatures);
        biasAcc = new float[outFeatures];
        return new int[] {outFeatures};
    }

    @Override
    public void bind(ParameterStore store) {
        w = store.slice(wT);
        dw = store.gradSlice(wT);
        if (hasBias) {
            b = store.slice(bT);
            db = store.gradSlice(bT);
        }
    }

    /** PyTorch: kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(in), 1/sqrt(in)); the bias the same bound. */
    @Override
    public void initialize(ParameterStore store, SplittableRandom rng) {
        float bound = (float) (1.0 / Math.sqrt(in));
        Init.uniform(w, -bound, bound, rng);
        if (hasBias) Init.uniform(b, -bound, bound, rng);
    }

    @Override
    public MemorySegment forward(MemorySegment x, int n, Mode mode) {
        if (spatialInput && ctx.blocked()) {
            throw new IllegalStateException("Linear on a {C, H, W} input: put a Flatten before it (activations are blocked)");
        }
        this.x = x;
        y = ctx.ensure(y, (long) n * outFeatures);
        Optional<LinearKernel> k = kernel(n);
        if (k.isPresent()) k.get().forward(x, w, y);
        else Gemm.sgemm(ctx.parallel(), false, true, n, outFeatures, in, 1f, x, 0, in, w, 0, in, 0f, y, 0, outFeatures);
        if (hasBias) addBias(y, b, n);
        return y;
    }

    @Override
    public MemorySegment backward(MemorySegment dy, int n, boolean needInputGrad) {
        this.dy = dy;
        Optional<LinearKernel> k = kernel(n);
        // dW[out, in] = dY^T[out, n] x[n, in]
        if (k.isPresent()) k.get().backwardWeights(x, dy, dw);
        else Gemm.sgemm(ctx.parallel(), true, false, outFeatures, in, n, 1f, dy, 0, outFeatures, x, 0, in, 0f, dw, 0, in);
        if (hasBias) sumRows(dy, db, n);
        MemorySegment dx = null;
        if (needInputGrad) {
            // dX[n, in] = dY[n, out] W[out, in]
            dx = ctx.gradients().acquire(this, (long) n * in);
            if (k.isPresent()) k.get().backwardData(dy, w, dx);
            else Gemm.sgemm(ctx.parallel(), false, false, n, in, outFeatures, 1f, dy, 0, outFeatures, w, 0, in, 0f, dx, 0, in);
        }
        ctx.gradients().release(dy);
        return dx;
    }

    private Optional<LinearKernel> kernel(int n) {
        return kernels.computeIfAbsent(n, batch -> ctx.linearKernel(batch, in, outFeatures));
    }

    /** What the products run on, for logs: "java:gemm" or the backend kernel's name. */
    public String implementation() {
        return kernels.values().stream().flatMap(Optional::stream).map(LinearKernel::implementation).findFirst().orElse("java:gemm");
    }

    private void addBias(MemorySegment out, MemorySegment bias, int n) {
        for (int i = 0; i < n; i++) {
            long row = (long) i * outFeatures;
            for (int j = 0; j < outFeatures; j++) {
                out.setAtIndex(JAVA_FLOAT, row + j, out.getAtIndex(JAVA_FLOAT, row + j) + bias.getAtIndex(JAVA_FLOAT, j));
            }
        }
    }

    /** out[j] = sum over the n rows of m[., j] (the bias gradient). */
    private void sumRows(MemorySegment m, MemorySegment out, int n) {
        java.util.Arrays.fill(biasAcc, 0f);
        for (int i = 0; i < n; i++) {
            long row = (long) i * outFeatures;
            for (int j = 0; j < outFeatures; j++) biasAcc[j] += m.getAtIndex(JAVA_FLOAT, row + j);
        }
        MemorySegment.copy(biasAcc, 0, out, JAVA_FLOAT, 0, outFeatures);
    }

    @Override
    public void bindCurvature(ParameterStore store, MemorySegment v, MemorySegment hv) {
        vw = store.stateSlice(v, wT);
        hw = store.stateSlice(hv, wT);
        if (hasBias) {
            vb = store.stateSlice(v, bT);
            hb = store.stateSlice(hv, bT);
        }
    }

    /** R{y} = R{x} W^T + x V^T + v_b. */
    @Override
    public MemorySegment rForward(MemorySegment rx, int n) {
        this.rx = rx;
        ry = ctx.ensure(ry, (long) n * outFeatures);
        Gemm.sgemm(ctx.parallel(), false, true, n, outFeatures, in, 1f, x, 0, in, vw, 0, in, 0f, ry, 0, outFeatures);
        if (rx != null) Gemm.sgemm(ctx.parallel(), false, true, n, outFeatures, in, 1f, rx, 0, in, w, 0, in, 1f, ry, 0, outFeatures);
        if (hasBias) addBias(ry, vb, n);
        return ry;
    }

    /** hW = R{dy}^T x + dy^T R{x}, hb = sum R{dy}, R{dx} = R{dy} W + dy V (Gauss-Newton: without the dy terms). */
    @Override
    public MemorySegment rBackward(MemorySegment rdy, int n, boolean needInputGrad, boolean gaussNewton) {
        Gemm.sgemm(ctx.parallel(), true, false, outFeatures, in, n, 1f, rdy, 0, outFeatures, x, 0, in, 0f, hw, 0, in);
        if (rx != null && !gaussNewton) {
            Gemm.sgemm(ctx.parallel(), true, false, outFeatures, in, n, 1f, dy, 0, outFeatures, rx, 0, in, 1f, hw, 0, in);
        }
        if (hasBias) sumRows(rdy, hb, n);
        if (!needInputGrad) return null;
        rdx = ctx.ensure(rdx, (long) n * in);
        Gemm.sgemm(ctx.parallel(), false, false, n, in, outFeatures, 1f, rdy, 0, outFeatures, w, 0, in, 0f, rdx, 0, in);
        if (!gaussNewton) Gemm.sgemm(ctx.parallel(), false, false, n, in, outFeatures, 1f, dy, 0, outFeatures, vw, 0, in, 1f, rdx, 0, in);
        return rdx;
    }
}
