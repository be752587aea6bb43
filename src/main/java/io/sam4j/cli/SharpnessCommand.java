package io.sam4j.cli;

import io.sam4j.data.DataSource;
import io.sam4j.data.Dataset;
import io.sam4j.data.Normalizer;
import io.sam4j.formats.Checkpoint;
import io.sam4j.formats.SafeTensors;
import io.sam4j.formats.StateDict;
import io.sam4j.nn.Model;
import io.sam4j.sharpness.Sharpness;
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
        description = {"Sharpness of trained weights after Wen, Ma & Li: lambda_max (power iteration), Hessian trace "
                + "(Hutchinson, +- standard error), gradient/top-eigenvector alignment and ascent sharpness "
                + "L(w + rho g/||g||) - L(w), on a fixed subset of the training set. Hessian-vector products are central "
                + "finite differences of two gradients. Prints a summary and writes a JSON report."})
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

    @Option(names = "--iters", paramLabel = "N", description = "Power iterations at most (default: ${DEFAULT-VALUE}).", defaultValue = "100")
    int iters;

    @Option(names = "--tol", description = "Relative tolerance of the power iteration (default: ${DEFAULT-VALUE}).", defaultValue = "1e-3")
    double tol;

    @Option(names = "--topk", paramLabel = "K", description = "Top eigenvalues by deflation (default: ${DEFAULT-VALUE}).", defaultValue = "1")
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

    @Option(names = "--hvp-step", paramLabel = "S", description = "Finite-difference step relative to max(1, ||w||) "
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
                    .withTraceSamples(traceSamples).withTraceTol(traceTol).withRho(rho).withRelativeStep(hvpStep).withSeed(seed);
            System.out.printf("sharpness of %s (%,d parameters) on the first %d training examples of %s, BatchNorm %s%n",
                    c.model, m.store().paramCount(), Math.min(subset, train.size()), split.description(), bn);
            try (SharpnessProbe probe = new SharpnessProbe(m, train, norm, subset, batch, bn, o)) {
                SharpnessReport r = probe.analyse(System.err);
                r.write(report);
                System.out.println(SharpnessProbe.summary(r));
                System.out.println("report: " + report);
            }
        }
        return 0;
    }
}
