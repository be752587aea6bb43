package io.sam4j.cli;

import io.sam4j.config.ConfigException;
import io.sam4j.conv.Precision;
import io.sam4j.distributed.Communicator;
import io.sam4j.distributed.Communicators;
import io.sam4j.nn.Models;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sam4j.report.RunReport;
import io.sam4j.report.StepLog;
import io.sam4j.train.Schedule;
import io.sam4j.train.StopSignal;
import io.sam4j.train.TrainConfig;
import io.sam4j.train.Trainer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.Spec;

@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train a model. With no flags: the cnn with SAM on the embedded Fashion-MNIST subset (6 epochs).",
                "Writes <out>/config.json and one JSON line per epoch to <out>/metrics.jsonl."})
final class TrainCommand implements Callable<Integer>, Main.FlagNames {
    @Override
    public String flagFor(String field) {
        return field.equals("subset") ? "--sharpness-subset" : null; // SharpnessProbe's subset
    }

    @Option(names = "--model", paramLabel = "NAME", description = "Architecture: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).",
            completionCandidates = ModelNames.class, defaultValue = "cnn")
    String model;

    @Option(names = "--data", paramLabel = "DIR", description = "Folder with the four IDX files (train-/t10k-images-idx3-ubyte, "
            + "-labels-idx1-ubyte, raw or .gz; e.g. /usr/share/datasets/fashion-mnist) or CIFAR-10/100 binary files. "
            + "Default: the embedded Fashion-MNIST subset.")
    Path data;

    @Option(names = "--train-subset", paramLabel = "N", description = "Train on the first N examples of the training "
            + "file only, in file order whatever the seed (before --label-noise and --val-split; the normalisation is "
            + "fitted on them). With --batch N one step is one epoch (full-batch GD). Default: all.")
    Integer trainSubset;

    @Option(names = "--epochs", paramLabel = "N", description = "Epochs (default: ${DEFAULT-VALUE}).", defaultValue = "6")
    int epochs;

    @Option(names = "--steps", paramLabel = "N", description = "Exactly N optimizer steps instead of whole epochs.", defaultValue = "0")
    long steps;

    @Option(names = "--batch", paramLabel = "B", description = "Batch size (default: ${DEFAULT-VALUE}).", defaultValue = "128")
    int batch;

    @Option(names = "--lr", description = "Base learning rate (default: ${DEFAULT-VALUE}).", defaultValue = "0.05")
    float lr;

    @Option(names = "--momentum", description = "SGD momentum (default: ${DEFAULT-VALUE}).", defaultValue = "0.9")
    float momentum;

    @Option(names = "--nesterov", description = "Nesterov momentum (SGD).")
    boolean nesterov;

    @Option(names = "--weight-decay", paramLabel = "WD", description = "Weight decay: coupled L2 for SGD, decoupled for AdamW "
            + "(default: ${DEFAULT-VALUE}).", defaultValue = "5e-4")
    float weightDecay;

    @Option(names = "--schedule", paramLabel = "S", description = "cosine (per iteration, to 0) or constant (default: ${DEFAULT-VALUE}).",
            defaultValue = "cosine")
    String schedule;

    @Option(names = "--optimizer", paramLabel = "O", description = "sgd, adamw, sam, usam, asam, fsam, stablesam (= sam --stable), "
            + "gsam, looksam, aesam, rst or esam (default: ${DEFAULT-VALUE}).", defaultValue = "sam")
    String optimizer;

    @Mixin
    SamFamilyOptions sam = new SamFamilyOptions();

    @Option(names = "--grad-clip", paramLabel = "NORM", description = "Clip the final gradient's global norm (0 = off).", defaultValue = "0")
    float gradClip;

    @Option(names = "--label-noise", paramLabel = "P", description = "Symmetric label noise on the training split, seeded (default: 0).",
            defaultValue = "0")
    float labelNoise;

    @Option(names = "--label-smoothing", paramLabel = "S", description = "Label smoothing of the loss (default: 0).", defaultValue = "0")
    float labelSmoothing;

    @Option(names = "--seed", description = "Seed of initialisation, shuffling and noise (default: ${DEFAULT-VALUE}).", defaultValue = "0")
    long seed;

    @Option(names = "--threads", paramLabel = "T", description = "Worker threads (default: all cores).")
    Integer threads;

    @Option(names = "--no-shuffle", description = "Take batches in file order: batch i = examples [i*B, (i+1)*B).")
    boolean noShuffle;

    @Option(names = "--augment", paramLabel = "LIST", description = "Augmentation of training batches, any of crop "
            + "(4-pixel zero padding), flip (p 0.5), cutout (16 px, p 0.5), comma-separated. Default: crop,flip for CIFAR, "
            + "none for 28x28 data sets.")
    String augment;

    @Option(names = "--no-augment", description = "Disable data augmentation.")
    boolean noAugment;

    @Option(names = "--backend", paramLabel = "B", description = "Convolutions on onednn, java (pure Java, Vector API) or "
            + "auto (oneDNN when its library loads) (default: ${DEFAULT-VALUE}).", defaultValue = "auto")
    String backend;

