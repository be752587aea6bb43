package io.sam4j.train;

import io.sam4j.conv.ConvBackends;
import io.sam4j.formats.Checkpoint;
import io.sam4j.sharpness.SharpnessProbe;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sam4j.formats.AtomicFile;
import io.sam4j.data.Augmentation;
import io.sam4j.data.BatchLoader;
import io.sam4j.data.Batcher;
import io.sam4j.formats.FormatException;
import io.sam4j.data.DataSource;
import io.sam4j.data.Dataset;
import io.sam4j.data.Normalizer;
import io.sam4j.distributed.Communicator;
import io.sam4j.distributed.SingleProcess;
import io.sam4j.kernels.FlatOps;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import io.sam4j.nn.Context;
import io.sam4j.nn.Model;
import io.sam4j.nn.Models;
import io.sam4j.nn.ParameterStore;
import io.sam4j.formats.SafeTensors;
import io.sam4j.nn.SoftmaxCrossEntropy;
import io.sam4j.formats.StateDict;
import io.sam4j.optim.LossFunction;
import io.sam4j.optim.Optimizer;
import io.sam4j.optim.StepStats;
import io.sam4j.sharpness.Sharpness;
import io.sam4j.sharpness.SharpnessReport;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The training loop: data, model, optimizer, per-epoch evaluation, metrics.jsonl, weights out.
 * Everything it allocates is allocated before the first step.
 */
public final class Trainer {
    /** What a finished run reports. */
    public record Result(double testAccuracy, double testLoss, double trainLoss, long steps, double seconds, Path outDir) {}

    private static final ObjectMapper JSON = new ObjectMapper();

    private final TrainConfig c;
    private final PrintStream out;
    private final List<StepListener> listeners = new ArrayList<>();
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

