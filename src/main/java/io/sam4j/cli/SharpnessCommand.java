package io.sam4j.cli;

import io.sam4j.data.DataSource;
import io.sam4j.data.Dataset;
import io.sam4j.data.Normalizer;
import io.sam4j.formats.Checkpoint;
import io.sam4j.formats.SafeTensors;
import io.sam4j.formats.StateDict;
import io.sam4j.nn.Model;
import io.sam4j.sharpness.IterationListener;
import io.sam4j.sharpness.Sharpness;
import io.sam4j.sharpness.SharpnessExtras;
import io.sam4j.sharpness.SpectralDensity;
import io.sam4j.sharpness.SharpnessProbe;
import io.sam4j.sharpness.SharpnessReport;
import io.sam4j.train.TrainConfig;
import io.sam4j.train.RunSetup;
import io.sam4j.train.Trainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "sharpness", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Sharpness of trained weights after Wen, Ma & Li: lambda_max and the top k (Lanczos or power iteration), "
                + "Hessian trace (Hutchinson or Hutch++, +- standard error), gradient/top-eigenvector alignment and ascent sharpness "
                + "L(w + rho g/||g||) - L(w), on a fixed subset of the training set; optionally the spectral density (SLQ) and "
                + "loss landscapes. Hessian-vector products are exact (Pearlmutter's R-operator) unless --hvp fd. Prints a summary "
                + "and writes a JSON report."})
final class SharpnessCommand implements Callable<Integer>, Main.FlagNames {
    @Override
    public String flagFor(String field) {
        return switch (field) { // Sharpness.Options' fields this command names differently
            case "maxIter" -> "--iters";
            case "topK" -> "--topk";
            case "relativeStep" -> "--hvp-step";
            default -> null;
        };
    }

    static final class Source {
        @Option(names = "--weights", paramLabel = "FILE", required = true, description = "Weights (.safetensors, PyTorch names).")
        Path weights;

        @Option(names = "--run", paramLabel = "RUNDIR", required = true, description = "A run folder: its config.json "
                + "(model, data, label noise) and its last checkpoint.")
        Path run;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    @Option(names = "--model", paramLabel = "NAME", description = "Model (with --weights; default: cnn).")
    String model;

    @Option(names = "--data", paramLabel = "DIR", description = "Data folder (default: the run's, or the embedded subset).")
    Path data;

    @Option(names = "--subset", paramLabel = "N", description = "Training examples used (default: ${DEFAULT-VALUE}).", defaultValue = "1000")
    int subset;

    @Option(names = "--batch", paramLabel = "B", description = "Batch size of the gradient evaluations (default: ${DEFAULT-VALUE}).",
            defaultValue = "250")
    int batch;

    @Option(names = "--hvp", paramLabel = "KIND", description = "Hessian-vector products: exact (R-operator) or fd (central "
            + "differences of two gradients, for comparison) (default: ${DEFAULT-VALUE}).", defaultValue = "exact")
    String hvp;

    @Option(names = "--method", paramLabel = "M", description = "Eigenvalues: lanczos (full reorthogonalisation) or power "
            + "(PyHessian's power iteration with deflation) (default: ${DEFAULT-VALUE}).", defaultValue = "lanczos")
    String method;

    @Option(names = "--trace-method", paramLabel = "M", description = "Trace: hutchinson or hutchpp (Hutch++ with "
            + "--trace-samples products) (default: ${DEFAULT-VALUE}).", defaultValue = "hutchinson")
    String traceMethod;

    @Option(names = "--spectrum", description = "Also the spectral density by stochastic Lanczos quadrature (PyHessian: 1 run "
            + "of 100 steps): BASE-spectrum.json, .png, .svg next to the report.")
    boolean spectrum;

    @Option(names = "--spectrum-steps", paramLabel = "N", description = "Lanczos steps per SLQ run (default: ${DEFAULT-VALUE}).", defaultValue = "100")
    int spectrumSteps;

    @Option(names = "--spectrum-runs", paramLabel = "N", description = "SLQ runs (default: ${DEFAULT-VALUE}).", defaultValue = "1")
    int spectrumRuns;

