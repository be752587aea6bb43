package io.sam4j.train;

import io.sam4j.formats.FormatException;
import io.sam4j.config.ConfigException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sam4j.data.Augmentation;
import io.sam4j.data.Batcher;
import io.sam4j.data.DataSource;
import io.sam4j.data.Dataset;
import io.sam4j.data.HoldOut;
import io.sam4j.data.Normalizer;
import io.sam4j.distributed.Communicator;
import io.sam4j.distributed.SingleProcess;
import io.sam4j.formats.AtomicFile;
import io.sam4j.formats.Checkpoint;
import io.sam4j.formats.SafeTensors;
import io.sam4j.formats.StateDict;
import io.sam4j.nn.Model;
import io.sam4j.optim.Optimizer;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A training run: data, the {@link RunSetup} (model, optimizer, data-parallel wiring), the run folder
 * (config.json, resume), then the {@link TrainingLoop} (steps, evaluation, checkpoints, metrics.jsonl).
 * Everything the loop needs is allocated before the first step.
 */
public final class Trainer {
    /** What a finished run reports. */
    public record Result(double testAccuracy, double testLoss, double trainLoss, long steps, double seconds, Path outDir) {}

    /** Made on first use: a run refused by its checks exits without loading Jackson (~500 classes). */
    private static final class Json {
        static final ObjectMapper MAPPER = new ObjectMapper();
    }

    static ObjectMapper json() {
        return Json.MAPPER;
    }
    /** The weights at the end of every run, beside its checkpoint. */
    public static final String FINAL_WEIGHTS = "final.safetensors";
    /** Written into the run folder when training diverges: {"step", "epoch", "message"} (read by compare). */
    public static final String DIVERGED = "diverged.json";

    private final TrainConfig c;
    private final PrintStream out;
    private final List<StepListener> listeners = new ArrayList<>();
    private final List<RunListener> runListeners = new ArrayList<>();
    private boolean resume;
    private boolean overwrite;
    private StopSignal stop;
    private Communicator comm = SingleProcess.INSTANCE;

    public Trainer(TrainConfig config, PrintStream out) {
        this.c = config;
        this.out = out;
    }

    /**
     * Trains data-parallel across the communicator's ranks: rank 0's weights are broadcast, each rank
     * takes its slice of every global batch, gradients are averaged by one all-reduce, and only rank 0
     * prints and writes files.
     */
    public Trainer communicator(Communicator comm) {
        this.comm = comm;
        return this;
    }

    /** Calls {@code l} after every optimizer step. */
    public Trainer addListener(StepListener l) {
        listeners.add(l);
        return this;
    }

    /** Calls {@code l} at the start, after every epoch and at the end of the run (rank 0 only). */
    public Trainer addRunListener(RunListener l) {
        runListeners.add(l);
        return this;
    }

    /**
     * Continues the run in {@code config.out()} from its last checkpoint; the finished run ends with the
     * same weights as an uninterrupted one (same config, same thread count).
     */
    public Trainer resume() {
        if (c.out == null) throw new ConfigException("{out}: resuming needs the run folder");
        this.resume = true;
        return this;
    }

    /** A new run may replace the files of a previous run in a non-empty {@code --out} folder. */
    public Trainer overwrite(boolean overwrite) {
        this.overwrite = overwrite;
        return this;
    }

    /**
     * On SIGTERM or SIGINT the run finishes its step, writes a checkpoint and ends with {@link Stopped}
     * (a second signal ends the process at once, see {@link StopSignal}). Single-process runs only.
     */
    public Trainer stopOn(StopSignal stop) {
        this.stop = stop;
        return this;
    }

    /** A run stopped by a signal after checkpointing; {@link #exitCode()} is 128 + the signal number. */
    public static final class Stopped extends RuntimeException {
        private static final long serialVersionUID = 1L;
        private final int exitCode;

        Stopped(String message, int exitCode) {
            super(message);
            this.exitCode = exitCode;
        }

        public int exitCode() {
            return exitCode;
        }
    }

    /** A failure after training started (divergence, a write that failed): exit status 1, not a usage error. */
    public static final class TrainingFailure extends IllegalStateException {
        private static final long serialVersionUID = 1L;

