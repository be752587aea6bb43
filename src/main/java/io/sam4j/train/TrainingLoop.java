package io.sam4j.train;

import static io.sam4j.train.Trainer.json;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sam4j.data.BatchLoader;
import io.sam4j.data.Batcher;
import io.sam4j.data.Dataset;
import io.sam4j.distributed.Communicator;
import io.sam4j.formats.AtomicFile;
import io.sam4j.formats.Checkpoint;
import io.sam4j.formats.StateDict;
import io.sam4j.kernels.FlatOps;
import io.sam4j.nn.Model;
import io.sam4j.nn.ParameterStore;
import io.sam4j.nn.SoftmaxCrossEntropy;
import io.sam4j.optim.StepStats;
import io.sam4j.sharpness.Sharpness;
import io.sam4j.sharpness.SharpnessProbe;
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
 * The steps of one {@link Trainer} run: batches in, optimizer steps, and at each epoch's end the
 * evaluation, the sharpness diagnostics, the checkpoint and the metrics.jsonl line. Every rank loads the
 * whole global batch (same order, same augmentation) and trains on its slice; only rank 0 writes files.
 * Owns the arena of the batch buffers.
 */
final class TrainingLoop implements AutoCloseable {
    /** Mean loss and accuracy over the test split. */
    record Evaluation(double loss, double accuracy) {}

    private final TrainConfig c;
    private final Communicator comm;
    private final PrintStream out;
    private final RunSetup run;
    private final Trainer.Data data;
    private final Batcher batcher;
    private final long total;
    private final int perEpoch, epochs;
    private final Path outDir;
    private final boolean resume;
    private final List<StepListener> listeners;
    private final List<RunListener> hooks;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment x;
    private final int[] labels, labelsLocal;
    private final BatchStep batchStep;
    private final Map<String, MemorySegment> gathered = new java.util.LinkedHashMap<>();
    private StopSignal stop;
    private boolean started;

    TrainingLoop(TrainConfig c, Communicator comm, PrintStream out, RunSetup run, Trainer.Data data, Batcher batcher,
                 long total, Path outDir, boolean resume, List<StepListener> listeners, List<RunListener> hooks) {
        this.c = c;
        this.comm = comm;
        this.out = out;
        this.run = run;
        this.data = data;
        this.batcher = batcher;
        this.total = total;
        this.perEpoch = batcher.batchesPerEpoch();
        this.epochs = (int) ((total + perEpoch - 1) / perEpoch);
        this.outDir = outDir;
        this.resume = resume;
        this.listeners = listeners;
        this.hooks = hooks;
        long inputSize = run.model().inputSize();
        int local = c.batch / comm.size();
        this.x = arena.allocate(4L * c.batch * inputSize, 64);
        this.labels = new int[c.batch];
        this.labelsLocal = new int[local];
        MemorySegment xLocal = x.asSlice(4L * comm.rank() * local * inputSize, 4L * local * inputSize);
        this.batchStep = BatchStep.of(c, run, xLocal, labelsLocal, local);
    }

    /** Stop cleanly (checkpoint, {@link Trainer.Stopped}) when {@code stop} reports a signal; null: never. */
    TrainingLoop stopOn(StopSignal stop) {
        this.stop = stop;
        return this;
    }

    /**
     * Trains from {@code step} to the end; {@code t0} is when the run started (for the summary line). A failure
     * after the first step is a {@link Trainer.TrainingFailure} (exit status 1), whatever its type.
     */
    Trainer.Result run(long step, long t0) {
        try {
            return train(step, t0);
        } catch (RuntimeException e) {
            if (!started || e instanceof Trainer.Stopped || e instanceof Trainer.TrainingFailure) throw e;
            throw new Trainer.TrainingFailure(e.getMessage() != null ? e.getMessage() : e.toString(), e);
        }
    }

    private Trainer.Result train(long step, long t0) {
        Epoch e = new Epoch(step);
        try (SharpnessProbe probe = sharpnessProbe();
             BatchLoader loader = new BatchLoader(batcher, data.aug(), step, total);
             Writer metrics = metricsWriter()) {
            ProgressLine progress = new ProgressLine(step, total);
            while (e.step < total) {
                loader.next(x, labels);
                System.arraycopy(labels, comm.rank() * labelsLocal.length, labelsLocal, 0, labelsLocal.length);
                step(e, progress);
                if (e.step == total || e.step % perEpoch == 0 && epochOf(e.step) % c.evalEvery == 0) {
                    progress.clear();
                    endEpoch(e, probe, metrics);
                }
                if (stop != null && stop.requested() != null && e.step < total) {
                    progress.clear();
                    throw stopAt(e.step);
                }
            }
        } catch (IOException ex) {
            throw new UncheckedIOException("cannot write " + outDir.resolve("metrics.jsonl") + ": " + ex.getMessage(), ex);
        }
        return finish(e, t0);
    }

