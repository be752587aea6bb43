package io.sam4j.sharpness;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import io.sam4j.formats.AtomicFile;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The outputs of {@code sharpness --spectrum} and {@code --landscape}: data as JSON ({@code BASE.json}) and
 * plots ({@code BASE.png}, {@code BASE.svg}), all written atomically, with exact Hessian-vector products.
 */
public final class SharpnessExtras {
    private static final ObjectMapper JSON = new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);

    private SharpnessExtras() {}

    /** SLQ spectral density (PyHessian's defaults: 1 run of 100 steps). */
    public static SpectralDensity.Result spectrum(ModelOracle oracle, int runs, int steps, long seed, Path base, IterationListener l) {
        try (CurvatureOperator h = new ExactHessianVectorProduct(oracle, false)) {
            SpectralDensity.Result r = SpectralDensity.estimate(h, runs, steps, seed, l);
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("model", oracle.model().name());
            out.put("examples", oracle.examples());
            out.put("bn", oracle.mode().name().toLowerCase(java.util.Locale.ROOT));
            out.put("runs", r.runs());
            out.put("steps", r.steps());
            out.put("variance", r.variance());
            out.put("nodes", r.nodes());
            out.put("weights", r.weights());
            out.put("grid", r.grid());
            out.put("density", r.density());
            writeJson(out, base);
            SharpnessPlots.spectrum(r, base);
            return r;
        }
    }

    /**
     * 1-D: a filter-normalised random direction, the top Hessian eigenvector and SAM's perturbation direction
     * g/||g|| (both rescaled to the random direction's norm), each with its exact curvature d^T H d; 2-D: two
     * independent filter-normalised directions. {@code points} per axis over [-range, range].
     */
    public static void landscape(ModelOracle oracle, boolean twoD, int points, double range, boolean ignoreBiasBn, long seed,
                                 Path base, IterationListener l) {
        try (ExactHessianVectorProduct h = new ExactHessianVectorProduct(oracle, false)) {
            Landscape land = new Landscape(oracle, h.newBuffer());
            SplittableRandom rng = new SplittableRandom(seed);
            MemorySegment d1 = h.newBuffer(), d2 = h.newBuffer(), hd = h.newBuffer();
            land.filterNormalised(d1, rng, ignoreBiasBn);
            double[] grid = Landscape.grid(range, points);
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("model", oracle.model().name());
            out.put("examples", oracle.examples());
            out.put("mode", "eval");
            out.put("ignore", ignoreBiasBn ? "biasbn" : "none");
            if (twoD) {
                land.filterNormalised(d2, rng, ignoreBiasBn);
                Landscape.Plane p = land.plane(d1, d2, grid, grid);
                out.put("plane", p);
                writeJson(out, base);
                SharpnessPlots.plane(p, base);
                return;
            }
            double norm = land.norm(d1);
            List<Landscape.Line> lines = new ArrayList<>();
            lines.add(land.line("random (filter-normalised)", d1, grid, curvature(h, d1, hd)));
            MemorySegment top = new Lanczos(h).seed(seed).listener(l).top(1).top().get(0).vector();
            land.rescale(top, norm);
            lines.add(land.line("top eigenvector", top, grid, curvature(h, top, hd)));
            oracle.lossAndGrad();
            h.ops().copy(oracle.model().store().grads(), d2, h.length());
            land.rescale(d2, norm);
            lines.add(land.line("SAM perturbation g/|g|", d2, grid, curvature(h, d2, hd)));
            out.put("direction_norm", norm);
            out.put("lines", lines);
            writeJson(out, base);
            SharpnessPlots.lines(lines, base);
        }
    }

    private static double curvature(CurvatureOperator h, MemorySegment d, MemorySegment scratch) {
        h.apply(d, scratch);
        return h.ops().dot(d, scratch, h.length());
    }

    private static void writeJson(Object value, Path base) {
        byte[] bytes;
        try {
            bytes = (JSON.writeValueAsString(value) + "\n").getBytes(StandardCharsets.UTF_8);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise " + base + ".json", e);
        }
        AtomicFile.write(Path.of(base + ".json"), o -> o.write(bytes));
    }
}
