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
import io.sam4j.nn.Model;
import io.sam4j.optim.Optimizer;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
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

    static final ObjectMapper JSON = new ObjectMapper();
    /** The weights at the end of every run, beside its checkpoint. */
    public static final String FINAL_WEIGHTS = "final.safetensors";

    private final TrainConfig c;
    private final PrintStream out;
    private final List<StepListener> listeners = new ArrayList<>();
    private final List<RunListener> runListeners = new ArrayList<>();
    private boolean resume;
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

    /** The configuration a run folder was started with (its config.json). */
    public static TrainConfig readConfig(Path runDir) {
        Path f = runDir.resolve("config.json");
        if (!Files.isRegularFile(f)) throw new FormatException(runDir + ": no config.json, not a run folder");
        try {
            TrainConfig c = JSON.copy().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
                    .readValue(f.toFile(), TrainConfig.class);
            c.out = runDir;
            return c;
        } catch (IOException e) {
            throw new FormatException(f + ": cannot read: " + e.getMessage(), e);
        }
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
        PrintStream out = comm.isRoot() ? this.out : new PrintStream(OutputStream.nullOutputStream());
        long t0 = System.nanoTime();
        Data data = loadData(out);
        try (RunSetup run = new RunSetup(c, data.inShape(), data.train().numClasses(), System.err)) {
            if (c.init != null) out.println("init: loaded " + c.init);
            Optimizer opt = run.optimizer();
            run.distribute(comm, c.perturbation.equals("global"));
            Batcher batcher = new Batcher(data.train(), data.norm(), c.batch, c.seed, c.shuffle);
            int perEpoch = batcher.batchesPerEpoch();
            if (perEpoch == 0) {
                throw new ConfigException("{batch} " + c.batch + " is larger than the training set (" + data.train().size() + ")");
            }
            long total = c.steps > 0 ? c.steps : (long) c.epochs * perEpoch;
            Path outDir = comm.isRoot() ? outDir() : c.out;
            long step = 0;
            if (resume) {
                step = Checkpoint.load(outDir, run.store(), opt, comm.rank());
                if (comm.isRoot()) TrainingLoop.keepMetricsUpTo(outDir.resolve("metrics.jsonl"), step);
                out.printf(Locale.ROOT, "resumed from %s at step %d%n", Checkpoint.path(outDir), step);
            }
            printHeader(out, run, total, (int) ((total + perEpoch - 1) / perEpoch), outDir);
            if (!resume && comm.isRoot()) writeConfig(outDir, run.model(), opt, data.norm());
            List<RunListener> hooks = new ArrayList<>(runListeners);
            if (c.keepBest || c.keepLast > 0) hooks.addFirst(new CheckpointKeeper(c.keepBest, c.keepLast));
            if (comm.isRoot()) {
                var start = new RunListener.Start(outDir, step, run.context().convBackend().summary(), run.context().kernels().name(), ranks);
                for (RunListener l : hooks) l.started(start);
            }
            try (TrainingLoop loop = new TrainingLoop(c, comm, out, run, data, batcher, total, outDir, resume, listeners, hooks)) {
                return loop.run(step, t0);
            }
        }
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
        out.printf(Locale.ROOT, "model %s: %,d parameters | optimizer %s | lr %s %s | batch %d | %d steps (%d epochs) | "
                        + "%d threads, %s kernels%n", c.model, model.store().paramCount(), run.optimizer().describe(), c.lr,
                c.schedule.name().toLowerCase(Locale.ROOT), c.batch, total, epochs, c.threads, run.context().kernels().name());
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

    /** The training split as the run trains on it: with its seeded label noise, if any. */
    public static Dataset trainingSet(DataSource.Split split, TrainConfig c) {
        Dataset train = split.train();
        if (c.labelNoise <= 0) return train;
        return train.withLabels(Batcher.withLabelNoise(train.labels(), train.numClasses(), c.labelNoise, c.seed),
                train.name() + "+noise" + c.labelNoise);
    }

    private Path outDir() {
        Path dir = c.out;
        if (dir == null) {
            String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
            String opt = c.optimizer + (c.stable ? "-stable" : "") + (c.adaptive ? "-adaptive" : "");
            dir = Path.of("runs", stamp + "-" + c.model + "-" + opt);
            for (int i = 2; Files.exists(dir); i++) dir = Path.of("runs", stamp + "-" + c.model + "-" + opt + "-" + i);
        }
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("--out: cannot create " + dir + ": " + e.getMessage(), e);
        }
        return dir;
    }

    private void writeConfig(Path dir, Model model, Optimizer opt, Normalizer norm) {
        ObjectNode o = JSON.valueToTree(c);
        o.put("parameters", model.store().paramCount());
        o.put("optimizer_description", opt.describe());
        // What eval and predict need to feed new inputs exactly as the run saw its test set.
        o.set("input_shape", JSON.valueToTree(model.inputShape()));
        o.put("classes", model.classes());
        o.set("normalization", JSON.createObjectNode().putPOJO("mean", norm.means()).putPOJO("std", norm.stds()));
        try {
            byte[] bytes = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(o);
            AtomicFile.write(dir.resolve("config.json"), out -> out.write(bytes));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + dir.resolve("config.json") + ": " + e.getMessage(), e);
        }
    }
}
