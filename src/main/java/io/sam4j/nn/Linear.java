package io.sam4j.nn;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import io.sam4j.kernels.Gemm;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

/** y = x W^T + b with W of shape [out, in] (PyTorch's layout and names: weight, bias). */
public final class Linear implements Layer {
    private final int outFeatures;
    private final boolean hasBias;
    private int in;
    private boolean spatialInput;
    private Context ctx;
    private ParameterStore.Tensor wT, bT;
    private MemorySegment w, b, dw, db;
    private MemorySegment x, y, dx;
    private float[] biasAcc;

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
        Gemm.sgemm(ctx.parallel(), false, true, n, outFeatures, in, 1f, x, 0, in, w, 0, in, 0f, y, 0, outFeatures);
        if (hasBias) {
            for (int i = 0; i < n; i++) {
                long row = (long) i * outFeatures;
                for (int j = 0; j < outFeatures; j++) {
                    y.setAtIndex(JAVA_FLOAT, row + j, y.getAtIndex(JAVA_FLOAT, row + j) + b.getAtIndex(JAVA_FLOAT, j));
                }
            }
        }
        return y;
    }

    @Override
    public MemorySegment backward(MemorySegment dy, int n, boolean needInputGrad) {
        // dW[out, in] = dY^T[out, n] x[n, in]
        Gemm.sgemm(ctx.parallel(), true, false, outFeatures, in, n, 1f, dy, 0, outFeatures, x, 0, in, 0f, dw, 0, in);
        if (hasBias) {
            java.util.Arrays.fill(biasAcc, 0f);
            for (int i = 0; i < n; i++) {
                long row = (long) i * outFeatures;
                for (int j = 0; j < outFeatures; j++) biasAcc[j] += dy.getAtIndex(JAVA_FLOAT, row + j);
            }
            MemorySegment.copy(biasAcc, 0, db, JAVA_FLOAT, 0, outFeatures);
        }
        if (!needInputGrad) return null;
        // dX[n, in] = dY[n, out] W[out, in]
        dx = ctx.ensure(dx, (long) n * in);
        Gemm.sgemm(ctx.parallel(), false, false, n, in, outFeatures, 1f, dy, 0, outFeatures, w, 0, in, 0f, dx, 0, in);
        return dx;
    }
}
