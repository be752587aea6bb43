package io.sam4j.sharpness;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import io.sam4j.kernels.FlatOps;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import io.sam4j.nn.ParameterStore;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * A loss with an exactly known Hessian on a ParameterStore with two tensors (weight [5, 6], bias [9]:
 * D = 39 real parameters in 48 floats, padding after each tensor). Gradients are computed in double from
 * the float weights and stored as float. Two kinds:
 * <ul>
 *   <li>quadratic {@code 0.5 w^T A w} with A = Q diag(lambda) Q^T for a random orthogonal Q;</li>
 *   <li>least squares {@code ||X w - y||^2 / 2n}, Hessian {@code X^T X / n}.</li>
 * </ul>
 * Every call checks that the padding of the weights is still zero.
 */
final class DenseProblem implements GradientOracle, AutoCloseable {
    static final int D = 39;

    final ParameterStore store;
    final FlatOps ops = new FlatOps(KernelsProvider.get(), Parallel.common());
    final long[] idx = new long[D];
    /** The exact Hessian. */
    final double[][] h;
    /** Eigenvalues (chosen for the quadratic; null for least squares) and eigenvectors as columns of q. */
    final double[] eigenvalues;
    final double[][] q;
    private final double[][] x;
    private final double[] y;
    int calls;
    int lossOnlyCalls;
    boolean paddingTouched;

    private DenseProblem(double[][] h, double[] eigenvalues, double[][] q, double[][] x, double[] y) {
        ParameterStore.Builder b = ParameterStore.builder();
        b.param("fc.weight", 5, 6);
        b.param("fc.bias", 9);
        store = b.build();
        int k = 0;
        for (ParameterStore.Tensor t : store.paramTensors()) for (long i = 0; i < t.size(); i++) idx[k++] = t.offset() + i;
        this.h = h;
        this.eigenvalues = eigenvalues;
        this.q = q;
        this.x = x;
        this.y = y;
    }

    /** 0.5 w^T A w with A = Q diag(lambda) Q^T, lambda given (length D), Q random orthogonal from seed. */
    static DenseProblem quadratic(double[] lambda, long seed) {
        if (lambda.length != D) throw new IllegalArgumentException("need " + D + " eigenvalues");
        Random r = new Random(seed);
        double[][] q = randomOrthogonal(D, r);
        double[][] a = new double[D][D];
        for (int i = 0; i < D; i++) {
            for (int j = 0; j < D; j++) {
                double s = 0;
                for (int p = 0; p < D; p++) s += q[i][p] * lambda[p] * q[j][p];
                a[i][j] = s;
            }
        }
        DenseProblem p = new DenseProblem(a, lambda.clone(), q, null, null);
        p.randomWeights(r, 1.0);
        return p;
    }

    /** ||X w - y||^2 / 2n with n rows; column j of X scaled by 1.15^-j so the spectrum is spread out. */
    static DenseProblem leastSquares(int rows, long seed) {
        Random r = new Random(seed);
        double[][] x = new double[rows][D];
        for (double[] row : x) for (int j = 0; j < D; j++) row[j] = r.nextGaussian() * Math.pow(1.15, -j) * 2;
        double[] y = new double[rows];
        for (int i = 0; i < rows; i++) y[i] = r.nextGaussian();
        double[][] hh = new double[D][D];
        for (int i = 0; i < D; i++) {
            for (int j = 0; j < D; j++) {
                double s = 0;
                for (double[] row : x) s += row[i] * row[j];
                hh[i][j] = s / rows;
            }
        }
        DenseProblem p = new DenseProblem(hh, null, null, x, y);
        p.randomWeights(r, 0.5);
        return p;
    }

    void randomWeights(Random r, double scale) {
        double[] w = new double[D];
        for (int i = 0; i < D; i++) w[i] = scale * r.nextGaussian();
        setWeights(w);
    }

    void setWeights(double[] w) {
        for (int i = 0; i < D; i++) store.params().setAtIndex(JAVA_FLOAT, idx[i], (float) w[i]);
    }

    double[] weights() {
        return read(store.params());
    }

    /** The real entries of a buffer of the store's layout, in double. */
    double[] read(MemorySegment s) {
        double[] v = new double[D];
        for (int i = 0; i < D; i++) v[i] = s.getAtIndex(JAVA_FLOAT, idx[i]);
        return v;
    }

    /** Writes v into the real entries of s (padding left alone). */
    void write(double[] v, MemorySegment s) {
        for (int i = 0; i < D; i++) s.setAtIndex(JAVA_FLOAT, idx[i], (float) v[i]);
    }

    double[] hessianTimes(double[] v) {
        double[] out = new double[D];
        for (int i = 0; i < D; i++) {
            double s = 0;
            for (int j = 0; j < D; j++) s += h[i][j] * v[j];
            out[i] = s;
        }
        return out;
    }