    @Option(names = "--landscape", paramLabel = "1d|2d", description = "Also loss slices (EVAL mode) along filter-normalised "
            + "directions (1d: random, top eigenvector, SAM perturbation; 2d: two random): BASE-landscape-1d.json, .png, .svg.")
    String landscape;

    @Option(names = "--landscape-points", paramLabel = "N", description = "Grid points per axis (default: 51 for 1d, 21 for 2d).")
    Integer landscapePoints;

    @Option(names = "--landscape-range", paramLabel = "R", description = "Grid over [-R, R] (default: ${DEFAULT-VALUE}).", defaultValue = "1")
    double landscapeRange;

    @Option(names = "--iters", paramLabel = "N", description = "Lanczos steps or power iterations at most (default: ${DEFAULT-VALUE}).", defaultValue = "100")
    int iters;

    @Option(names = "--tol", description = "Relative tolerance of the power iteration (default: ${DEFAULT-VALUE}).", defaultValue = "1e-3")
    double tol;

    @Option(names = "--topk", paramLabel = "K", description = "Top eigenvalues (default: ${DEFAULT-VALUE}).", defaultValue = "1")
    int topk;

    @Option(names = "--trace-samples", paramLabel = "N", description = "Hutchinson probes at most; 0 skips the trace "
            + "(default: ${DEFAULT-VALUE}).", defaultValue = "100")
    int traceSamples;

    @Option(names = "--trace-tol", description = "Stop the trace when the running mean changes less than this; 0 runs all "
            + "probes (default: ${DEFAULT-VALUE}).", defaultValue = "1e-3")
    double traceTol;

    @Option(names = "--rho", description = "Radius of the ascent sharpness; 0 skips it (default: ${DEFAULT-VALUE}).", defaultValue = "0.05")
    double rho;

    @Option(names = "--bn", paramLabel = "MODE", description = "BatchNorm: eval (running statistics) or batch "
            + "(each batch's statistics) (default: ${DEFAULT-VALUE}).", defaultValue = "eval")
    String bn;

    @Option(names = "--hvp-step", paramLabel = "S", description = "With --hvp fd: step relative to max(1, ||w||) "
            + "(default: ${DEFAULT-VALUE}).", defaultValue = "1e-3")
    double hvpStep;

    @Option(names = "--seed", description = "Seed of the random vectors (default: ${DEFAULT-VALUE}).", defaultValue = "0")
    long seed;

    @Option(names = "--threads", paramLabel = "T", description = "Threads (default: all cores).")
    Integer threads;

    @Option(names = "--backend", paramLabel = "B", description = "onednn, java or auto (default: ${DEFAULT-VALUE}).", defaultValue = "auto")
    String backend;

    @Option(names = "--out", paramLabel = "FILE", description = "JSON report (default: sharpness.json, or RUNDIR/sharpness.json).")
    Path out;