        TrainingFailure(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * The configuration a run folder was started with (its config.json), checked as the flags are.
     *
     * @throws FormatException one line naming the file when it is missing, not JSON, or holds a bad value
     */
    public static TrainConfig readConfig(Path runDir) {
        Path f = runDir.resolve("config.json");
        if (Files.isDirectory(runDir) && !Files.exists(f)) throw new FormatException(runDir + ": no config.json, not a run folder");
        TrainConfig c;
        try {
            c = json().copy().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false).readValue(Files.readAllBytes(f), TrainConfig.class);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new FormatException(runDir + ": no such run folder");
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            var loc = e.getLocation();
            throw new FormatException(f + ": not a valid config: " + String.valueOf(e.getOriginalMessage()).replaceAll("\\s+", " ")
                    + (loc != null ? " (line " + loc.getLineNr() + ", column " + loc.getColumnNr() + ")" : ""));
        } catch (IOException e) {
            throw new FormatException(f + ": cannot read: " + e.getMessage());
        }
        if (c == null) throw new FormatException(f + ": not a valid config: empty");
        try {
            ConfigCheck.check(c);
        } catch (ConfigException e) {
            throw new FormatException(f + ": " + e.getMessage());
        }
        c.out = runDir;
        return c;
    }

    /**
     * The data of a run: both splits, the validation split held out of the training set (null without
     * --val-split), the normalisation fitted on the training split, the augmentation.
     */
    record Data(DataSource.Split split, Dataset train, Dataset val, Dataset test, Normalizer norm, Augmentation aug) {
        int[] inShape() {
            return new int[] {train.channels(), train.height(), train.width()};
        }
    }

    public Result run() {
        c.validate();
        int ranks = comm.size();
        if (c.batch % ranks != 0) throw new ConfigException("{batch} " + c.batch + " does not divide among " + ranks + " ranks");
        // Outputs and the --init file are checked before any data is loaded; nothing is written yet.
        RunFolder folder = comm.isRoot() ? RunFolder.check(c, resume, overwrite) : null;
        if (c.init != null) SafeTensors.read(c.init);
        PrintStream out = comm.isRoot() ? this.out : new PrintStream(OutputStream.nullOutputStream());
        long t0 = System.nanoTime();
        Data data = loadData(out);
        if (c.batch > data.train().size()) {
            throw new ConfigException("{batch} " + c.batch + " is larger than the training set (" + data.train().size()
                    + " examples of " + data.train().name() + ")");
        }
        try (RunSetup run = new RunSetup(c, data.inShape(), data.train().numClasses(), System.err)) {
            checkInit(run, out);
            Batcher batcher = new Batcher(data.train(), data.norm(), c.batch, c.seed, c.shuffle);
            int perEpoch = batcher.batchesPerEpoch();
            long total = c.steps > 0 ? c.steps : (long) c.epochs * perEpoch;
            run.setTotalSteps(total); // AE-SAM's threshold and RST's schedule follow t/T
            Optimizer opt = run.optimizer();
            run.distribute(comm, c.perturbation.equals("global"));
            int epochs = (int) ((total + perEpoch - 1) / perEpoch);
            Path outDir = folder != null ? folder.dir() : c.out;
            long step = resume ? resumeFrom(outDir, run, total, perEpoch, out) : 0;
            if (resume && step == total) return finished(outDir, run, step, epochs, t0, out);
            printHeader(out, run, total, epochs, outDir);
            if (folder != null) {
                folder.create();
                if (resume) {
                    TrainingLoop.keepMetricsUpTo(outDir.resolve("metrics.jsonl"), step);
                    TrainingLoop.keepMetricsUpTo(outDir.resolve("sharpness.jsonl"), step);
                }
                writeConfig(outDir, run.model(), opt, data.norm()); // on resume too: --epochs may have extended the run
            }
            List<RunListener> hooks = new ArrayList<>(runListeners);
            if (c.keepBest || c.keepLast > 0) hooks.addFirst(new CheckpointKeeper(c.keepBest, c.keepLast));
            if (comm.isRoot()) {
                var start = new RunListener.Start(outDir, step, run.context().convBackend().summary(), run.context().kernels().name(), ranks);
                for (RunListener l : hooks) l.started(start);
            }
            try (TrainingLoop loop = new TrainingLoop(c, comm, out, run, data, batcher, total, outDir, resume, listeners, hooks)) {
                return loop.stopOn(stop).run(step, t0);
            } catch (RuntimeException e) {
                // The loop marks every failure after its first step (TrainingFailure, Stopped): anything else
                // means the run never started, and leaves nothing behind.
                if (folder != null && !(e instanceof TrainingFailure) && !(e instanceof Stopped)) folder.discardIfUnused();
                throw e;
            }
        }
    }