    /** What one epoch accumulates between its ends. */
    private static final class Epoch {
        long step;
        float lr;
        EpochStats stats = new EpochStats();
        long startNanos = System.nanoTime();
        Evaluation last, val;
        double trainLoss = Double.NaN;

        Epoch(long step) {
            this.step = step;
        }
    }

    private int epochOf(long step) {
        return (int) (step / perEpoch);
    }

    private void step(Epoch e, ProgressLine progress) {
        int epoch = epochOf(e.step);
        e.lr = c.schedule.lr(c.lr, e.step, total);
        StepStats s = batchStep.step(e.lr);
        started = true;
        if (NonFinite.in(s)) {
            progress.clear();
            throw diverged(e.step + 1, s);
        }
        e.stats.add(s);
        e.step++;
        for (StepListener l : listeners) l.onStep(e.step, epoch + 1, e.lr, s);
        if (comm.isRoot()) progress.update(e.step, epoch + 1, s.loss());
    }

    private void endEpoch(Epoch e, SharpnessProbe probe, Writer metrics) throws IOException {
        int epoch = epochOf(e.step - 1) + 1;
        double secs = (System.nanoTime() - e.startNanos) / 1e9;
        syncBatchNormStatistics();
        e.last = evaluate(data.test());
        e.val = data.val() == null ? null : evaluate(data.val());
        e.trainLoss = comm.size() > 1 ? comm.allReduceSum(e.stats.loss()) / comm.size() : e.stats.loss();
        out.printf(Locale.ROOT, "epoch %d/%d  train loss %.4f  test loss %.4f  test acc %.2f %%  lr %.4g  %.1f s%n",
                epoch, epochs, e.trainLoss, e.last.loss, 100 * e.last.accuracy, e.lr, secs);
        if (e.val != null) out.printf(Locale.ROOT, "  validation loss %.4f  validation acc %.2f %%%n", e.val.loss, 100 * e.val.accuracy);
        SharpnessReport sharp = null;
        if (probe != null && (epoch % c.sharpnessEvery == 0 || e.step == total)) {
            sharp = probe.analyse(out);
            out.println("  sharpness: " + SharpnessProbe.summary(sharp));
        }
        Map<String, MemorySegment> perRank = gatherPerRankState();
        if (comm.isRoot()) {
            // Metrics first: a resume drops lines past its checkpoint, so a crash between the two writes loses nothing.
            writeMetrics(metrics, epoch, e, secs, sharp);
            if (sharp != null) {
                Files.writeString(outDir.resolve("sharpness.jsonl"), sharpnessLine(epoch, e.step, sharp) + "\n", StandardCharsets.UTF_8,
                        StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            }
            Checkpoint.save(outDir, run.store(), run.optimizer(), e.step, perRank, comm.size());
            var end = new RunListener.EpochEnd(outDir, epoch, e.step, e.last.accuracy, e.val == null ? Double.NaN : e.val.accuracy);
            for (RunListener l : hooks) l.epochEnded(end);
        }
        e.stats = new EpochStats();
        e.startNanos = System.nanoTime();
    }

    private Trainer.Result finish(Epoch e, long t0) {
        if (c.save != null && comm.isRoot()) {
            StateDict.save(run.store(), c.save);
            out.println("saved weights to " + c.save);
        }
        if (comm.isRoot()) StateDict.save(run.store(), outDir.resolve(Trainer.FINAL_WEIGHTS)); // the final weights, always
        double seconds = (System.nanoTime() - t0) / 1e9;
        out.printf(Locale.ROOT, "test accuracy %.2f %% (test loss %.4f) after %s in %.1f s%n",
                100 * e.last.accuracy, e.last.loss, Trainer.count(e.step, "step"), seconds);
        Trainer.Result result = new Trainer.Result(e.last.accuracy, e.last.loss, e.trainLoss, e.step, seconds, outDir);
        if (comm.isRoot()) {
            for (RunListener l : hooks) l.finished(result);
        }
        return result;
    }

    /** The error for a step whose loss or gradient is not finite, naming the first tensor that holds it. */
    private Trainer.TrainingFailure diverged(long step, StepStats s) {
        String where = NonFinite.firstIn(run.store(), true);
        String checkpoint = Files.exists(Checkpoint.path(outDir)) ? "the last good checkpoint is " + Checkpoint.path(outDir)
                + " (--resume " + outDir + ")" : "no checkpoint was written yet";
        boolean plain = c.optimizer.equals("sgd") || c.optimizer.equals("adamw");
        String message = String.format(Locale.ROOT, "training diverged at step %d: loss %s, gradient norm %s%s; "
                        + "%s; try a lower --lr (now %s)%s, or --grad-clip 1", step, s.loss(), s.gradNorm(),
                where != null ? "; " + where : "", checkpoint, c.lr, plain ? "" : " or --rho (now " + c.rho + ")");
        if (comm.isRoot()) recordDivergence(step, message);
        return new Trainer.TrainingFailure(message, null);
    }

    /** The run folder says that (and where) it diverged, so that a comparison can tell it from a killed run. */
    private void recordDivergence(long step, String message) {
        ObjectNode o = json().createObjectNode();
        o.put("step", step);
        o.put("epoch", epochOf(step - 1) + 1);
        o.put("message", message);
        try {
            byte[] bytes = json().writeValueAsBytes(o);
            AtomicFile.write(outDir.resolve(Trainer.DIVERGED), o2 -> o2.write(bytes));
        } catch (IOException | RuntimeException e) {
            // best effort: the divergence itself is the error to report
        }
    }

    /** A signal arrived: checkpoint the current step and end with the exact resume command. */
    private Trainer.Stopped stopAt(long step) {
        String signal = stop.requested();
        if (comm.isRoot()) Checkpoint.save(outDir, run.store(), run.optimizer(), step, Map.of(), comm.size());
        return new Trainer.Stopped(String.format(Locale.ROOT, "stopped by SIG%s at step %d, checkpoint written; resume with: "
                + "./sam4j train --resume %s", signal, step, outDir), StopSignal.exitCode(signal));
    }

    /** Null when the run takes no sharpness diagnostics. */
    private SharpnessProbe sharpnessProbe() {
        if (c.sharpnessEvery <= 0) return null;
        Sharpness.Options o = Sharpness.Options.defaults().withRho(Double.parseDouble(Float.toString(c.rho))).withTraceTol(0)
                .withTraceSamples(30).withMaxIter(50);
        // BatchNorm runs in eval mode, so the probe's batch changes only the speed: at least 128 examples, or a
        // batch-1 run would make every Hessian-vector product thousands of one-example passes.
        int probeBatch = Math.max(c.batch, 128);
        return new SharpnessProbe(run.model(), data.train(), data.norm(), c.sharpnessSubset, probeBatch, "eval", o);
    }

    private Writer metricsWriter() throws IOException {
        if (!comm.isRoot()) return Writer.nullWriter();
        return Files.newBufferedWriter(outDir.resolve("metrics.jsonl"), StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                resume ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING);
    }

    /** Drops metrics lines written after the checkpoint we resume from (a crash between the two). */
    /** Drops the lines of a JSON-lines log measured after {@code step} (lines without a step are kept). */
    static void keepMetricsUpTo(Path metrics, long step) {
        if (!Files.exists(metrics)) return;
        try {
            List<String> keep = new ArrayList<>();
            for (String line : Files.readAllLines(metrics)) {
                if (!line.isBlank() && json().readTree(line).path("step").asLong(0) <= step) keep.add(line);
            }
            byte[] bytes = (keep.isEmpty() ? "" : String.join("\n", keep) + "\n").getBytes(StandardCharsets.UTF_8);
            AtomicFile.write(metrics, o -> o.write(bytes));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot rewrite " + metrics + ": " + e.getMessage(), e);
        }
    }

    /**
     * Per-worker optimizer state (F-SAM's EMA, LookSAM's component) follows each rank's own gradient under
     * local perturbations, so every rank's copy goes into the checkpoint: gathered with one all-reduce of a
     * zeroed [ranks x params] buffer per state buffer (at epoch ends only).
     */
    private Map<String, MemorySegment> gatherPerRankState() {
        Map<String, MemorySegment> state = run.optimizer().perWorkerState();
        if (comm.size() == 1 || state.isEmpty() || !c.perturbation.equals("local")) return Map.of();
        long n = run.store().paramLength();
        for (Map.Entry<String, MemorySegment> b : state.entrySet()) {
            MemorySegment all = gathered.computeIfAbsent(b.getKey(), k -> arena.allocate(4L * n * comm.size(), 64));
            all.fill((byte) 0);
            MemorySegment.copy(b.getValue(), 0, all, 4L * n * comm.rank(), 4L * n);
            comm.allReduceSum(all, n * comm.size());
        }
        return gathered;
    }

    /** BatchNorm running statistics stay per rank in training; ranks agree on their mean before evaluating or saving. */
    private void syncBatchNormStatistics() {
        ParameterStore store = run.store();
        FlatOps ops = run.ops();
        if (comm.size() == 1 || store.bufferTensors().isEmpty()) return;
        comm.allReduceSum(store.buffers(), store.bufferLength());
        ops.scale(1f / comm.size(), store.buffers(), store.bufferLength());
    }

    /**
     * Accuracy and mean loss over a whole split (test or validation), in order, in batches of the training
     * size; with several ranks each evaluates a contiguous share and the sums are all-reduced.
     */
    private Evaluation evaluate(Dataset test) {
        Model model = run.model();
        // Chunks of at most the training batch: any batch size works with any test-set size.
        Batcher seq = new Batcher(test, data.norm(), Math.min(labels.length, test.size()), 0, false);
        double lossSum = 0;
        long correct = 0;
        int share = (test.size() + comm.size() - 1) / comm.size();
        int begin = Math.min(test.size(), comm.rank() * share), end = Math.min(test.size(), begin + share);
        for (int from = begin; from < end; from += labels.length) {
            int cnt = Math.min(labels.length, end - from);
            seq.fillSequential(from, cnt, x, labels);
            SoftmaxCrossEntropy.Eval e = model.evaluate(x, labels, cnt);
            lossSum += e.lossSum();
            correct += e.correct();
        }
        if (comm.size() > 1) {
            double[] sums = {lossSum, correct};
            comm.allReduceSum(sums);
            lossSum = sums[0];
            correct = Math.round(sums[1]);
        }
        return new Evaluation(lossSum / test.size(), (double) correct / test.size());
    }

    /** The report as one JSON line that starts with the epoch and step it was measured at. */
    private static String sharpnessLine(int epoch, long step, SharpnessReport sharp) throws IOException {
        ObjectNode o = json().createObjectNode();
        o.put("epoch", epoch);
        o.put("step", step);
        o.setAll((ObjectNode) json().readTree(sharp.toJsonLine()));
        return json().writeValueAsString(o);
    }

    private void writeMetrics(Writer w, int epoch, Epoch e, double secs, SharpnessReport sharp) throws IOException {
        EpochStats es = e.stats;
        ObjectNode o = json().createObjectNode();
        o.put("epoch", epoch);
        o.put("step", e.step);
        o.put("lr", e.lr);
        o.put("train_loss", e.trainLoss);
        o.put("test_loss", e.last.loss);
        o.put("test_acc", e.last.accuracy);
        if (e.val != null) {
            o.put("val_loss", e.val.loss);
            o.put("val_acc", e.val.accuracy);
        }
        o.put("epoch_seconds", secs);
        putFinite(o, "loss_adv", es.lossAdv());
        putFinite(o, "sam_gap", es.samGap());
        putFinite(o, "grad_norm", es.gradNorm());
        putFinite(o, "adv_grad_norm", es.advGradNorm());
        putFinite(o, "cos_e_gadv", es.cosine());
        putFinite(o, "perturb_norm", es.perturbNorm());
        putFinite(o, "curvature", es.curvature());
        if (run.optimizer().perturbs()) {
            putFinite(o, "sam_fraction", es.samFraction());
            putFinite(o, "grad_scale", es.gradScale());
            putFinite(o, "grad_evals", es.gradEvaluations());
        }
        if (sharp != null) {
            o.put("sharpness_loss", sharp.loss()); // the loss on the diagnostics' fixed subset, at w
            o.put("lambda_max", sharp.lambdaMax());
            o.put("hessian", sharp.hvp()); // "exact" (R-operator) unless the probe was set to finite differences
            if (sharp.trace() != null) {
                o.put("hessian_trace", sharp.trace());
                o.put("hessian_trace_se", sharp.traceStdError());
            }
            if (sharp.alignment() != null) o.put("alignment", sharp.alignment());
            if (sharp.ascentSharpness() != null) o.put("ascent_sharpness", sharp.ascentSharpness());
        }
        w.write(json().writeValueAsString(o));
        w.write('\n');
        w.flush();
    }

    private static void putFinite(ObjectNode o, String k, double v) {
        if (Double.isFinite(v)) o.put(k, v);
    }

    @Override
    public void close() {
        arena.close();
    }
}
