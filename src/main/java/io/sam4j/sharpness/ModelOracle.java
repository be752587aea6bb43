package io.sam4j.sharpness;

import io.sam4j.data.Batcher;
import io.sam4j.kernels.FlatOps;
import io.sam4j.nn.Mode;
import io.sam4j.nn.Model;
import io.sam4j.nn.ParameterStore;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A {@link GradientOracle} over a model and a FIXED list of batches: the loss and gradient of the mean
 * over all their examples, i.e. the batch-size-weighted mean of the per-batch mean losses and
 * gradients (PyHessian's full-data Hessian, averaged over batches by size).
 *
 * <p>BatchNorm: {@link Mode#EVAL} (the default) normalises with the running statistics, which makes the
 * loss a deterministic function of the weights independent of how the examples are batched, as
 * PyHessian's {@code model.eval()}. {@link Mode#TRAIN_FROZEN_STATS} normalises each batch with its own
 * statistics ("batch statistics", the landscape training sees; it depends on the batching) without
 * touching the running statistics. {@link Mode#TRAIN} is refused: it would update them on every call.
 *
 * <p>With one batch the model writes the gradient straight into the store; with several, each batch's
 * gradient is added with weight {@code n_b / N} into a scratch buffer of the store's layout (allocated
 * on the first call, then reused: no allocation per call afterwards) and copied back. The loss is
 * summed in double.
 */
public final class ModelOracle implements GradientOracle, AutoCloseable {
    /** One fixed batch: {@code n} examples in {@code x} (NCHW floats) with their labels. */
    public record Batch(MemorySegment x, int[] labels, int n) {
        public Batch {
            Objects.requireNonNull(x);
            Objects.requireNonNull(labels);
            if (n < 1 || n > labels.length) throw new IllegalArgumentException("batch of " + n + " with " + labels.length + " labels");
        }
    }

    private final Model model;
    private final List<Batch> batches;
    private final Mode mode;
    private final FlatOps ops;
    private final int examples;
    private final Arena arena = Arena.ofShared();
    private MemorySegment acc;

    /** Evaluation mode: BatchNorm with its running statistics. */
    public ModelOracle(Model model, List<Batch> batches) {
        this(model, batches, Mode.EVAL);
    }

    public ModelOracle(Model model, List<Batch> batches, Mode mode) {
        this.model = Objects.requireNonNull(model);
        this.batches = List.copyOf(batches);
        this.mode = Objects.requireNonNull(mode);
        if (mode == Mode.TRAIN) {
            throw new IllegalArgumentException("Mode.TRAIN updates BatchNorm running statistics; use EVAL or TRAIN_FROZEN_STATS");
        }
        if (this.batches.isEmpty()) throw new IllegalArgumentException("no batches");
        long total = 0;
        long need = model.inputSize();
        for (Batch b : this.batches) {
            if (b.x().byteSize() < 4L * b.n() * need) {
                throw new IllegalArgumentException("batch buffer of " + b.x().byteSize() + " bytes is too small for "
                        + b.n() + " examples of " + need + " floats");
            }
            total += b.n();
        }
        this.examples = Math.toIntExact(total);
        this.ops = new FlatOps(model.context().kernels(), model.context().parallel());
    }

    /**
     * Examples {@code [from, from + count)} of {@code batcher}'s data set in file order (no shuffling,
     * normalised by its normaliser), cut into batches of at most {@code batchSize} with
     * {@link Batcher#fillSequential}, in buffers from {@code arena} (which must outlive the oracle).
     */
    public static List<Batch> sequential(Batcher batcher, int from, int count, int batchSize, Arena arena) {
        if (count < 1) throw new IllegalArgumentException("subset must have at least 1 example, got " + count);
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        List<Batch> out = new ArrayList<>();
        for (int start = 0; start < count; start += batchSize) {
            int cnt = Math.min(batchSize, count - start);
            MemorySegment x = arena.allocate(4L * cnt * batcher.imageSize(), 64);
            int[] labels = new int[cnt];
            batcher.fillSequential(from + start, cnt, x, labels);
            out.add(new Batch(x, labels, cnt));
        }
        return out;
    }

    @Override
    public double lossAndGrad() {
        if (batches.size() == 1) {
            Batch b = batches.get(0);
            return model.lossAndGrad(b.x(), b.labels(), b.n(), mode);
        }
        ParameterStore store = model.store();
        long n = store.paramLength();
        if (acc == null) acc = arena.allocate(4L * n, 64);
        double loss = 0;
        boolean first = true;
        for (Batch b : batches) {
            double l = model.lossAndGrad(b.x(), b.labels(), b.n(), mode);
            float w = (float) ((double) b.n() / examples);
            if (first) {
                ops.copy(store.grads(), acc, n);
                ops.scale(w, acc, n);
                first = false;
            } else {
                ops.axpy(w, store.grads(), acc, n);
            }
            loss += l * b.n();
        }
        ops.copy(acc, store.grads(), n);
        return loss / examples;
    }

    /** Forward passes only; leaves the gradient buffer alone. */
    @Override
    public double loss() {
        double loss = 0;
        for (Batch b : batches) loss += model.loss(b.x(), b.labels(), b.n(), mode) * b.n();
        return loss / examples;
    }

    /** One oracle per batch (its own mean loss and gradient), for m-sharpness with m = batch size. */
    public List<GradientOracle> perBatch() {
        List<GradientOracle> out = new ArrayList<>(batches.size());
        for (Batch b : batches) {
            out.add(new GradientOracle() {
                @Override
                public double lossAndGrad() {
                    return model.lossAndGrad(b.x(), b.labels(), b.n(), mode);
                }

                @Override
                public double loss() {
                    return model.loss(b.x(), b.labels(), b.n(), mode);
                }
            });
        }
        return out;
    }

    public Model model() {
        return model;
    }

    public List<Batch> batches() {
        return batches;
    }

    public Mode mode() {
        return mode;
    }

    /** Examples over all batches. */
    public int examples() {
        return examples;
    }

    /** Frees the scratch buffer (not the batches, which belong to the caller's arena). */
    @Override
    public void close() {
        arena.close();
    }
}
