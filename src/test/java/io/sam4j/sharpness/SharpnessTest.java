package io.sam4j.sharpness;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SharpnessTest {
    private static double[] normalised(double[] g) {
        double n = DenseProblem.norm(g);
        double[] out = g.clone();
        for (int i = 0; i < out.length; i++) out[i] /= n;
        return out;
    }

    @Test
    void alignmentIsTheCosineByHand() {
        try (DenseProblem p = DenseProblem.quadratic(HessianVectorProductTest.spectrum(), 31);
             HessianVectorProduct hvp = new HessianVectorProduct(p.store, p, p.ops)) {
            PowerIteration.Eigenpair top = new PowerIteration(hvp).tol(1e-7).maxIter(1000).largest();
            double measured = Alignment.measure(p.store, p, p.ops, top.vector());
            double[] g = p.grad(p.weights());
            double[] v = p.read(top.vector());
            double byHand = Math.abs(DenseProblem.dot(g, v)) / (DenseProblem.norm(g) * DenseProblem.norm(v));
            assertEquals(byHand, measured, 1e-5, "|<g, v1>| / ||g|| against the float gradient");
            // And against the exact eigenvector q1.
            double exact = Math.abs(DenseProblem.dot(g, DenseProblem.column(p.q, 0))) / DenseProblem.norm(g);
            assertEquals(exact, measured, 1e-3);
            assertTrue(exact > 0.05, "the test gradient has a real component along q1: " + exact);
            // Scaling the vector changes nothing; a zero vector gives NaN.
            MemorySegment v2 = hvp.newBuffer();
            p.ops.copy(top.vector(), v2, p.store.paramLength());
            p.ops.scale(-3f, v2, p.store.paramLength());
            assertEquals(measured, Alignment.cosine(p.ops, p.store.paramLength(), p.store.grads(), v2), 1e-6);
            assertTrue(Double.isNaN(Alignment.cosine(p.ops, p.store.paramLength(), p.store.grads(), hvp.newBuffer())));
            // Along the eigenvector itself: the gradient A w with w = q1 is parallel to q1.
            p.setWeights(DenseProblem.column(p.q, 0));
            assertEquals(1.0, Alignment.measure(p.store, p, p.ops, top.vector()), 1e-4);
        }
    }

    @Test
    void ascentSharpnessIsTheExactQuadraticValue() {
        try (DenseProblem p = DenseProblem.quadratic(HessianVectorProductTest.spectrum(), 32);
             HessianVectorProduct hvp = new HessianVectorProduct(p.store, p, p.ops)) {
            byte[] before = DenseProblem.bytes(p.store.params());
            for (double rho : new double[] {0.01, 0.05, 0.5}) {
                Sharpness.Ascent a = Sharpness.ascent(p.store, p, p.ops, rho, hvp.newBuffer());
                assertArrayEquals(before, DenseProblem.bytes(p.store.params()), "weights restored bit for bit");
                double[] w = p.weights();
                double[] gh = normalised(p.grad(w));
                double[] wp = w.clone();
                for (int i = 0; i < wp.length; i++) wp[i] += rho * gh[i];
                double exact = p.loss(wp) - p.loss(w);
                // = rho ||g|| + rho^2/2 g^T A g / ||g||^2 for the quadratic
                assertEquals(exact, a.sharpness(), 1e-4 * Math.abs(exact), "rho " + rho);
                assertEquals(p.loss(w), a.loss(), 1e-12);
                assertEquals(DenseProblem.norm(p.grad(w)), a.gradNorm(), 1e-5 * a.gradNorm());
            }
        }
    }

    @Test
    void analyseReportsEverythingAndRestoresTheWeights(@TempDir Path dir) throws Exception {
        try (DenseProblem p = DenseProblem.quadratic(HessianVectorProductTest.spectrum(), 33)) {
            byte[] before = DenseProblem.bytes(p.store.params());
            Set<Sharpness.Phase> phases = EnumSet.noneOf(Sharpness.Phase.class);
            Sharpness.Options o = Sharpness.Options.defaults().withHvp(Sharpness.Hvp.FD).withEigenMethod(Sharpness.EigenMethod.POWER).withTol(1e-7).withMaxIter(1000).withTopK(3)
                    .withTraceSamples(300).withTraceTol(0).withRho(0.05).withSeed(5);
            SharpnessReport r = Sharpness.analyse(p.store, p, p.ops, o, (phase, done, max, est) -> {
                assertTrue(done >= 1 && done <= max, phase + " " + done + "/" + max);
                phases.add(phase);
            });
            assertArrayEquals(before, DenseProblem.bytes(p.store.params()), "weights restored bit for bit");
            byte[] gradAfter = DenseProblem.bytes(p.store.grads());
            p.lossAndGrad();
            assertArrayEquals(DenseProblem.bytes(p.store.grads()), gradAfter, "the gradient at w is left in the store");
            assertEquals(EnumSet.of(Sharpness.Phase.LOSS, Sharpness.Phase.ASCENT, Sharpness.Phase.TOP_K,
                    Sharpness.Phase.TRACE, Sharpness.Phase.ALIGNMENT), phases);

            double[] w = p.weights();
            double[] g = p.grad(w);
            assertEquals(DenseProblem.D, r.parameters());
            assertEquals(p.loss(w), r.loss(), 1e-9);
            assertEquals(DenseProblem.norm(g), r.gradNorm(), 1e-5 * r.gradNorm());
            assertEquals(DenseProblem.norm(w), r.weightNorm(), 1e-5 * r.weightNorm());
            assertEquals(1e-3 * r.weightNorm(), r.hvpStep(), 1e-9);
            assertEquals(10, r.lambdaMax(), 1e-2);
            assertEquals(3, r.topEigenvalues().size());
            assertEquals(6, r.topEigenvalues().get(1), 6e-3);
            assertEquals(3.5, r.topEigenvalues().get(2), 3.5e-3);
            assertEquals(r.lambdaMaxIterations(), r.topIterations().get(0));
            assertTrue(Math.abs(r.trace() - p.trace()) <= 3 * r.traceStdError());
            assertEquals(300, r.traceSamples());
            assertEquals(r.trace() / DenseProblem.D, r.tracePerParam(), 1e-12);
            double alignment = Math.abs(DenseProblem.dot(g, DenseProblem.column(p.q, 0))) / DenseProblem.norm(g);
            assertEquals(alignment, r.alignment(), 1e-3);
            double[] wp = w.clone();
            double[] gh = normalised(g);
            for (int i = 0; i < wp.length; i++) wp[i] += 0.05 * gh[i];
            assertEquals(p.loss(wp) - p.loss(w), r.ascentSharpness(), 1e-4 * r.ascentSharpness());
            assertEquals(0.05, r.rho());
            assertNull(r.mSharpness(), "a bare oracle has no subsets");
            assertNull(r.model());
            int products = r.topIterations().stream().mapToInt(Integer::intValue).sum() + r.traceSamples();
            assertEquals(2L * products + 1, r.gradientEvaluations());
            assertTrue(r.seconds() >= r.lambdaMaxSeconds() + r.traceSeconds());

            // JSON: snake_case keys, nulls left out, round trip.
            String json = r.toJson();
            JsonNode node = new ObjectMapper().readTree(json);
            assertEquals(r.lambdaMax(), node.get("lambda_max").asDouble(), 0);
            assertEquals(r.traceStdError(), node.get("trace_std_error").asDouble(), 0);
            assertEquals(r.ascentSharpness(), node.get("ascent_sharpness").asDouble(), 0);
            assertTrue(node.get("top_eigenvalues").isArray());
            assertFalse(node.has("m_sharpness"));
            assertFalse(node.has("model"));
            assertEquals(r, SharpnessReport.fromJson(json));
            String line = r.toJsonLine();
            assertFalse(line.contains("\n"), "one line for .jsonl");
            assertEquals(r, SharpnessReport.fromJson(line));
            Path f = dir.resolve("report.json");
            r.write(f);
            assertEquals(r, SharpnessReport.fromJson(Files.readString(f)));
        }
    }

    @Test
    void nonFiniteProductsAreReported() {
        try (DenseProblem p = DenseProblem.quadratic(HessianVectorProductTest.spectrum(), 35)) {
            byte[] before = DenseProblem.bytes(p.store.params());
            GradientOracle overflowing = () -> {
                p.lossAndGrad();
                p.store.grads().setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, p.idx[0], Float.NaN);
                return Double.NaN;
            };
            try (HessianVectorProduct hvp = new HessianVectorProduct(p.store, overflowing, p.ops)) {
                assertThrows(IllegalStateException.class, () -> new PowerIteration(hvp).largest());
                assertThrows(IllegalStateException.class, () -> new Hutchinson(hvp).estimate());
            }
            assertArrayEquals(before, DenseProblem.bytes(p.store.params()));
        }
    }

    @Test
    void partsCanBeSwitchedOff() {
        try (DenseProblem p = DenseProblem.quadratic(HessianVectorProductTest.spectrum(), 34)) {
            Sharpness.Options o = Sharpness.Options.defaults().withHvp(Sharpness.Hvp.FD).withEigenMethod(Sharpness.EigenMethod.POWER).withTraceSamples(0).withRho(0).withTopK(0);
            SharpnessReport r = Sharpness.analyse(p.store, p, p.ops, o, Sharpness.Progress.NONE);
            assertNull(r.trace());
            assertNull(r.traceStdError());
            assertNull(r.ascentSharpness());
            assertNull(r.topEigenvalues());
            assertEquals(10, r.lambdaMax(), 0.05);
            assertEquals(0, p.lossOnlyCalls);
            assertEquals(2L * r.lambdaMaxIterations() + 1, r.gradientEvaluations());
            assertThrows(IllegalArgumentException.class, () -> Sharpness.Options.defaults().withTopK(-1));
            assertThrows(IllegalArgumentException.class, () -> Sharpness.Options.defaults().withRho(-0.1));
            assertThrows(IllegalArgumentException.class, () -> Sharpness.Options.defaults().withTraceMinSamples(1));
        }
    }
}
