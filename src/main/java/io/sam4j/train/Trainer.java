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
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
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

    /** The configuration a run folder was started with (its config.json). */
    public static TrainConfig readConfig(Path runDir) {
        Path f = runDir.resolve("config.json");
        if (!Files.isRegularFile(f)) throw new IllegalArgumentException("--resume: " + runDir + " has no config.json");
        try {
            TrainConfig c = JSON.copy().configure(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
                    .readValue(f.toFile(), TrainConfig.class);
            c.out = runDir;
            return c;
        } catch (IOException e) {
            throw new IllegalArgumentException("--resume: cannot read " + f + ": " + e.getMessage());
        }
    }

    public Result run() {
        validate(c);
        int ranks = comm.size(), rank = comm.rank();
        if (c.batch % ranks != 0) {
            throw new IllegalArgumentException("--batch " + c.batch + " does not divide among " + ranks + " ranks");
        }
        int local = c.batch / ranks;
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
            if (c.init != null) {
                StateDict.load(model.store(), c.init);
                out.println("init: loaded " + c.init);
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

            Batcher batcher = new Batcher(train, norm, c.batch, c.seed, c.shuffle);
            int perEpoch = batcher.batchesPerEpoch();
            if (perEpoch == 0) {
                throw new IllegalArgumentException("--batch " + c.batch + " is larger than the training set (" + train.size() + ")");
            }
            long total = c.steps > 0 ? c.steps : (long) c.epochs * perEpoch;
            int epochs = (int) ((total + perEpoch - 1) / perEpoch);
            Path outDir = comm.isRoot() ? outDir() : c.out;
            long step = 0;
            if (resume) {
                step = Checkpoint.load(outDir, model.store(), opt, rank);
                if (comm.isRoot()) keepMetricsUpTo(outDir.resolve("metrics.jsonl"), step);
                out.printf(Locale.ROOT, "resumed from %s at step %d%n", Checkpoint.path(outDir), step);
            }
            out.printf(Locale.ROOT, "model %s: %,d parameters | optimizer %s | lr %s %s | batch %d | %d steps (%d epochs) | "
                            + "%d threads, %s kernels%n", c.model, model.store().paramCount(), opt.describe(), c.lr,
                    c.schedule.name().toLowerCase(Locale.ROOT), c.batch, total, epochs, c.threads, ctx.kernels().name());
            if (model.usesConvolutions()) {
                out.println("convolutions: " + ctx.convBackend().summary() + "; activations " + ctx.layoutName());
            }
            if (ranks > 1) {
                out.printf(Locale.ROOT, "data parallel: %s; %d ranks x batch %d (m = %d), %s perturbations%n", comm.describe(),
                        ranks, local, local, c.perturbation);
            }
            out.println("run folder: " + outDir);
            if (!resume && comm.isRoot()) writeConfig(outDir, model, opt);

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
                    if (!Double.isFinite(s.loss())) {
                        progress.clear();
                        throw new IllegalStateException(String.format(Locale.ROOT,
                                "training diverged at step %d (loss %s); lower --lr or --rho", step + 1, s.loss()));
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
                            Checkpoint.save(outDir, model.store(), opt, step, perRank, ranks);
                            writeMetrics(metrics, epoch + 1, step, lr, es, trainLoss, last, secs, sharp);
                            if (sharp != null) {
                                Files.writeString(outDir.resolve("sharpness.jsonl"), sharp.toJsonLine() + "\n", StandardCharsets.UTF_8,
                                        StandardOpenOption.CREATE, StandardOpenOption.APPEND);
                            }
                        }
                        es = new EpochStats();
                        epochStart = System.nanoTime();
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
            if (last == null) { // resumed a finished run
                syncBatchNormStatistics(store, ops);
                last = evaluate(model, test, norm, x, labels);
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            out.printf(Locale.ROOT, "test accuracy %.2f %% (test loss %.4f) after %d steps in %.1f s%n",
                    100 * last.accuracy, last.loss, step, seconds);
            return new Result(last.accuracy, last.loss, trainLoss, step, seconds, outDir);
        }
    }

    /** Mean loss and accuracy over the test split. */
    record Evaluation(double loss, double accuracy) {}

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
        Batcher seq = new Batcher(test, norm, labels.length, 0, false);
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
        if (c.epochs < 1 && c.steps <= 0) throw new IllegalArgumentException("--epochs must be >= 1, got " + c.epochs);
        if (c.steps < 0) throw new IllegalArgumentException("--steps must be >= 0, got " + c.steps);
        if (c.batch < 1) throw new IllegalArgumentException("--batch must be >= 1, got " + c.batch);
        if (!(c.lr > 0) || Float.isInfinite(c.lr)) throw new IllegalArgumentException("--lr must be > 0, got " + c.lr);
        if (c.threads < 1) throw new IllegalArgumentException("--threads must be >= 1, got " + c.threads);
        if (!(c.labelNoise >= 0 && c.labelNoise < 1)) {
            throw new IllegalArgumentException("--label-noise must be in [0, 1), got " + c.labelNoise);
        }
        if (!(c.labelSmoothing >= 0 && c.labelSmoothing < 1)) {
            throw new IllegalArgumentException("--label-smoothing must be in [0, 1), got " + c.labelSmoothing);
        }
        if (!c.perturbation.equals("local") && !c.perturbation.equals("global")) {
            throw new IllegalArgumentException("--perturbation: unknown '" + c.perturbation + "' (known: local, global)");
        }
        if (c.init != null && !Files.isRegularFile(c.init)) {
            throw new IllegalArgumentException("--init: no such file " + c.init);
        }
    }
}
