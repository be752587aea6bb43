package io.sam4j.sharpness;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.sam4j.formats.AtomicFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

/**
 * What {@link Sharpness#analyse} measured. Boxed fields are null when that part was not asked for (or is
 * undefined, e.g. the alignment of a zero gradient); JSON leaves nulls out and uses snake_case names
 * (like metrics.jsonl): {@code lambda_max}, {@code trace_std_error}, {@code ascent_sharpness}, ...
 *
 * @param model               model name, or null for a bare oracle
 * @param parameters          D, real parameters (no padding)
 * @param examples            examples in the evaluation subset (null for a bare oracle)
 * @param bn                  "eval" (running statistics) or "batch" (batch statistics, frozen), null if unknown
 * @param seed                seed of the random probes
 * @param hvpStep             finite-difference step r (parameter-space length) at the analysed weights; null when exact
 * @param hvpRelativeStep     r / max(1, ||w||), or null when an absolute step was fixed
 * @param weightNorm          ||w||
 * @param loss                L(w) on the subset
 * @param gradNorm            ||grad L(w)||
 * @param lambdaMax           largest-magnitude Hessian eigenvalue
 * @param lambdaMaxIterations Hessian-vector products its power iteration took
 * @param lambdaMaxConverged  whether it met the tolerance within the iteration limit
 * @param topEigenvalues      the top-k eigenvalues (k >= 2 asked), in the order found
 * @param topIterations       products each took
 * @param topConverged        whether each met the tolerance
 * @param trace               Hutchinson estimate of Tr(H)
 * @param traceStdError       its standard error (sample std / sqrt(samples))
 * @param traceSamples        Rademacher probes used
 * @param traceConverged      whether the running mean met the tolerance before the sample limit
 * @param tracePerParam       Tr(H) / D
 * @param alignment           |cos| between grad L(w) and the top eigenvector
 * @param rho                 radius of the ascent sharpness
 * @param lossAtAscent        L(w + rho g/||g||)
 * @param ascentSharpness     L(w + rho g/||g||) - L(w) on the whole subset
 * @param m                   examples per subset of the m-sharpness (the batch size)
 * @param mSharpness          mean over batches (weighted by size) of each batch's own ascent sharpness; null
 *                            for a one-batch subset (it would equal ascentSharpness) or a bare oracle
 * @param tol                 power-iteration tolerance
 * @param maxIter             power-iteration limit
 * @param traceTol            Hutchinson tolerance
 * @param gradientEvaluations gradient evaluations over the whole subset: two per Hessian-vector product, one at
 *                            w, one more for the m-sharpness (its per-batch gradients); loss-only passes not counted
 * @param lambdaMaxSeconds    wall time of the eigenvalue part (top-k included)
 * @param traceSeconds        wall time of the trace
 * @param seconds             wall time of the whole analysis
 * @param hvp                 "exact" (R-operator) or "fd" (finite differences)
 * @param eigenMethod         "lanczos" or "power"
 * @param traceMethod         "hutchinson" or "hutchpp"
 * @param lambdaMin           the smallest Ritz value (Lanczos only; an estimate of lambda_min, loose unless converged)
 * @param hvpProducts         Hessian-vector products of the whole analysis
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record SharpnessReport(
        String model, long parameters, Integer examples, String bn, long seed,
        Double hvpStep, Double hvpRelativeStep, double weightNorm,
        double loss, double gradNorm,
        double lambdaMax, int lambdaMaxIterations, boolean lambdaMaxConverged,
        List<Double> topEigenvalues, List<Integer> topIterations, List<Boolean> topConverged,
        Double trace, Double traceStdError, Integer traceSamples, Boolean traceConverged, Double tracePerParam,
        Double alignment,
        Double rho, Double lossAtAscent, Double ascentSharpness, Integer m, Double mSharpness,
        double tol, int maxIter, Double traceTol,
        long gradientEvaluations, double lambdaMaxSeconds, Double traceSeconds, double seconds,
        String hvp, String eigenMethod, String traceMethod, Double lambdaMin, long hvpProducts) {

    private static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);

    /** Pretty-printed JSON, snake_case keys, nulls left out. */
    public String toJson() {
        try {
            return JSON.writer().with(SerializationFeature.INDENT_OUTPUT).writeValueAsString(this);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise the sharpness report", e);
        }
    }

    /** The same on one line, for a .jsonl log (one analysis per line). */
    public String toJsonLine() {
        try {
            return JSON.writeValueAsString(this);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise the sharpness report", e);
        }
    }

    /** Reads what {@link #toJson()} wrote. */
    public static SharpnessReport fromJson(String json) {
        try {
            return JSON.readValue(json, SharpnessReport.class);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("not a sharpness report: " + e.getOriginalMessage(), e);
        }
    }

    /** Writes {@link #toJson()} atomically (temporary file, then rename); a FormatException names the file on failure. */
    public void write(Path file) {
        byte[] bytes = (toJson() + "\n").getBytes(StandardCharsets.UTF_8);
        AtomicFile.write(file, out -> out.write(bytes));
    }
}
