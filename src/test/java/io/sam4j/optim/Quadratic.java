package io.sam4j.optim;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import io.sam4j.nn.Mode;
import io.sam4j.nn.ParameterStore;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Random;

/**
 * L(w) = 0.5 w^T A w - b^T w over the real parameters of a small store with a weight and a bias
 * tensor (so the flat buffer has padding between them); grad = A w - b, computed in double.
 */
final class Quadratic implements LossFunction {
    final ParameterStore store;
    final int n;
    final double[][] a;
    final double[] b;
    final long[] offsets;
    /** Weights seen by each call, for the tests that look at the perturbation. */
    double[] lastSeen;
    Mode lastMode;

    Quadratic(long seed) {
        ParameterStore.Builder sb = ParameterStore.builder();
        sb.param("fc.weight", 2, 2);
        sb.param("fc.bias", 3);
        store = sb.build();
        List<ParameterStore.Tensor> ts = store.paramTensors();
        n = 7;
        offsets = new long[n];
        int k = 0;
        for (ParameterStore.Tensor t : ts) for (long i = 0; i < t.size(); i++) offsets[k++] = t.offset() + i;
        Random r = new Random(seed);
        // A = M M^T / n + 0.5 I: symmetric positive definite with eigenvalues of order 1.
        double[][] m = new double[n][n];
        for (double[] row : m) for (int j = 0; j < n; j++) row[j] = r.nextGaussian();
        a = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < n; p++) s += m[i][p] * m[j][p];
                a[i][j] = s / n + (i == j ? 0.5 : 0);
            }
        }
        b = new double[n];
        for (int i = 0; i < n; i++) b[i] = r.nextGaussian();
        double[] w0 = new double[n];
        for (int i = 0; i < n; i++) w0[i] = r.nextGaussian();
        setWeights(w0);
    }

    /** Whether flat element i of the real parameters belongs to a tensor named *weight. */
    boolean isWeight(int i) {
        return i < 4;
    }

    void setWeights(double[] w) {
        for (int i = 0; i < n; i++) store.params().setAtIndex(JAVA_FLOAT, offsets[i], (float) w[i]);
    }

    double[] weights() {
        double[] w = new double[n];
        for (int i = 0; i < n; i++) w[i] = store.params().getAtIndex(JAVA_FLOAT, offsets[i]);
        return w;
    }

    double[] grad(double[] w) {
        double[] g = new double[n];
        for (int i = 0; i < n; i++) {
            double s = -b[i];
            for (int j = 0; j < n; j++) s += a[i][j] * w[j];
            g[i] = s;
        }
        return g;
    }

    double loss(double[] w) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            double aw = 0;
            for (int j = 0; j < n; j++) aw += a[i][j] * w[j];
            s += 0.5 * w[i] * aw - b[i] * w[i];
        }
        return s;
    }

    @Override
    public double lossAndGrad(Mode mode) {
        double[] w = weights();
        lastSeen = w;
        lastMode = mode;
        double[] g = grad(w);
        MemorySegment gs = store.grads();
        for (int i = 0; i < n; i++) gs.setAtIndex(JAVA_FLOAT, offsets[i], (float) g[i]);
        return loss(w);
    }
}