    @Option(names = "--precision", paramLabel = "P", description = "Convolutions and linear layers in fp32, or bf16 mixed precision "
            + "(oneDNN on a CPU with bf16; weights, gradients and optimizer stay fp32) (default: ${DEFAULT-VALUE}).",
            defaultValue = "fp32")
    String precision;

    @Option(names = "--dist", paramLabel = "D", description = "Data parallelism: auto (MPI when started by mpirun), mpi, "
            + "or none (default: ${DEFAULT-VALUE}).", defaultValue = "auto")
    String dist;

    @Option(names = "--mpi-library", paramLabel = "PATH", description = "The MPI library to load (a path or soname such "
            + "as libmpich.so.12); default: the library of the MPI whose launcher started the process.")
    String mpiLibrary;

    @Option(names = "--allreduce-bucket-mb", paramLabel = "MB", description = "Under MPI: all-reduce the gradient in "
            + "buckets of MB megabytes, each started as soon as backward has finished its layers, to hide communication "
            + "behind backward; 0: one blocking all-reduce after backward (default: ${DEFAULT-VALUE}).", defaultValue = "25")
    double allreduceBucketMb;

    @Option(names = "--hang-timeout", paramLabel = "S", description = "Under MPI: end the job, naming the rank, when a rank "
            + "makes no MPI call for S seconds (hung), or waits S seconds plus a grace in one; 0: never "
            + "(default: ${DEFAULT-VALUE}).", defaultValue = "900")
    long hangTimeout;

    @Option(names = "--sync-bn", description = "Under MPI: SyncBatchNorm, batch statistics (and their backward sums) "
            + "summed over all ranks, so that N ranks normalise as one process on the global batch.")
    boolean syncBn;

    @Option(names = "--perturbation", paramLabel = "P", description = "Under MPI: local (each rank perturbs along its own "
            + "gradient, one all-reduce per step) or global (the first-pass gradient is all-reduced too) "
            + "(default: ${DEFAULT-VALUE}).", defaultValue = "local")
    String perturbation;

    @Option(names = "--eval-every", paramLabel = "N", description = "Evaluate, write the metrics line and the checkpoint "
            + "every N epochs and at the end (default: ${DEFAULT-VALUE}); for full-batch runs, where an epoch is one step.",
            defaultValue = "1")
    int evalEvery;

    @Option(names = "--sharpness-every", paramLabel = "N", description = "Every N epochs (and at the end), lambda_max, "
            + "Hessian trace, alignment and ascent sharpness on a fixed training subset, into metrics.jsonl and "
            + "sharpness.jsonl (default: off).", defaultValue = "0")
    int sharpnessEvery;

    @Option(names = "--sharpness-subset", paramLabel = "N", description = "Training examples the diagnostics use "
            + "(default: ${DEFAULT-VALUE}).", defaultValue = "1000")
    int sharpnessSubset;

    @Option(names = "--init", paramLabel = "FILE", description = "Initial weights (.safetensors with PyTorch state_dict names).")
    Path init;

    @Option(names = "--save", paramLabel = "FILE", description = "Write the trained weights (.safetensors).")
    Path save;

    @Option(names = "--out", paramLabel = "DIR", description = "Run folder (default: runs/<time>-<model>-<optimizer>).")
    Path out;

    @Option(names = "--resume", paramLabel = "RUNDIR", description = "Continue the run in RUNDIR from its last checkpoint, "
            + "with the settings of its config.json. Only --epochs/--steps (to extend it) and --threads may be given too.")
    Path resume;

    @Option(names = "--overwrite", description = "Replace the files of a previous run in a non-empty --out folder.")
    boolean overwrite;

    @Option(names = "--keep-best", description = "Keep best.safetensors (and best.json): the epoch checkpoint with the best "
            + "validation accuracy (--val-split), else the best TEST accuracy, which lets the test set pick the model (a leak).")
    boolean keepBest;

    @Option(names = "--keep-last", paramLabel = "N", description = "Keep the last N epoch checkpoints as "
            + "checkpoint-step<S>.safetensors (default: 0).", defaultValue = "0")
    int keepLast;

    @Option(names = "--val-split", paramLabel = "F", description = "Hold out this fraction of the training set (chosen with the "
            + "seed) as a validation split, evaluated every epoch (val_loss, val_acc) (default: 0).", defaultValue = "0")
    float valSplit;

