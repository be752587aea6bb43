package io.sam4j.sharpness;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

class HutchinsonTest {
    /**
     * Runs the estimator made by {@code make}; checks it lies within 3 standard errors of the exact trace,
     * that the standard error matches the Rademacher variance 2 sum_{i != j} H_ij^2 (within a factor 2),
     * and that the weights come back bit for bit.
     */
    private static Hutchinson.Estimate checkTrace(DenseProblem p, Function<HessianVectorProduct, Hutchinson> make) {
        try (HessianVectorProduct hvp = new HessianVectorProduct(p.store, p, p.ops)) {
            byte[] before = DenseProblem.bytes(p.store.params());
            Hutchinson.Estimate e = make.apply(hvp).estimate();
            assertArrayEquals(before, DenseProblem.bytes(p.store.params()), "weights restored bit for bit");
            double exact = p.trace();
            assertTrue(Math.abs(e.trace() - exact) <= 3 * e.stdError(),
                    "trace " + e.trace() + " +- " + e.stdError() + " vs exact " + exact);
            double expectedSe = Math.sqrt(p.rademacherVariance() / e.samples());
            assertTrue(e.stdError() > 0.5 * expectedSe && e.stdError() < 2 * expectedSe,
                    "standard error " + e.stdError() + " vs sqrt(2 sum_{i!=j} H_ij^2 / n) = " + expectedSe);
            assertEquals(DenseProblem.D, e.dimension());
            assertEquals(e.trace() / DenseProblem.D, e.tracePerParam(), 1e-15);
            assertEquals(e.samples(), hvp.products(), "one product per probe");
            assertFalse(p.paddingTouched);
            return e;
        }
    }

    @Test
    void quadraticTraceWithDefaults() {
        try (DenseProblem p = DenseProblem.quadratic(HessianVectorProductTest.spectrum(), 21)) {
            Hutchinson.Estimate e = checkTrace(p, Hutchinson::new);
            assertTrue(e.samples() >= Hutchinson.DEFAULT_MIN_SAMPLES && e.samples() <= Hutchinson.DEFAULT_MAX_SAMPLES);
            assertEquals(e.samples() < Hutchinson.DEFAULT_MAX_SAMPLES, e.converged());
        }
    }

    @Test
    void quadraticTraceWithAllSamples() {
        try (DenseProblem p = DenseProblem.quadratic(HessianVectorProductTest.spectrum(), 22)) {
            Hutchinson.Estimate e = checkTrace(p, hvp -> new Hutchinson(hvp).tol(0).maxSamples(400).seed(7));
            assertEquals(400, e.samples());
            assertFalse(e.converged(), "tol 0 runs to the limit");
        }
    }

    @Test
    void leastSquaresTrace() {
        try (DenseProblem p = DenseProblem.leastSquares(80, 23)) {
            checkTrace(p, hvp -> new Hutchinson(hvp).tol(0).maxSamples(200).seed(8));
            checkTrace(p, hvp -> new Hutchinson(hvp).seed(9));
        }
    }

    /** A diagonal Hessian has z^T H z = Tr(H) for every Rademacher z: the estimate is exact, the error zero. */
    @Test
    void diagonalHessianIsExactWithZeroSpread() {
        double[] l = new double[DenseProblem.D];
        Random r = new Random(5);
        for (int i = 0; i < l.length; i++) l[i] = 0.5 + 4 * r.nextDouble();
        double[][] id = new double[DenseProblem.D][DenseProblem.D];
        for (int i = 0; i < l.length; i++) id[i][i] = 1;
        try (DenseProblem p = DenseProblem.quadratic(l, 24)) {
            // Replace Q by the identity: H = diag(l).
            for (int i = 0; i < l.length; i++) for (int j = 0; j < l.length; j++) p.h[i][j] = i == j ? l[i] : 0;
            double exact = p.trace();
            try (HessianVectorProduct hvp = new HessianVectorProduct(p.store, p, p.ops)) {
                Hutchinson.Estimate e = new Hutchinson(hvp).minSamples(5).estimate();
                assertEquals(exact, e.trace(), 1e-4 * exact, "z^T D z = sum d_i: the D-scaling of the probes is right");
                assertTrue(e.stdError() < 1e-4 * exact, "no spread: " + e.stdError());
                assertEquals(5, e.samples(), "stops at the minimum sample count");
                assertTrue(e.converged());
            }
        }
    }

    @Test
    void seededAndReportsProgress() {
        try (DenseProblem p = DenseProblem.quadratic(HessianVectorProductTest.spectrum(), 25);
             HessianVectorProduct hvp = new HessianVectorProduct(p.store, p, p.ops)) {
            Hutchinson.Estimate a = new Hutchinson(hvp).seed(1).estimate();
            Hutchinson.Estimate b = new Hutchinson(hvp).seed(1).estimate();
            Hutchinson.Estimate c = new Hutchinson(hvp).seed(2).estimate();
            assertEquals(a, b, "same seed, same estimate");
            assertNotEquals(a.trace(), c.trace());
            int[] calls = {0};
            double[] last = {Double.NaN};
            Hutchinson.Estimate d = new Hutchinson(hvp).tol(0).maxSamples(12).listener((it, max, est) -> {
                assertEquals(++calls[0], it);
                assertEquals(12, max);
                last[0] = est;
            }).estimate();
            assertEquals(12, calls[0]);
            assertEquals(d.trace(), last[0], 0);
        }
    }
}
