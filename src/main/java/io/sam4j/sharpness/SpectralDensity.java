package io.sam4j.sharpness;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The Hessian's spectral density by stochastic Lanczos quadrature with PyHessian's defaults
 * ({@code density(iter=100, n_v=1)} and {@code density_plot.density_generate}): per run a normalised
 * Rademacher start and {@code steps} Lanczos steps with full reorthogonalisation; the nodes are the Ritz values
 * theta_i, the weights tau_i the squared first components of T's eigenvectors (they sum to 1). The density on
 * a grid of 10,000 points over [mean min theta - 0.01, mean max theta + 0.01] is the mean over runs of
 * {@code sum_i tau_i N(t; theta_i, var)} with variance {@code 1e-5 max(1, range)} (PyHessian passes its sigma
 * where a variance is expected; kept for comparability), normalised to a unit Riemann sum. It approximates
 * (1/D) sum_j delta(t - lambda_j). Not an estimator of the trace (each run is one Hutchinson sample).
 */
public final class SpectralDensity {
    public static final int DEFAULT_STEPS = 100;
    public static final int DEFAULT_RUNS = 1;
    public static final int GRID_POINTS = 10_000;
    public static final double DEFAULT_SIGMA2 = 1e-5;

    /** Per run its nodes (ascending) and weights; the grid, the density on it, the Gaussian variance used. */
    public record Result(int runs, int steps, List<double[]> nodes, List<double[]> weights, double[] grid, double[] density,
                         double variance) {}

    private SpectralDensity() {}

    public static Result estimate(CurvatureOperator op, int runs, int steps, long seed, IterationListener listener) {
        if (runs < 1 || steps < 2) throw new IllegalArgumentException("--spectrum needs >= 1 run of >= 2 steps");
        SplittableRandom rng = new SplittableRandom(seed);
        Lanczos lanczos = new Lanczos(op).listener(listener);
        MemorySegment start = op.newBuffer();
        List<double[]> nodes = new ArrayList<>(), weights = new ArrayList<>();
        for (int r = 0; r < runs; r++) {
            RandomVectors.rademacher(op.store(), op.ops(), start, rng);
            double[][] nw = lanczos.run(start, steps).nodesAndWeights();
            nodes.add(nw[0]);
            weights.add(nw[1]);
        }
        return density(runs, steps, nodes, weights, GRID_POINTS, DEFAULT_SIGMA2);
    }

    /** The smoothed density of given quadrature nodes and weights (one array pair per run). */
    static Result density(int runs, int steps, List<double[]> nodes, List<double[]> weights, int points, double sigma2) {
        double lo = 0, hi = 0;
        for (double[] t : nodes) {
            lo += t[0] / nodes.size();
            hi += t[t.length - 1] / nodes.size();
        }
        lo -= 0.01;
        hi += 0.01;
        double variance = sigma2 * Math.max(1, hi - lo), dx = (hi - lo) / (points - 1);
        double[] grid = new double[points], density = new double[points];
        for (int g = 0; g < points; g++) grid[g] = lo + g * dx;
        for (int r = 0; r < nodes.size(); r++) {
            double[] t = nodes.get(r), w = weights.get(r);
            for (int i = 0; i < t.length; i++) {
                for (int g = 0; g < points; g++) {
                    double d = grid[g] - t[i];
                    density[g] += w[i] * Math.exp(-d * d / (2 * variance)) / Math.sqrt(2 * Math.PI * variance) / nodes.size();
                }
            }
        }
        double sum = 0;
        for (double d : density) sum += d;
        for (int g = 0; g < points; g++) density[g] /= sum * dx;
        return new Result(runs, steps, nodes, weights, grid, density, variance);
    }
}