    @Option(names = "--no-report", description = "Do not write report.html, metrics.csv, steps.csv and plots/ during the run.")
    boolean noReport;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        // MPI first (before any thread team or OpenMP starts), on the thread that will train.
        Communicator comm = Communicators.detect(dist, mpiLibrary);
        if (hangTimeout < 0) throw new IllegalArgumentException("--hang-timeout must be >= 0, got " + hangTimeout);
        comm.watchForHangs(hangTimeout);
        try {
            // Signals stop a single process cleanly; under mpirun the launcher ends the job.
            StopSignal stop = comm.size() == 1 && Main.standalone ? StopSignal.install() : null;
            comm.runGuarded(() -> {
                if (resume != null) {
                    withReports(new Trainer(resumedConfig(comm), System.out)).communicator(comm).resume().stopOn(stop).run();
                } else {
                    withReports(new Trainer(config(comm), System.out)).communicator(comm).overwrite(overwrite).stopOn(stop).run();
                }
            });
        } finally {
            comm.close();
        }
        return 0;
    }

    /** Flags that may accompany --resume: the length of the run and the thread count. */
    private static final Set<String> RESUME_FLAGS = Set.of("--resume", "--epochs", "--steps", "--threads", "--dist");

    /**
     * The run's own config.json, extended by --epochs/--steps and with --threads applied. Any other flag given
     * with a value that differs from the run's is refused, naming it (a resumed run keeps its settings).
     */
    private TrainConfig resumedConfig(Communicator comm) {
        TrainConfig saved = Trainer.readConfig(resume);
        TrainConfig asked = config(comm);
        ObjectMapper json = new ObjectMapper();
        JsonNode was = json.valueToTree(saved), now = json.valueToTree(asked);
        List<String> changed = new ArrayList<>();
        for (OptionSpec o : spec.commandLine().getParseResult().matchedOptions()) {
            String flag = o.longestName();
            if (RESUME_FLAGS.contains(flag)) continue;
            String field = ConfigFields.of(flag);
            if (field == null || !was.path(field).equals(now.path(field))) changed.add(flag);
        }
        if (!changed.isEmpty()) {
            throw new IllegalArgumentException(String.join(", ", changed) + (changed.size() == 1 ? " differs" : " differ")
                    + " from the run's config.json; a resumed run keeps its settings (only --epochs, --steps and --threads "
                    + "may be given with --resume)");
        }
        ParseResult pr = spec.commandLine().getParseResult();
        if (pr.hasMatchedOption("--epochs")) {
            saved.epochs = epochs;
            saved.steps = 0;
        }
        if (pr.hasMatchedOption("--steps")) saved.steps = steps;
        if (pr.hasMatchedOption("--threads")) saved.threads = threads;
        else if (comm.size() > 1) saved.threads = Communicators.threadsPerRank();
        saved.validate();
        return saved;
    }

    /** Per-step log, plots and report.html in the run folder, refreshed after every epoch. */
    private Trainer withReports(Trainer t) {
        return withReports(t, CommandLines.of(spec));
    }

    /** As above, with the command line to show in the report given (sweep cells). */
    Trainer withReports(Trainer t, String command) {
        if (noReport) return t;
        StepLog steps = new StepLog();
        return t.addListener(steps).addRunListener(steps).addRunListener(RunReport.listener(command));
    }

    TrainConfig config(Communicator comm) {
        Schedule sched = switch (schedule) {
            case "cosine" -> Schedule.COSINE;
            case "constant" -> Schedule.CONSTANT;
            default -> throw new IllegalArgumentException("--schedule: unknown '" + schedule + "' (known: cosine, constant)");
        };
        if (!Models.NAMES.contains(model)) {
            throw new IllegalArgumentException("--model: unknown '" + model + "' (known: " + String.join(", ", Models.NAMES) + ")");
        }
        TrainConfig c = new TrainConfig();
        c.model = model;
        c.data = data;
        c.epochs = epochs;
        c.steps = steps;
        c.batch = batch;
        c.lr = lr;
        c.momentum = momentum;
        c.nesterov = nesterov;
        c.weightDecay = weightDecay;
        c.schedule = sched;
        c.optimizer = optimizer;
        sam.applyTo(c);
        c.gradClip = gradClip;
        c.labelNoise = labelNoise;
        if (trainSubset != null && trainSubset < 1) throw ConfigException.mustBe("trainSubset", ">= 1", trainSubset);
        if (trainSubset != null) c.trainSubset = trainSubset;
        c.labelSmoothing = labelSmoothing;
        c.seed = seed;
        if (threads != null) c.threads = threads;
        else if (comm.size() > 1) c.threads = Communicators.threadsPerRank();
        c.perturbation = perturbation;
        c.allreduceBucketMb = allreduceBucketMb;
        c.syncBn = syncBn;
        if (sharpnessEvery < 0) throw new IllegalArgumentException("--sharpness-every must be >= 0, got " + sharpnessEvery);
        c.sharpnessEvery = sharpnessEvery;
        c.evalEvery = evalEvery;
        c.sharpnessSubset = sharpnessSubset;
        c.shuffle = !noShuffle;
        if (noAugment && augment != null) throw new IllegalArgumentException("--augment and --no-augment contradict each other");
        c.augment = noAugment ? "none" : augment;
        c.backend = backend;
        c.precision = Precision.parse("--precision", precision);
        c.init = init;
        c.save = save;
        c.out = out;
        c.keepBest = keepBest;
        c.keepLast = keepLast;
        c.valSplit = valSplit;
        return c;
    }

    static final class ModelNames implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return Models.NAMES.iterator();
        }
    }
}
