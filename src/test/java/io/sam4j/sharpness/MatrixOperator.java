package io.sam4j.sharpness;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import io.sam4j.kernels.FlatOps;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import io.sam4j.nn.ParameterStore;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

/**
 * A dense symmetric matrix Q diag(lambda) Q^T (Q random orthogonal) as a {@link CurvatureOperator} over a
 * store with two tensors (so there is padding between them), products in double: spectra known exactly.
 */
final class MatrixOperator implements CurvatureOperator {
    final ParameterStore store;
    final double[][] a;
    final double[] lambda;
    final long[] idx;
    private final FlatOps ops = new FlatOps(KernelsProvider.get(), Parallel.common());
    private final Arena arena = Arena.ofShared();
    private long products;

    MatrixOperator(double[] lambda, long seed) {
        int d = lambda.length;
        ParameterStore.Builder b = ParameterStore.builder();
        b.param("a.weight", d / 2);
        b.param("b.weight", d - d / 2);
        store = b.build();
        idx = new long[d];
        int k = 0;
        for (ParameterStore.Tensor t : store.paramTensors()) for (long i = 0; i < t.size(); i++) idx[k++] = t.offset() + i;
        this.lambda = lambda.clone();
        double[][] q = orthogonal(d, new Random(seed));
        a = new double[d][d];
        for (int i = 0; i < d; i++) {
            for (int j = 0; j < d; j++) {
                double s = 0;
                for (int p = 0; p < d; p++) s += q[i][p] * lambda[p] * q[j][p];
                a[i][j] = s;
            }
        }
    }

    private static double[][] orthogonal(int d, Random r) {
        double[][] q = new double[d][d]; // columns by Gram-Schmidt of Gaussian columns, stored q[row][col]
        for (int c = 0; c < d; c++) {
            double[] v = new double[d];
            for (int i = 0; i < d; i++) v[i] = r.nextGaussian();
            for (int pass = 0; pass < 2; pass++) {
                for (int p = 0; p < c; p++) {
                    double dot = 0;
                    for (int i = 0; i < d; i++) dot += v[i] * q[i][p];
                    for (int i = 0; i < d; i++) v[i] -= dot * q[i][p];
                }
            }
            double norm = 0;
            for (double x : v) norm += x * x;
            norm = Math.sqrt(norm);
            for (int i = 0; i < d; i++) q[i][c] = v[i] / norm;
        }
        return q;
    }

    double trace() {
        double t = 0;
        for (double l : lambda) t += l;
        return t;
    }

    @Override
    public double apply(MemorySegment v, MemorySegment out) {
        int d = idx.length;
        double[] x = new double[d];
        double norm = 0;
        for (int i = 0; i < d; i++) {
            x[i] = v.getAtIndex(JAVA_FLOAT, idx[i]);
            norm += x[i] * x[i];
        }
        for (int i = 0; i < d; i++) {
            double s = 0;
            for (int j = 0; j < d; j++) s += a[i][j] * x[j];
            out.setAtIndex(JAVA_FLOAT, idx[i], (float) s);
        }
        products++;
        return Math.sqrt(norm);
    }

    @Override
    public MemorySegment newBuffer() {
        return arena.allocate(4L * store.paramLength(), 64);
    }

    @Override
    public ParameterStore store() {
        return store;
    }

    @Override
    public FlatOps ops() {
        return ops;
    }

    @Override
    public long products() {
        return products;
    }

    @Override
    public long gradientEvaluations() {
        return 0;
    }

    @Override
    public String kind() {
        return "matrix";
    }

    @Override
    public void close() {
        arena.close();
        store.close();
    }
}
