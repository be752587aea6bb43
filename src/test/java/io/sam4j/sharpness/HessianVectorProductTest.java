package io.sam4j.sharpness;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;

class HessianVectorProductTest {
    static double[] spectrum() {
        double[] l = new double[DenseProblem.D];
        l[0] = 10;
        l[1] = 6;
        l[2] = 3.5;
        Random r = new Random(99);
        for (int i = 3; i < l.length; i++) l[i] = -1.5 + 3.5 * r.nextDouble(); // in [-1.5, 2]
        return l;
    }

    static double relErr(double[] expected, double[] actual) {
        double d = 0;
        for (int i = 0; i < expected.length; i++) d += (expected[i] - actual[i]) * (expected[i] - actual[i]);
        return Math.sqrt(d) / DenseProblem.norm(expected);
    }

    private static void checkAgainstExact(DenseProblem p, long seed) {
        try (HessianVectorProduct hvp = new HessianVectorProduct(p.store, p, p.ops)) {
            MemorySegment v = hvp.newBuffer(), out = hvp.newBuffer();
            Random r = new Random(seed);
            for (int trial = 0; trial < 5; trial++) {
                double[] vd = new double[DenseProblem.D];
                for (int i = 0; i < vd.length; i++) vd[i] = 3.7 * r.nextGaussian(); // not unit: ||v|| enters the product
                p.write(vd, v);
                double[] exact = p.hessianTimes(p.read(v));
                byte[] before = DenseProblem.bytes(p.store.params());
                int calls = p.calls;
                double norm = hvp.apply(v, out);
                assertEquals(DenseProblem.norm(p.read(v)), norm, 1e-5 * norm);
                assertEquals(calls + 2, p.calls, "two gradient evaluations per product");
                assertArrayEquals(before, DenseProblem.bytes(p.store.params()), "weights restored bit for bit");
                double err = relErr(exact, p.read(out));
                assertTrue(err < 2e-4, "relative error of Hv " + err);
                assertTrue(RandomVectors.paddingIsZero(p.store, out), "product is zero on the padding");
            }
            assertFalse(p.paddingTouched, "weights' padding stayed zero at every evaluation");
            assertEquals(5, hvp.products());
            assertEquals(10, hvp.gradientEvaluations());
        }
    }

    @Test
    void quadraticMatchesExactProduct() {
        try (DenseProblem p = DenseProblem.quadratic(spectrum(), 1)) {
            checkAgainstExact(p, 2);
        }
    }

    @Test
    void leastSquaresMatchesExactProduct() {
        try (DenseProblem p = DenseProblem.leastSquares(80, 3)) {
            checkAgainstExact(p, 4);
        }
    }

    @Test
    void defaultStepIsRelativeToWeightNorm() {
        try (DenseProblem p = DenseProblem.quadratic(spectrum(), 5);
             HessianVectorProduct hvp = new HessianVectorProduct(p.store, p, p.ops)) {
            double wn = DenseProblem.norm(p.weights());
            assertTrue(wn > 1, "test weights have norm > 1: " + wn);
            assertEquals(1e-3 * wn, hvp.step(), 1e-9 * wn);
            assertEquals(HessianVectorProduct.DEFAULT_RELATIVE_STEP, hvp.relativeStep());
            // Small weights: the floor max(1, ||w||) applies.
            p.setWeights(new double[DenseProblem.D]);
            assertEquals(1e-3, hvp.step(), 0);
            hvp.relativeStep(1e-2);
            assertEquals(1e-2, hvp.step(), 0);
            hvp.absoluteStep(0.25);
            assertEquals(0.25, hvp.step(), 0);
            assertTrue(Double.isNaN(hvp.relativeStep()));
            MemorySegment v = hvp.newBuffer(), out = hvp.newBuffer();
            p.write(new Random(1).doubles(DenseProblem.D).toArray(), v);
            hvp.apply(v, out);
            assertEquals(0.25, hvp.lastStep(), 0);
            // At w = 0 the quadratic's product is still exact (linear gradient).
            assertTrue(relErr(p.hessianTimes(p.read(v)), p.read(out)) < 1e-5);
            assertThrows(IllegalArgumentException.class, () -> hvp.relativeStep(0));
            assertThrows(IllegalArgumentException.class, () -> hvp.absoluteStep(-1));
        }
    }

    @Test
    void zeroVectorNeedsNoEvaluationAndOutputMayAliasInput() {
        try (DenseProblem p = DenseProblem.quadratic(spectrum(), 6);
             HessianVectorProduct hvp = new HessianVectorProduct(p.store, p, p.ops)) {
            MemorySegment v = hvp.newBuffer(), out = hvp.newBuffer();
            p.write(new double[DenseProblem.D], out);
            out.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, p.idx[3], 5f);
            assertEquals(0, hvp.apply(v, out));
            assertEquals(0, p.calls);
            assertTrue(DenseProblem.norm(p.read(out)) == 0, "zero product");

            double[] vd = new Random(7).doubles(DenseProblem.D, -1, 1).toArray();
            p.write(vd, v);
            double[] exact = p.hessianTimes(p.read(v));
            hvp.apply(v, v); // in place
            assertTrue(relErr(exact, p.read(v)) < 2e-4);
        }
    }

    @Test
    void weightsRestoredWhenTheOracleFails() {
        try (DenseProblem p = DenseProblem.quadratic(spectrum(), 8)) {
            byte[] before = DenseProblem.bytes(p.store.params());
            int[] n = {0};
            GradientOracle failing = () -> {
                if (++n[0] == 2) throw new IllegalStateException("boom");
                return p.lossAndGrad();
            };
            try (HessianVectorProduct hvp = new HessianVectorProduct(p.store, failing, p.ops)) {
                MemorySegment v = hvp.newBuffer();
                p.write(new Random(9).doubles(DenseProblem.D).toArray(), v);
                assertThrows(IllegalStateException.class, () -> hvp.apply(v, hvp.newBuffer()));
            }
            assertArrayEquals(before, DenseProblem.bytes(p.store.params()));
        }
    }

    @Test
    void sweepIsFlatOnAQuadratic() {
        try (DenseProblem p = DenseProblem.quadratic(spectrum(), 10);
             HessianVectorProduct hvp = new HessianVectorProduct(p.store, p, p.ops)) {
            MemorySegment v = hvp.newBuffer();
            double[] q1 = DenseProblem.column(p.q, 0);
            p.write(q1, v);
            double[] c = hvp.sweep(v, hvp.newBuffer(), 1e-4, 1e-3, 1e-2, 1e-1);
            for (double ci : c) assertEquals(10.0, ci, 1e-3, "curvature along the top eigenvector");
        }
    }
}