    @Override
    public Integer call() {
        TrainConfig c = source.run != null ? Trainer.readConfig(source.run) : new TrainConfig();
        if (model != null) c.model = model;
        if (data != null) c.data = data;
        if (threads != null) c.threads = threads;
        if (subset < 1) throw new IllegalArgumentException("--subset must be >= 1, got " + subset);
        if (batch < 1) throw new IllegalArgumentException("--batch must be >= 1, got " + batch);
        if (source.weights != null && !Files.isRegularFile(source.weights)) {
            throw new IllegalArgumentException("--weights: no such file " + source.weights);
        }
        validateSecondOrderFlags();
        Path report = out != null ? out : source.run != null ? source.run.resolve("sharpness.json") : Path.of("sharpness.json");
        c.backend = backend;
        c.init = source.weights; // with --run, the run's checkpoint below (not the weights it started from)
        DataSource.Split split = DataSource.load(c.data);
        Dataset train = Trainer.trainingSet(split, c);
        Normalizer norm = Normalizer.fit(train);
        int[] in = {train.channels(), train.height(), train.width()};
        try (RunSetup run = new RunSetup(c, in, train.numClasses(), System.err)) {
            Model m = run.model();
            if (source.weights == null) {
                Path f = Checkpoint.path(source.run);
                if (!Files.isRegularFile(f)) throw new IllegalArgumentException("--run: no " + Checkpoint.FILE + " in " + source.run);
                StateDict.load(m.store(), SafeTensors.read(f), f.toString(), n -> n.startsWith("optimizer."));
            }
            Sharpness.Options o = Sharpness.Options.defaults().withMaxIter(iters).withTol(tol).withTopK(topk)
                    .withTraceSamples(traceSamples).withTraceTol(traceTol).withRho(rho).withRelativeStep(hvpStep).withSeed(seed)
                    .withHvp(choice("--hvp", hvp, Sharpness.Hvp.class)).withEigenMethod(choice("--method", method, Sharpness.EigenMethod.class))
                    .withTraceMethod(choice("--trace-method", traceMethod, Sharpness.TraceMethod.class));
            System.out.printf("sharpness of %s (%,d parameters) on the first %d training examples of %s, BatchNorm %s%n",
                    c.model, m.store().paramCount(), Math.min(subset, train.size()), split.description(), bn);
            try (SharpnessProbe probe = new SharpnessProbe(m, train, norm, subset, batch, bn, o)) {
                SharpnessReport r = probe.analyse(System.err);
                r.write(report);
                System.out.println(SharpnessProbe.summary(r));
                System.out.println("report: " + report);
                writeExtras(probe, report.toString().replaceFirst("\\.json$", ""));
            }
        }
        return 0;
    }

    private void validateSecondOrderFlags() {
        if (landscape != null && !landscape.equals("1d") && !landscape.equals("2d")) {
            throw new IllegalArgumentException("--landscape must be 1d or 2d, got '" + landscape + "'");
        }
        if (landscapePoints != null && landscapePoints < 2) throw new IllegalArgumentException("--landscape-points must be >= 2, got " + landscapePoints);
        if (!(landscapeRange > 0) || Double.isInfinite(landscapeRange)) throw new IllegalArgumentException("--landscape-range must be > 0, got " + landscapeRange);
        if (spectrumSteps < 2 || spectrumRuns < 1) throw new IllegalArgumentException("--spectrum-steps must be >= 2 and --spectrum-runs >= 1");
        choice("--hvp", hvp, Sharpness.Hvp.class);
        choice("--method", method, Sharpness.EigenMethod.class);
        choice("--trace-method", traceMethod, Sharpness.TraceMethod.class);
    }

    /** --spectrum and --landscape: BASE-spectrum.* and BASE-landscape-1d|2d.* next to the report. */
    private void writeExtras(SharpnessProbe probe, String base) {
        if (spectrum) {
            SpectralDensity.Result sd = SharpnessExtras.spectrum(probe.oracle(), spectrumRuns, spectrumSteps, seed,
                    Path.of(base + "-spectrum"), IterationListener.NONE);
            System.out.printf("spectrum: %d nodes in [%.4g, %.4g]: %s-spectrum.json, .png, .svg%n", sd.nodes().get(0).length,
                    sd.grid()[0], sd.grid()[sd.grid().length - 1], base);
        }
        if (landscape != null) {
            boolean twoD = landscape.equals("2d");
            SharpnessExtras.landscape(probe.oracle(), twoD, landscapePoints != null ? landscapePoints : twoD ? 21 : 51,
                    landscapeRange, true, seed, Path.of(base + "-landscape-" + landscape), IterationListener.NONE);
            System.out.println("landscape: " + base + "-landscape-" + landscape + ".json, .png, .svg");
        }
    }

    /** The enum constant named {@code value} (lower case on the command line), or a one-line error naming the flag. */
    static <E extends Enum<E>> E choice(String flag, String value, Class<E> type) {
        for (E e : type.getEnumConstants()) if (e.name().toLowerCase(java.util.Locale.ROOT).equals(value)) return e;
        StringBuilder known = new StringBuilder();
        for (E e : type.getEnumConstants()) known.append(known.isEmpty() ? "" : ", ").append(e.name().toLowerCase(java.util.Locale.ROOT));
        throw new IllegalArgumentException(flag + ": unknown '" + value + "' (known: " + known + ")");
    }
}