    double[] grad(double[] w) {
        if (x == null) return hessianTimes(w);
        double[] g = new double[D];
        for (int i = 0; i < x.length; i++) {
            double res = dot(x[i], w) - y[i];
            for (int j = 0; j < D; j++) g[j] += res * x[i][j] / x.length;
        }
        return g;
    }

    double loss(double[] w) {
        if (x == null) return 0.5 * dot(w, hessianTimes(w));
        double s = 0;
        for (int i = 0; i < x.length; i++) {
            double res = dot(x[i], w) - y[i];
            s += res * res;
        }
        return s / (2.0 * x.length);
    }

    double trace() {
        double t = 0;
        for (int i = 0; i < D; i++) t += h[i][i];
        return t;
    }

    /** Variance of z^T H z for Rademacher z: 2 sum_{i != j} H_ij^2. */
    double rademacherVariance() {
        double s = 0;
        for (int i = 0; i < D; i++) for (int j = 0; j < D; j++) if (i != j) s += h[i][j] * h[i][j];
        return 2 * s;
    }

    /** Exact eigenvalues sorted by decreasing magnitude (Jacobi rotations on a copy of H). */
    double[] exactEigenvaluesByMagnitude() {
        double[] e = jacobiEigenvalues(h);
        Double[] boxed = Arrays.stream(e).boxed().toArray(Double[]::new);
        Arrays.sort(boxed, (a, b) -> Double.compare(Math.abs(b), Math.abs(a)));
        return Arrays.stream(boxed).mapToDouble(Double::doubleValue).toArray();
    }

    @Override
    public double lossAndGrad() {
        calls++;
        checkPadding();
        double[] w = weights();
        double[] g = grad(w);
        MemorySegment gs = store.grads();
        for (int i = 0; i < D; i++) gs.setAtIndex(JAVA_FLOAT, idx[i], (float) g[i]);
        return loss(w);
    }

    @Override
    public double loss() {
        lossOnlyCalls++;
        checkPadding();
        return loss(weights());
    }

    private void checkPadding() {
        if (!RandomVectors.paddingIsZero(store, store.params())) paddingTouched = true;
    }

    @Override
    public void close() {
        store.close();
    }

    // ---- small dense linear algebra ----------------------------------------------------------------

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    static double norm(double[] a) {
        return Math.sqrt(dot(a, a));
    }

    /** Columns of the result are orthonormal: modified Gram-Schmidt of a Gaussian matrix. */
    static double[][] randomOrthogonal(int n, Random r) {
        double[][] cols = new double[n][n];
        for (double[] c : cols) for (int i = 0; i < n; i++) c[i] = r.nextGaussian();
        for (int j = 0; j < n; j++) {
            for (int p = 0; p < j; p++) {
                double d = dot(cols[j], cols[p]);
                for (int i = 0; i < n; i++) cols[j][i] -= d * cols[p][i];
            }
            double nn = norm(cols[j]);
            for (int i = 0; i < n; i++) cols[j][i] /= nn;
        }
        double[][] q = new double[n][n]; // q[i][j] = component i of column j
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) q[i][j] = cols[j][i];
        return q;
    }

    /** Column j of q. */
    static double[] column(double[][] q, int j) {
        double[] c = new double[q.length];
        for (int i = 0; i < q.length; i++) c[i] = q[i][j];
        return c;
    }

    /** Cyclic Jacobi eigenvalue algorithm for a symmetric matrix (not modified). */
    static double[] jacobiEigenvalues(double[][] sym) {
        int n = sym.length;
        double[][] a = new double[n][];
        for (int i = 0; i < n; i++) a[i] = sym[i].clone();
        for (int sweep = 0; sweep < 100; sweep++) {
            double off = 0;
            for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) off += a[i][j] * a[i][j];
            if (off < 1e-26) break;
            for (int p = 0; p < n; p++) {
                for (int qq = p + 1; qq < n; qq++) {
                    if (Math.abs(a[p][qq]) < 1e-300) continue;
                    double theta = (a[qq][qq] - a[p][p]) / (2 * a[p][qq]);
                    double t = Math.signum(theta) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
                    if (theta == 0) t = 1;
                    double c = 1 / Math.sqrt(t * t + 1), s = t * c;
                    for (int k = 0; k < n; k++) { // rotate columns p, q
                        double akp = a[k][p], akq = a[k][qq];
                        a[k][p] = c * akp - s * akq;
                        a[k][qq] = s * akp + c * akq;
                    }
                    for (int k = 0; k < n; k++) { // rotate rows p, q
                        double apk = a[p][k], aqk = a[qq][k];
                        a[p][k] = c * apk - s * aqk;
                        a[qq][k] = s * apk + c * aqk;
                    }
                }
            }
        }
        double[] e = new double[n];
        for (int i = 0; i < n; i++) e[i] = a[i][i];
        return e;
    }

    /** Bytes of the whole parameter buffer, padding included, for bitwise comparisons. */
    static byte[] bytes(MemorySegment s) {
        return s.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
    }

    List<ParameterStore.Tensor> tensors() {
        return store.paramTensors();
    }
}