    /** --init's weights must be finite; prints what was loaded and any note (counters the file lacked). */
    private void checkInit(RunSetup run, PrintStream out) {
        if (c.init == null) return;
        String bad = NonFinite.firstIn(run.store(), false);
        if (bad != null) throw new ConfigException("{init} " + c.init + ": " + bad + "; initial weights must be finite");
        out.println("init: loaded " + c.init + (run.initNote() != null ? "\nnote: " + run.initNote() : ""));
    }

    /**
     * Loads the run's checkpoint (a run killed before its first checkpoint starts again from step 0) and
     * checks it against the resumed settings: the same rank count, and a total not below the step reached.
     */
    private long resumeFrom(Path dir, RunSetup run, long total, int perEpoch, PrintStream out) {
        if (!Files.exists(Checkpoint.path(dir))) {
            out.println("resume: " + dir + " has no checkpoint yet (stopped before its first epoch ended); starting from step 0");
            return 0;
        }
        long step = Checkpoint.load(dir, run.store(), run.optimizer(), comm.rank());
        int saved = Checkpoint.ranks(dir);
        if (saved != comm.size()) {
            throw new ConfigException("{resume} " + dir + ": the run was trained on " + count(saved, "rank") + ", this is "
                    + count(comm.size(), "process") + "; resume it under mpirun -np " + saved);
        }
        if (step > total) {
            long reached = (step + perEpoch - 1) / perEpoch;
            throw new ConfigException("{resume} " + dir + ": the run is already at step " + step + " (epoch " + reached
                    + "), beyond the " + count(total, "step") + " asked for; a run can be extended, not shortened");
        }
        out.printf(Locale.ROOT, "resumed from %s at step %d of %d%n", Checkpoint.path(dir), step, total);
        return step;
    }

    /** Resuming a run that has reached its total: say so, make sure its --save file exists, and return its last metrics. */
    private Result finished(Path dir, RunSetup run, long step, int epochs, long t0, PrintStream out) {
        if (c.save != null && comm.isRoot() && !Files.exists(c.save)) {
            StateDict.save(run.store(), c.save);
            out.println("saved weights to " + c.save);
        }
        if (comm.isRoot() && !Files.exists(dir.resolve(FINAL_WEIGHTS))) StateDict.save(run.store(), dir.resolve(FINAL_WEIGHTS));
        double acc = Double.NaN, loss = Double.NaN, trainLoss = Double.NaN;
        try {
            Path metrics = dir.resolve("metrics.jsonl");
            List<String> lines = Files.exists(metrics) ? Files.readAllLines(metrics) : List.of();
            if (!lines.isEmpty()) {
                var m = json().readTree(lines.getLast());
                acc = m.path("test_acc").asDouble(Double.NaN);
                loss = m.path("test_loss").asDouble(Double.NaN);
                trainLoss = m.path("train_loss").asDouble(Double.NaN);
            }
        } catch (IOException e) {
            // the line below then shows NaN
        }
        out.printf(Locale.ROOT, "run %s is finished (%s, %s; test accuracy %.2f %%): nothing to do; to train further: "
                + "./sam4j train --resume %s --epochs %d%n", dir, count(step, "step"), count(epochs, "epoch"), 100 * acc, dir, epochs + 1);
        return new Result(acc, loss, trainLoss, step, (System.nanoTime() - t0) / 1e9, dir);
    }

