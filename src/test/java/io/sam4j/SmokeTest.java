package io.sam4j;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sam4j.data.Batcher;
import io.sam4j.data.DataSource;
import io.sam4j.data.Dataset;
import io.sam4j.data.Normalizer;
import io.sam4j.kernels.FlatOps;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import io.sam4j.nn.Context;
import io.sam4j.nn.Model;
import io.sam4j.nn.Models;
import io.sam4j.optim.LossFunction;
import io.sam4j.optim.Optimizer;
import io.sam4j.optim.SharpnessAware;
import io.sam4j.optim.Sgd;
import io.sam4j.optim.StepStats;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

/** The README's library example, as written there, trains: the SAM loss falls on the embedded subset. */
class SmokeTest {
    @Test
    void readmeLibraryExampleLearns() {
        DataSource.Split split = DataSource.load(null);
        Dataset train = split.train();
        Normalizer norm = Normalizer.fit(train);
        int n = 128;
        Batcher batches = new Batcher(train, norm, n, 0, false);
        try (Model model = Models.create("mlp", new int[] {1, 28, 28}, 10, 0f, Context.defaults());
             Arena arena = Arena.ofShared()) {
            model.initialize(42);
            FlatOps ops = new FlatOps(KernelsProvider.get(), Parallel.common());
            Optimizer opt = new SharpnessAware(model.store(), ops,
                    new Sgd(model.store(), ops, 0.9f, false, 5e-4f),
                    SharpnessAware.Config.sam(0.05f));
            MemorySegment x = arena.allocate(4L * n * model.inputSize(), 64);
            int[] labels = new int[n];
            LossFunction f = mode -> model.lossAndGrad(x, labels, n, mode); // TRAIN at w, TRAIN_FROZEN_STATS at w + e
            double first = 0, last = 0;
            int steps = 40, window = 5;
            for (int i = 0; i < steps; i++) {
                batches.fillSequential(i * n, n, x, labels);
                StepStats s = opt.step(f, 0.05f);
                assertTrue(Double.isFinite(s.loss()) && Double.isFinite(s.lossAdv()), "step " + i + ": " + s);
                assertTrue(s.lossAdv() >= s.loss() - 1e-3, "step " + i + ": the loss at w + e is not above the loss at w: " + s);
                if (i < window) first += s.loss() / window;
                if (i >= steps - window) last += s.loss() / window;
            }
            assertTrue(last < 0.6 * first, "mean loss of the first " + window + " steps " + first + ", of the last " + last);
        }
    }
}
