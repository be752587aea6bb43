package io.sam4j.sharpness;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class PowerIterationTest {
    private static void assertRel(double expected, double actual, double rel, String what) {
        assertEquals(expected, actual, rel * Math.abs(expected), what + ": expected " + expected + ", got " + actual);
    }

    @Test
    void jacobiHelperRecoversTheChosenSpectrum() {
        double[] l = HessianVectorProductTest.spectrum();
        try (DenseProblem p = DenseProblem.quadratic(l, 1)) {
            double[] e = DenseProblem.jacobiEigenvalues(p.h);
            Arrays.sort(e);
            double[] s = l.clone();
            Arrays.sort(s);
            assertArrayEquals(s, e, 1e-9);
        }
    }

    @Test
    void largestEigenvalueOfQuadraticWithDefaults() {
        try (DenseProblem p = DenseProblem.quadratic(HessianVectorProductTest.spectrum(), 11);
             HessianVectorProduct hvp = new HessianVectorProduct(p.store, p, p.ops)) {
            byte[] before = DenseProblem.bytes(p.store.params());
            PowerIteration.Eigenpair e = new PowerIteration(hvp).largest();
            assertArrayEquals(before, DenseProblem.bytes(p.store.params()), "weights restored bit for bit");
            assertTrue(e.converged(), "converged within 100 iterations");
            assertTrue(e.iterations() >= 2 && e.iterations() < 100, "iterations " + e.iterations());
            // Default tol 1e-3 stops with an error of about tol / (1 - (6/10)^2).
            assertRel(10.0, e.value(), 3e-3, "lambda_max with default tolerance");
            assertEquals(1.0, Math.sqrt(p.ops.sumSquares(e.vector(), p.store.paramLength())), 1e-5, "unit vector");
            assertTrue(RandomVectors.paddingIsZero(p.store, e.vector()), "eigenvector zero on the padding");
            double cos = Math.abs(DenseProblem.dot(p.read(e.vector()), DenseProblem.column(p.q, 0)));
            assertTrue(cos > 0.99, "eigenvector close to q1: |cos| = " + cos);
            assertEquals(e.iterations(), hvp.products());
        }
    }

    @Test
    void topThreeOfQuadraticToOneInAThousand() {
        try (DenseProblem p = DenseProblem.quadratic(HessianVectorProductTest.spectrum(), 12);
             HessianVectorProduct hvp = new HessianVectorProduct(p.store, p, p.ops)) {
            byte[] before = DenseProblem.bytes(p.store.params());
            List<PowerIteration.Eigenpair> top = new PowerIteration(hvp).tol(1e-7).maxIter(1000).seed(3).top(3);
            assertArrayEquals(before, DenseProblem.bytes(p.store.params()));
            double[] expected = {10, 6, 3.5};
            for (int j = 0; j < 3; j++) {
                assertTrue(top.get(j).converged(), "pair " + j + " converged");
                assertRel(expected[j], top.get(j).value(), 1e-3, "eigenvalue " + j);
                double cos = Math.abs(DenseProblem.dot(p.read(top.get(j).vector()), DenseProblem.column(p.q, j)));
                assertTrue(cos > 0.999, "eigenvector " + j + " |cos| with q_" + j + " = " + cos);
            }
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 3; j++) {
                    double d = p.ops.dot(top.get(i).vector(), top.get(j).vector(), p.store.paramLength());
                    assertEquals(i == j ? 1.0 : 0.0, d, 1e-5, "orthonormal basis (" + i + "," + j + ")");
                }
            }
        }
    }

    @Test
    void topThreeOfLeastSquaresToOneInAThousand() {
        try (DenseProblem p = DenseProblem.leastSquares(80, 13);
             HessianVectorProduct hvp = new HessianVectorProduct(p.store, p, p.ops)) {
            double[] exact = p.exactEigenvaluesByMagnitude();
            assertTrue(exact[1] / exact[0] < 0.95 && exact[2] / exact[1] < 0.95 && exact[3] / exact[2] < 0.95,
                    "test problem has eigengaps: " + Arrays.toString(Arrays.copyOf(exact, 4)));
            List<PowerIteration.Eigenpair> top = new PowerIteration(hvp).tol(1e-8).maxIter(2000).seed(4).top(3);
            for (int j = 0; j < 3; j++) assertRel(exact[j], top.get(j).value(), 1e-3, "least-squares eigenvalue " + j);
            PowerIteration.Eigenpair first = new PowerIteration(hvp).seed(5).largest();
            assertRel(exact[0], first.value(), 1e-2, "lambda_max with defaults");
        }
    }

    @Test
    void largestMagnitudeAndShiftForNegativeEigenvalues() {
        double[] l = HessianVectorProductTest.spectrum();
        l[0] = -12; // dominant in magnitude; 10 moves to index 1
        l[1] = 10;
        try (DenseProblem p = DenseProblem.quadratic(l, 14);
             HessianVectorProduct hvp = new HessianVectorProduct(p.store, p, p.ops)) {
            PowerIteration.Eigenpair neg = new PowerIteration(hvp).tol(1e-7).maxIter(1000).largest();
            assertRel(-12, neg.value(), 1e-3, "largest magnitude is negative");
            PowerIteration.Eigenpair pos = new PowerIteration(hvp).tol(1e-7).maxIter(1000).shift(neg.value()).largest();
            assertRel(10, pos.value(), 1e-3, "H - lambda_neg I finds the largest positive eigenvalue");
        }
    }

    @Test
    void seededConvergenceFlagAndProgress() {
        try (DenseProblem p = DenseProblem.quadratic(HessianVectorProductTest.spectrum(), 15);
             HessianVectorProduct hvp = new HessianVectorProduct(p.store, p, p.ops)) {
            PowerIteration.Eigenpair a = new PowerIteration(hvp).seed(42).largest();
            PowerIteration.Eigenpair b = new PowerIteration(hvp).seed(42).largest();
            PowerIteration.Eigenpair c = new PowerIteration(hvp).seed(43).largest();
            assertEquals(a.value(), b.value(), 0, "same seed, same result");
            assertEquals(a.iterations(), b.iterations());
            assertArrayEquals(DenseProblem.bytes(a.vector()), DenseProblem.bytes(b.vector()));
            assertNotEquals(a.value(), c.value(), "another seed starts elsewhere");

            List<Double> seen = new ArrayList<>();
            PowerIteration.Eigenpair capped = new PowerIteration(hvp).maxIter(3).tol(0)
                    .listener((it, max, est) -> {
                        assertEquals(seen.size() + 1, it);
                        assertEquals(3, max);
                        seen.add(est);
                    }).largest();
            assertFalse(capped.converged(), "3 iterations cannot meet tol 0");
            assertEquals(3, capped.iterations());
            assertEquals(3, seen.size());
            assertEquals(capped.value(), seen.get(2), 0, "last reported estimate is the result");
            assertThrows(IllegalArgumentException.class, () -> new PowerIteration(hvp).top(DenseProblem.D + 1));
            assertThrows(IllegalArgumentException.class, () -> new PowerIteration(hvp).maxIter(0));
        }
    }
}