    /** "1 epoch", "6 epochs". */
    static String count(long n, String noun) {
        return n + " " + noun + (n == 1 ? "" : "s");
    }

    private Data loadData(PrintStream out) {
        DataSource.Split split = DataSource.load(c.data);
        Dataset train = trainingSet(split, c), val = null;
        if (c.valSplit > 0) {
            HoldOut.Split held = HoldOut.of(train, c.valSplit, c.seed);
            train = held.train();
            val = held.validation();
            out.printf(Locale.ROOT, "validation: %d training examples held out (--val-split %s)%n", val.size(), c.valSplit);
        }
        Normalizer norm = Normalizer.fit(train);
        Augmentation aug = Augmentation.of(c.augment != null ? c.augment : Augmentation.defaultSpec(train), train, norm, c.seed);
        out.printf(Locale.ROOT, "data: %s%s; normalisation %s; augmentation %s%n", split.description(),
                c.labelNoise > 0 ? ", label noise " + c.labelNoise : "", norm.describe(), aug == null ? "none" : aug.spec());
        return new Data(split, train, val, split.test(), norm, aug);
    }

    private void printHeader(PrintStream out, RunSetup run, long total, int epochs, Path outDir) {
        Model model = run.model();
        out.printf(Locale.ROOT, "model %s: %,d parameters | optimizer %s | lr %s %s | batch %d | %s (%s) | %s, %s kernels%n",
                c.model, model.store().paramCount(), run.optimizer().describe(), c.lr, c.schedule.name().toLowerCase(Locale.ROOT),
                c.batch, count(total, "step"), count(epochs, "epoch"), count(c.threads, "thread"), run.context().kernels().name());
        if (model.usesConvolutions()) {
            out.println("convolutions: " + run.context().convBackend().summary() + "; activations " + run.layout()
                    + "; convolutions compute in " + run.context().precision().flagValue());
        }
        int ranks = comm.size(), local = c.batch / ranks;
        if (ranks > 1) {
            String reduce = c.allreduceBucketMb > 0
                    ? "all-reduce in " + c.allreduceBucketMb + " MB buckets overlapped with backward" : "blocking all-reduce";
            out.printf(Locale.ROOT, "data parallel: %s; %d ranks x batch %d (m = %d), %s perturbations, %s%s%n", comm.describe(),
                    ranks, local, local, c.perturbation, c.syncBn ? "SyncBatchNorm, " : "", reduce);
        }
        out.println("run folder: " + outDir);
    }

    /**
     * The training split as the run trains on it: its first {@code trainSubset} examples in file order (a
     * choice independent of the seed, so runs with different seeds see the same examples), then its
     * seeded label noise, if any.
     */
    public static Dataset trainingSet(DataSource.Split split, TrainConfig c) {
        Dataset train = split.train();
        if (c.trainSubset > train.size()) {
            throw new ConfigException("{trainSubset} " + c.trainSubset + " is larger than the training set (" + train.size()
                    + " examples of " + train.name() + ")");
        }
        if (c.trainSubset > 0) train = train.head(c.trainSubset);
        if (c.labelNoise <= 0) return train;
        return train.withLabels(Batcher.withLabelNoise(train.labels(), train.numClasses(), c.labelNoise, c.seed),
                train.name() + "+noise" + c.labelNoise);
    }

    private void writeConfig(Path dir, Model model, Optimizer opt, Normalizer norm) {
        ObjectNode o = json().valueToTree(c);
        o.put("parameters", model.store().paramCount());
        o.put("optimizer_description", opt.describe());
        // What eval and predict need to feed new inputs exactly as the run saw its test set.
        o.set("input_shape", json().valueToTree(model.inputShape()));
        o.put("classes", model.classes());
        o.set("normalization", json().createObjectNode().putPOJO("mean", norm.means()).putPOJO("std", norm.stds()));
        try {
            byte[] bytes = json().writerWithDefaultPrettyPrinter().writeValueAsBytes(o);
            AtomicFile.write(dir.resolve("config.json"), out -> out.write(bytes));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + dir.resolve("config.json") + ": " + e.getMessage(), e);
        }
    }
}
