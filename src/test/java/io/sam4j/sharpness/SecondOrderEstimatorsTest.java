package io.sam4j.sharpness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Lanczos, Hutch++ and stochastic Lanczos quadrature on matrices with exactly known spectra. */
class SecondOrderEstimatorsTest {
    /** Five outliers over an indefinite bulk, as a trained net's Hessian. */
    private static double[] outliersOverBulk(int d, long seed) {
        Random r = new Random(seed);
        double[] l = new double[d];
        double[] top = {50, 31, 20, 12, 9};
        for (int i = 0; i < d; i++) l[i] = i < top.length ? top[i] : -1 + 3 * r.nextDouble();
        return l;
    }

    @Test
    void lanczosFindsTheTopFiveToOneInTenThousand() {
        try (MatrixOperator a = new MatrixOperator(outliersOverBulk(240, 1), 2)) {
            Lanczos.Result res = new Lanczos(a).seed(3).top(5);
            assertTrue(res.converged(), "converged in " + res.steps() + " steps");
            double[] expected = {50, 31, 20, 12, 9};
            for (int i = 0; i < 5; i++) {
                assertEquals(expected[i], res.top().get(i).value(), 1e-4 * expected[i], "theta_" + (i + 1));
                assertTrue(res.top().get(i).residual() <= 1e-3 * expected[i], "residual " + res.top().get(i).residual());
            }
            assertTrue(res.steps() < 60, "steps " + res.steps());
            // The Ritz vector is an eigenvector: ||A y - theta y|| small.
            var y = res.top().get(0).vector();
            var ay = a.newBuffer();
            a.apply(y, ay);
            a.ops().axpy((float) -res.top().get(0).value(), y, ay, a.store().paramLength());
            assertTrue(Math.sqrt(a.ops().sumSquares(ay, a.store().paramLength())) < 0.1, "eigenvector residual");
        }
    }

    @Test
    void lanczosStopsAtAnInvariantSubspace() {
        double[] l = new double[100];
        for (int i = 0; i < l.length; i++) l[i] = i < 30 ? 4 : i < 70 ? 1 : -2;
        try (MatrixOperator a = new MatrixOperator(l, 5)) {
            Lanczos.Result res = new Lanczos(a).seed(1).top(2);
            assertEquals(3, res.steps(), "three distinct eigenvalues: a 3-dimensional Krylov space");
            assertEquals(4, res.top().get(0).value(), 1e-4);
            assertEquals(1, res.top().get(1).value(), 1e-4);
            assertEquals(-2, res.smallest(), 1e-4);
        }
    }

    @Test
    void hutchPlusPlusIsExactOnALowRankMatrixAndWithinItsErrorOtherwise() {
        double[] lowRank = new double[120];
        for (int i = 0; i < 6; i++) lowRank[i] = 10 - i;
        try (MatrixOperator a = new MatrixOperator(lowRank, 7)) {
            HutchPlusPlus.Estimate e = new HutchPlusPlus(a).seed(1).estimate(30);
            assertEquals(a.trace(), e.trace(), 1e-4 * a.trace(), "rank 6 < 10 sketch columns: the sketch holds all of A");
            assertEquals(30, e.products());
        }
        double[] decaying = new double[150];
        for (int i = 0; i < decaying.length; i++) decaying[i] = 40 * Math.pow(0.8, i) + 0.05;
        try (MatrixOperator a = new MatrixOperator(decaying, 8)) {
            int within = 0;
            double errPP = 0, errH = 0;
            for (int seed = 0; seed < 10; seed++) {
                HutchPlusPlus.Estimate e = new HutchPlusPlus(a).seed(seed).estimate(30);
                if (Math.abs(e.trace() - a.trace()) <= 3 * e.stdError() + 1e-6) within++;
                errPP += Math.abs(e.trace() - a.trace());
                Hutchinson.Estimate h = new Hutchinson(a).seed(seed).maxSamples(30).tol(0).estimate();
                errH += Math.abs(h.trace() - a.trace());
            }
            assertTrue(within >= 8, within + " of 10 estimates within 3 standard errors");
            assertTrue(errPP < errH / 3, "Hutch++ error " + errPP / 10 + " vs Hutchinson " + errH / 10 + " at equal budget");
        }
    }

    @Test
    void spectralDensityIntegratesToOneWithItsMassAtTheEigenvalues() {
        double[] l = new double[200];
        for (int i = 0; i < l.length; i++) l[i] = i < 100 ? 1 : i < 160 ? 5 : 10;
        try (MatrixOperator a = new MatrixOperator(l, 9)) {
            SpectralDensity.Result r = SpectralDensity.estimate(a, 3, 20, 4, IterationListener.NONE);
            double dx = r.grid()[1] - r.grid()[0], total = 0;
            double[] mass = new double[3];
            double[] at = {1, 5, 10};
            for (int g = 0; g < r.grid().length; g++) {
                total += r.density()[g] * dx;
                for (int k = 0; k < 3; k++) if (Math.abs(r.grid()[g] - at[k]) < 0.5) mass[k] += r.density()[g] * dx;
            }
            assertEquals(1, total, 1e-9);
            assertEquals(1, mass[0] + mass[1] + mass[2], 1e-3, "all mass within 0.5 of an eigenvalue: " + Arrays.toString(mass));
            assertEquals(0.5, mass[0], 0.1);
            assertEquals(0.3, mass[1], 0.1);
            assertEquals(0.2, mass[2], 0.1);
            for (int run = 0; run < 3; run++) {
                double w = 0;
                for (double x : r.weights().get(run)) w += x;
                assertEquals(1, w, 1e-6, "quadrature weights sum to 1");
                double[] nodes = r.nodes().get(run);
                assertEquals(3, nodes.length, "invariant subspace after 3 steps");
                for (int k = 0; k < 3; k++) assertEquals(at[k], nodes[k], 1e-4);
            }
        }
    }
}
