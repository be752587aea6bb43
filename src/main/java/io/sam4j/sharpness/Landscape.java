package io.sam4j.sharpness;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import io.sam4j.kernels.FlatOps;
import io.sam4j.nn.Model;
import io.sam4j.nn.ParameterStore;
import io.sam4j.nn.SoftmaxCrossEntropy;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Loss landscapes after Li et al. (NeurIPS 2018; tomgoldstein/loss-landscape with {@code --xnorm filter
 * --xignore biasbn}): slices {@code L(w + a d)} and {@code L(w + a d1 + b d2)} in EVAL mode (running BatchNorm
 * statistics, which stay as trained), mean cross-entropy without smoothing and accuracy over the oracle's
 * examples. Weights are restored by copy after every slice.
 *
 * <p>A filter-normalised direction is Gaussian per tensor, then every filter (slice along dim 0: an output
 * channel of OIHW, a row of a Linear weight; a contiguous block of the flat layout) is rescaled to the norm of
 * the same filter of w: {@code d_j <- d_j ||w_j|| / (||d_j|| + 1e-10)}. Tensors with one dimension (biases,
 * BatchNorm gamma/beta) get 0 by default ({@code biasbn}), or a copy of w ({@code ignoreBiasBn} false, the
 * repository's code default). Other directions (the top eigenvector, SAM's perturbation) are rescaled to the
 * norm of such a direction, so that one alpha axis serves every curve.
 */
public final class Landscape {
    /** One slice: the grid, losses and accuracies ({@code [i]} in 1-D, {@code [i][j]} = (alpha_i, beta_j) in 2-D). */
    public record Line(String direction, double[] alphas, double[] losses, double[] accuracies, double curvature) {}

    public record Plane(double[] alphas, double[] betas, double[][] losses, double[][] accuracies, double cosine) {}

    private final ModelOracle oracle;
    private final Model model;
    private final ParameterStore store;
    private final FlatOps ops;
    private final long n;
    private final MemorySegment w0;

    /** {@code scratch}: a buffer of the store's layout for the saved weights (e.g. from a {@link CurvatureOperator}). */
    public Landscape(ModelOracle oracle, MemorySegment scratch) {
        this.oracle = oracle;
        this.model = oracle.model();
        this.store = model.store();
        this.ops = new FlatOps(model.context().kernels(), model.context().parallel());
        this.n = store.paramLength();
        this.w0 = scratch;
    }

    /** A filter-normalised Gaussian direction into {@code d} (zero on the padding). */
    public void filterNormalised(MemorySegment d, SplittableRandom rng, boolean ignoreBiasBn) {
        RandomVectors.gaussian(store, ops, d, rng);
        MemorySegment w = store.params();
        for (ParameterStore.Tensor t : store.paramTensors()) {
            long[] shape = t.shape();
            if (shape.length < 2) {
                for (long i = t.offset(); i < t.offset() + t.size(); i++) d.setAtIndex(JAVA_FLOAT, i, ignoreBiasBn ? 0f : w.getAtIndex(JAVA_FLOAT, i));
                continue;
            }
            long filter = t.size() / shape[0];
            for (long f = 0; f < shape[0]; f++) {
                long from = t.offset() + f * filter;
                double wn = 0, dn = 0;
                for (long i = from; i < from + filter; i++) {
                    wn += sq(w.getAtIndex(JAVA_FLOAT, i));
                    dn += sq(d.getAtIndex(JAVA_FLOAT, i));
                }
                float scale = (float) (Math.sqrt(wn) / (Math.sqrt(dn) + 1e-10));
                for (long i = from; i < from + filter; i++) d.setAtIndex(JAVA_FLOAT, i, d.getAtIndex(JAVA_FLOAT, i) * scale);
            }
        }
    }

    /** Rescales {@code d} to norm {@code norm}. */
    public void rescale(MemorySegment d, double norm) {
        double cur = Math.sqrt(ops.sumSquares(d, n));
        if (cur > 0) ops.scale((float) (norm / cur), d, n);
    }

    public double norm(MemorySegment d) {
        return Math.sqrt(ops.sumSquares(d, n));
    }

    /**
     * L and accuracy along {@code w + a d} for each a of {@code alphas}; {@code curvature} is the exact
     * {@code d^T H d} (the second derivative at a = 0, for the record; NaN if not computed).
     */
    public Line line(String name, MemorySegment d, double[] alphas, double curvature) {
        double[] loss = new double[alphas.length], acc = new double[alphas.length];
        ops.copy(store.params(), w0, n);
        try {
            for (int i = 0; i < alphas.length; i++) {
                move(d, alphas[i], null, 0);
                double[] la = evaluate();
                loss[i] = la[0];
                acc[i] = la[1];
            }
        } finally {
            ops.copy(w0, store.params(), n);
        }
        return new Line(name, alphas.clone(), loss, acc, curvature);
    }

    /** L and accuracy over the grid {@code w + a d1 + b d2}. */
    public Plane plane(MemorySegment d1, MemorySegment d2, double[] alphas, double[] betas) {
        double[][] loss = new double[alphas.length][betas.length], acc = new double[alphas.length][betas.length];
        ops.copy(store.params(), w0, n);
        try {
            for (int i = 0; i < alphas.length; i++) {
                for (int j = 0; j < betas.length; j++) {
                    move(d1, alphas[i], d2, betas[j]);
                    double[] la = evaluate();
                    loss[i][j] = la[0];
                    acc[i][j] = la[1];
                }
            }
        } finally {
            ops.copy(w0, store.params(), n);
        }
        double cos = ops.dot(d1, d2, n) / (norm(d1) * norm(d2));
        return new Plane(alphas.clone(), betas.clone(), loss, acc, cos);
    }

    private void move(MemorySegment d1, double a, MemorySegment d2, double b) {
        MemorySegment w = store.params();
        ops.copy(w0, w, n);
        ops.axpy((float) a, d1, w, n);
        if (d2 != null) ops.axpy((float) b, d2, w, n);
    }

    /** Mean loss (no smoothing) and accuracy over the oracle's examples, EVAL mode. */
    private double[] evaluate() {
        double loss = 0;
        long correct = 0;
        List<ModelOracle.Batch> batches = oracle.batches();
        for (ModelOracle.Batch b : batches) {
            SoftmaxCrossEntropy.Eval e = model.evaluate(b.x(), b.labels(), b.n());
            loss += e.lossSum();
            correct += e.correct();
        }
        return new double[] {loss / oracle.examples(), (double) correct / oracle.examples()};
    }

    /** {@code count} evenly spaced values over [-range, range]. */
    public static double[] grid(double range, int count) {
        double[] g = new double[count];
        for (int i = 0; i < count; i++) g[i] = count == 1 ? 0 : -range + 2 * range * i / (count - 1);
        return g;
    }

    private static double sq(double x) {
        return x * x;
    }
}