    /**
     * Continues the run in {@code config.out()} from its last checkpoint; the finished run ends with the
     * same weights as an uninterrupted one (same config, same thread count).
     */
    public Trainer resume() {
        if (c.out == null) throw new IllegalArgumentException("--resume needs the run folder");
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
        if (Files.isDirectory(runDir) && !Files.exists(f)) {
            throw new FormatException(runDir + ": no config.json, not a sam4j run folder");
        }
        TrainConfig c;
        try {
            c = JSON.copy().configure(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
                    .readValue(Files.readAllBytes(f), TrainConfig.class);
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
        } catch (IllegalArgumentException e) {
            throw new FormatException(f + ": " + e.getMessage());
        }
        c.out = runDir;
        return c;
    }

    public Result run() {
        validate(c);
        int ranks = comm.size(), rank = comm.rank();
        if (c.batch % ranks != 0) {
            throw new IllegalArgumentException("--batch " + c.batch + " does not divide among " + ranks + " ranks");
        }
        int local = c.batch / ranks;
        // Outputs and the --init file are checked before any data is loaded; nothing is written yet.
        RunFolder folder = comm.isRoot() ? RunFolder.check(c, resume, overwrite) : null;
        SafeTensors.Loaded initWeights = c.init != null ? SafeTensors.read(c.init) : null;
        PrintStream out = comm.isRoot() ? this.out : new PrintStream(java.io.OutputStream.nullOutputStream());
        long t0 = System.nanoTime();
        Parallel.setCommonThreads(c.threads);
        Context ctx = new Context(Parallel.common(), KernelsProvider.get(), ConvBackends.create(c.backend, Parallel.common(), System.err));

        DataSource.Split split = DataSource.load(c.data);
        Dataset train = trainingSet(split, c);
        Dataset test = split.test();
        Normalizer norm = Normalizer.fit(train);
        Augmentation aug = Augmentation.of(c.augment != null ? c.augment : Augmentation.defaultSpec(train), train, norm, c.seed);
        out.printf(Locale.ROOT, "data: %s%s; normalisation %s; augmentation %s%n", split.description(),
                c.labelNoise > 0 ? ", label noise " + c.labelNoise : "", norm.describe(), aug == null ? "none" : aug.spec());

        int[] inShape = {train.channels(), train.height(), train.width()};
        try (Model model = Models.create(c.model, inShape, train.numClasses(), c.labelSmoothing, ctx);
             Arena arena = Arena.ofShared()) {
            model.initialize(c.seed);
            if (initWeights != null) {
                String note = StateDict.load(model.store(), initWeights, c.init.toString(), n -> false).note(c.init.toString());
                String bad = NonFinite.firstIn(model.store(), false);
                if (bad != null) throw new IllegalArgumentException("--init " + c.init + ": " + bad + "; initial weights must be finite");
                out.println("init: loaded " + c.init + (note != null ? "\nnote: " + note : ""));
            }
            FlatOps ops = new FlatOps(ctx.kernels(), ctx.parallel());
            Optimizer opt = Optimizers.create(c, model.store(), ops);
            ParameterStore store = model.store();
            if (ranks > 1) {
                comm.broadcast(store.params(), store.paramLength(), 0);
                comm.broadcast(store.buffers(), store.bufferLength(), 0);
                float inv = 1f / ranks;
                opt.setReducer(() -> {
                    comm.allReduceSum(store.grads(), store.paramLength());
                    ops.scale(inv, store.grads(), store.paramLength());
                }, c.perturbation.equals("global"));
            }

            if (c.batch > train.size()) {
                throw new IllegalArgumentException("--batch " + c.batch + " is larger than the training set (" + train.size()
                        + " examples of " + train.name() + ")");
            }
            Batcher batcher = new Batcher(train, norm, c.batch, c.seed, c.shuffle);
            int perEpoch = batcher.batchesPerEpoch();
            long total = c.steps > 0 ? c.steps : (long) c.epochs * perEpoch;
            int epochs = (int) ((total + perEpoch - 1) / perEpoch);
            Path outDir = folder != null ? folder.dir() : c.out;
            long step = 0;
            if (resume) {
                step = resumeFrom(outDir, model.store(), opt, rank, ranks, total, perEpoch, out);
                if (step == total) return finished(outDir, model.store(), step, epochs, t0, out);
            }
            out.printf(Locale.ROOT, "model %s: %,d parameters | optimizer %s | lr %s %s | batch %d | %s (%s) | %s, %s kernels%n",
                    c.model, model.store().paramCount(), opt.describe(), c.lr, c.schedule.name().toLowerCase(Locale.ROOT),
                    c.batch, count(total, "step"), count(epochs, "epoch"), count(c.threads, "thread"), ctx.kernels().name());
            if (model.usesConvolutions()) {
                out.println("convolutions: " + ctx.convBackend().summary() + "; activations " + (model.blocked() ? "nChw8c" : "NCHW"));
            }
            if (ranks > 1) {
                out.printf(Locale.ROOT, "data parallel: %s; %d ranks x batch %d (m = %d), %s perturbations%n", comm.describe(),
                        ranks, local, local, c.perturbation);
            }
            out.println("run folder: " + outDir);
            if (folder != null) {
                folder.create();
                if (resume) keepMetricsUpTo(outDir.resolve("metrics.jsonl"), step);
                writeConfig(outDir, model, opt); // on resume too: --epochs may have extended the run
            }
            boolean started = false;
            try {

            MemorySegment x = arena.allocate(4L * c.batch * model.inputSize(), 64);
            int[] labels = new int[c.batch];
            // Every rank loads the whole global batch (same order, same augmentation) and trains on its slice.
            MemorySegment xLocal = x.asSlice(4L * rank * local * model.inputSize(), 4L * local * model.inputSize());
            int[] labelsLocal = new int[local];
            LossFunction f = mode -> model.lossAndGrad(xLocal, labelsLocal, local, mode);

            SharpnessProbe probe = c.sharpnessEvery > 0
                    ? new SharpnessProbe(model, train, norm, c.sharpnessSubset, c.batch, "eval",
                            Sharpness.Options.defaults().withRho(Double.parseDouble(Float.toString(c.rho))).withTraceTol(0).withTraceSamples(30).withMaxIter(50))
                    : null;
            ProgressLine progress = new ProgressLine(step, total);
            EpochStats es = new EpochStats();
            Evaluation last = null;
            double trainLoss = Double.NaN;
            try (BatchLoader loader = new BatchLoader(batcher, aug, step, total);
                 Writer metrics = comm.isRoot() ? Files.newBufferedWriter(outDir.resolve("metrics.jsonl"), StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, resume ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)
                         : Writer.nullWriter()) {
                long epochStart = System.nanoTime();
                while (step < total) {
                    int epoch = (int) (step / perEpoch);
                    int bi = (int) (step % perEpoch);
                    loader.next(x, labels);
                    System.arraycopy(labels, rank * local, labelsLocal, 0, local);
                    float lr = c.schedule.lr(c.lr, step, total);
                    StepStats s = opt.step(f, lr);
                    started = true;
                    if (NonFinite.in(s)) {
                        progress.clear();
                        throw diverged(step + 1, s, model.store(), outDir);
                    }
                    es.add(s);
                    step++;
                    for (StepListener l : listeners) l.onStep(step, epoch + 1, lr, s);
                    if (comm.isRoot()) progress.update(step, epoch + 1, s.loss());
                    if (bi == perEpoch - 1 || step == total) {
                        progress.clear();
                        double secs = (System.nanoTime() - epochStart) / 1e9;
                        syncBatchNormStatistics(store, ops);
                        last = evaluate(model, test, norm, x, labels);
                        trainLoss = ranks > 1 ? comm.allReduceSum(es.loss()) / ranks : es.loss();
                        out.printf(Locale.ROOT, "epoch %d/%d  train loss %.4f  test loss %.4f  test acc %.2f %%  lr %.4g  %.1f s%n",
                                epoch + 1, epochs, trainLoss, last.loss, 100 * last.accuracy, lr, secs);
                        SharpnessReport sharp = null;
                        if (probe != null && ((epoch + 1) % c.sharpnessEvery == 0 || step == total)) {
                            sharp = probe.analyse(out);
                            out.println("  sharpness: " + SharpnessProbe.summary(sharp));
                        }
                        Map<String, MemorySegment> perRank = gatherPerRankState(opt, store, arena);
                        if (comm.isRoot()) {
                            // Metrics first: a resume drops lines past its checkpoint, so a crash between the
                            // two writes loses nothing.
                            writeMetrics(metrics, epoch + 1, step, lr, es, trainLoss, last, secs, sharp);
                            if (sharp != null) {
                                Files.writeString(outDir.resolve("sharpness.jsonl"), sharp.toJsonLine() + "\n", StandardCharsets.UTF_8,
                                        StandardOpenOption.CREATE, StandardOpenOption.APPEND);
                            }
                            Checkpoint.save(outDir, model.store(), opt, step, perRank, ranks);
                        }
                        es = new EpochStats();
                        epochStart = System.nanoTime();
                    }
                    if (stop != null && stop.requested() != null && step < total) {
                        progress.clear();
                        throw stopAt(step, outDir, model.store(), opt, ranks);
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + outDir.resolve("metrics.jsonl") + ": " + e.getMessage(), e);
            }
            if (probe != null) probe.close();
            if (c.save != null && comm.isRoot()) {
                StateDict.save(model.store(), c.save);
                out.println("saved weights to " + c.save);
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            out.printf(Locale.ROOT, "test accuracy %.2f %% (test loss %.4f) after %s in %.1f s%n",
                    100 * last.accuracy, last.loss, count(step, "step"), seconds);
            return new Result(last.accuracy, last.loss, trainLoss, step, seconds, outDir);
            } catch (RuntimeException e) {
                if (!started && folder != null) folder.discardIfUnused();
                // After the first step a failure is one of the run (exit 1), whatever its type.
                if (!started || e instanceof Stopped || e instanceof TrainingFailure) throw e;
                throw new TrainingFailure(e.getMessage() != null ? e.getMessage() : e.toString(), e);
            }
        }
    }

    /** Mean loss and accuracy over the test split. */
    record Evaluation(double loss, double accuracy) {}

    /**
     * Loads the run's checkpoint (a run killed before its first checkpoint starts again from step 0) and
     * checks it against the resumed settings: the same rank count, and a total not below the step reached.
     */
    private long resumeFrom(Path dir, ParameterStore store, Optimizer opt, int rank, int ranks, long total, int perEpoch,
                            PrintStream out) {
        if (!Files.exists(Checkpoint.path(dir))) {
            out.println("resume: " + dir + " has no checkpoint yet (stopped before its first epoch ended); starting from step 0");
            return 0;
        }
        long step = Checkpoint.load(dir, store, opt, rank);
        int saved = Checkpoint.ranks(dir);
        if (saved != ranks) {
            throw new IllegalArgumentException("--resume " + dir + ": the run was trained on " + count(saved, "rank") + ", this is "
                    + count(ranks, "process") + "; resume it under mpirun -np " + saved);
        }
        if (step > total) {
            long reached = (step + perEpoch - 1) / perEpoch;
            throw new IllegalArgumentException("--resume " + dir + ": the run is already at step " + step + " (epoch " + reached
                    + "), beyond the " + count(total, "step") + " asked for; a run can be extended, not shortened");
        }
        out.printf(Locale.ROOT, "resumed from %s at step %d of %d%n", Checkpoint.path(dir), step, total);
        return step;
    }

    /** Resuming a run that has reached its total: say so, make sure its --save file exists, and return its last metrics. */
    private Result finished(Path dir, ParameterStore store, long step, int epochs, long t0, PrintStream out) {
        if (c.save != null && comm.isRoot() && !Files.exists(c.save)) {
            StateDict.save(store, c.save);
            out.println("saved weights to " + c.save);
        }
        double acc = Double.NaN, loss = Double.NaN, trainLoss = Double.NaN;
        try {
            Path metrics = dir.resolve("metrics.jsonl");
            List<String> lines = Files.exists(metrics) ? Files.readAllLines(metrics) : List.of();
            if (!lines.isEmpty()) {
                var m = JSON.readTree(lines.getLast());
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

    /** The error for a step whose loss or gradient is not finite, naming the first tensor that holds it. */
    private TrainingFailure diverged(long step, StepStats s, ParameterStore store, Path dir) {
        String where = NonFinite.firstIn(store, true);
        String checkpoint = Files.exists(Checkpoint.path(dir)) ? "the last good checkpoint is " + Checkpoint.path(dir)
                + " (--resume " + dir + ")" : "no checkpoint was written yet";
        boolean plain = c.optimizer.equals("sgd") || c.optimizer.equals("adamw");
        return new TrainingFailure(String.format(Locale.ROOT, "training diverged at step %d: loss %s, gradient norm %s%s; %s; "
                        + "try a lower --lr (now %s)%s, or --grad-clip 1", step, s.loss(), s.gradNorm(),
                where != null ? "; " + where : "", checkpoint, c.lr, plain ? "" : " or --rho (now " + c.rho + ")"), null);
    }

    /** A signal arrived: checkpoint the current step and end with the exact resume command. */
    private Stopped stopAt(long step, Path dir, ParameterStore store, Optimizer opt, int ranks) {
        String signal = stop.requested();
        if (comm.isRoot()) Checkpoint.save(dir, store, opt, step, Map.of(), ranks);
        return new Stopped(String.format(Locale.ROOT, "stopped by SIG%s at step %d, checkpoint written; resume with: "
                + "./sam4j train --resume %s", signal, step, dir), StopSignal.exitCode(signal));
    }

    /** "1 epoch", "6 epochs". */
    static String count(long n, String noun) {
        return n + " " + noun + (n == 1 ? "" : "s");
    }

    /** The training split as the run trains on it: with its seeded label noise, if any. */
    public static Dataset trainingSet(DataSource.Split split, TrainConfig c) {
        Dataset train = split.train();
        if (c.labelNoise <= 0) return train;
        return train.withLabels(Batcher.withLabelNoise(train.labels(), train.numClasses(), c.labelNoise, c.seed),
                train.name() + "+noise" + c.labelNoise);
    }

    /** Drops metrics lines written after the checkpoint we resume from (a crash between the two). */
    private static void keepMetricsUpTo(Path metrics, long step) {
        if (!Files.exists(metrics)) return;
        try {
            List<String> keep = new ArrayList<>();
            for (String line : Files.readAllLines(metrics)) {
                if (!line.isBlank() && JSON.readTree(line).path("step").asLong(Long.MAX_VALUE) <= step) keep.add(line);
            }
            byte[] bytes = (keep.isEmpty() ? "" : String.join("\n", keep) + "\n").getBytes(StandardCharsets.UTF_8);
            AtomicFile.write(metrics, o -> o.write(bytes));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot rewrite " + metrics + ": " + e.getMessage(), e);
        }
    }

    private MemorySegment gathered;

    /**
     * F-SAM's EMA follows each rank's own gradient under local perturbations, so every rank's copy goes into
     * the checkpoint: gathered with one all-reduce of a zeroed [ranks x params] buffer (at epoch ends only).
     */
    private Map<String, MemorySegment> gatherPerRankState(Optimizer opt, ParameterStore store, Arena arena) {
        MemorySegment ema = opt.stateBuffers().get("fsam_ema");
        if (comm.size() == 1 || ema == null || !c.perturbation.equals("local")) return Map.of();
        long n = store.paramLength();
        if (gathered == null) gathered = arena.allocate(4L * n * comm.size(), 64);
        gathered.fill((byte) 0);
        MemorySegment.copy(ema, 0, gathered, 4L * n * comm.rank(), 4L * n);
        comm.allReduceSum(gathered, n * comm.size());
        return Map.of("fsam_ema", gathered);
    }

    /** BatchNorm running statistics stay per rank in training; ranks agree on their mean before evaluating or saving. */
    private void syncBatchNormStatistics(ParameterStore store, FlatOps ops) {
        if (comm.size() == 1 || store.bufferTensors().isEmpty()) return;
        comm.allReduceSum(store.buffers(), store.bufferLength());
        ops.scale(1f / comm.size(), store.buffers(), store.bufferLength());
    }

    /**
     * Accuracy and mean loss over the whole test split, in order, in batches of the training size; with
     * several ranks each evaluates a contiguous share and the sums are all-reduced.
     */
    private Evaluation evaluate(Model model, Dataset test, Normalizer norm, MemorySegment x, int[] labels) {
        // Chunks of at most the training batch: any batch size works with any test-set size.
        Batcher seq = new Batcher(test, norm, Math.min(labels.length, test.size()), 0, false);
        double loss = 0;
        long correct = 0;
        int share = (test.size() + comm.size() - 1) / comm.size();
        int begin = Math.min(test.size(), comm.rank() * share), end = Math.min(test.size(), begin + share);
        for (int from = begin; from < end; from += labels.length) {
            int cnt = Math.min(labels.length, end - from);
            seq.fillSequential(from, cnt, x, labels);
            SoftmaxCrossEntropy.Eval e = model.evaluate(x, labels, cnt);
            loss += e.lossSum();
            correct += e.correct();
        }
        if (comm.size() > 1) {
            double[] sums = {loss, correct};
            comm.allReduceSum(sums);
            loss = sums[0];
            correct = Math.round(sums[1]);
        }
        return new Evaluation(loss / test.size(), (double) correct / test.size());
    }

    private void writeConfig(Path dir, Model model, Optimizer opt) {
        ObjectNode o = JSON.valueToTree(c);
        o.put("parameters", model.store().paramCount());
        o.put("optimizer_description", opt.describe());
        try {
            byte[] bytes = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(o);
            AtomicFile.write(dir.resolve("config.json"), out -> out.write(bytes));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + dir.resolve("config.json") + ": " + e.getMessage(), e);
        }
    }

    private static void writeMetrics(Writer w, int epoch, long step, float lr, EpochStats es, double trainLoss, Evaluation ev,
                                     double secs, SharpnessReport sharp) throws IOException {
        ObjectNode o = JSON.createObjectNode();
        o.put("epoch", epoch);
        o.put("step", step);
        o.put("lr", lr);
        o.put("train_loss", trainLoss);
        o.put("test_loss", ev.loss);
        o.put("test_acc", ev.accuracy);
        o.put("epoch_seconds", secs);
        putFinite(o, "loss_adv", es.lossAdv());
        putFinite(o, "sam_gap", es.samGap());
        putFinite(o, "grad_norm", es.gradNorm());
        putFinite(o, "adv_grad_norm", es.advGradNorm());
        putFinite(o, "cos_e_gadv", es.cosine());
        putFinite(o, "perturb_norm", es.perturbNorm());
        putFinite(o, "curvature", es.curvature());
        if (sharp != null) {
            o.put("lambda_max", sharp.lambdaMax());
            if (sharp.trace() != null) {
                o.put("hessian_trace", sharp.trace());
                o.put("hessian_trace_se", sharp.traceStdError());
            }
            if (sharp.alignment() != null) o.put("alignment", sharp.alignment());
            if (sharp.ascentSharpness() != null) o.put("ascent_sharpness", sharp.ascentSharpness());
        }
        w.write(JSON.writeValueAsString(o));
        w.write('\n');
        w.flush();
    }

    private static void putFinite(ObjectNode o, String k, double v) {
        if (Double.isFinite(v)) o.put(k, v);
    }

    /** One-line errors naming the flag. */
    static void validate(TrainConfig c) {
        ConfigCheck.check(c);
        if (c.init != null && !Files.isRegularFile(c.init)) {
            throw new IllegalArgumentException("--init " + c.init + ": " + (Files.exists(c.init) ? "not a regular file" : "no such file"));
        }
    }
}
