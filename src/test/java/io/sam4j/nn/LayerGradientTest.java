package io.sam4j.nn;

import static io.sam4j.TestUtil.get;
import static io.sam4j.TestUtil.random;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Every layer's backward against central finite differences. */
class LayerGradientTest {
    private final Context ctx = new Context(new Parallel(2), KernelsProvider.get());

    private void checkLayer(String name, Layer layer, int[] inShape, int n, float h, double absTol, double relTol,
                            float inLo, float inHi) {
        GradCheck.checkLayer(ctx, name, layer, inShape, n, Mode.TRAIN, GradCheck.uniformAwayFromZero(inLo, inHi),
                store -> {}, h, absTol, relTol);
    }

    @Test
    void linear() {
        checkLayer("fc", new Linear(7), new int[] {13}, 5, 1e-2f, 2e-3, 1e-3, -1, 1);
    }

    @Test
    void linearWithoutBias() {
        checkLayer("fc", new Linear(3, false), new int[] {2, 3, 3}, 4, 1e-2f, 2e-3, 1e-3, -1, 1);
    }

    @Test
    void linearLargeShapesUseTheFastGemm() {
        checkLayer("fc", new Linear(37), new int[] {300}, 33, 1e-2f, 5e-3, 2e-3, -1, 1);
    }

    @Test
    void relu() {
        checkLayer("relu", new ReLU(), new int[] {3, 4, 5}, 3, 1e-2f, 1e-3, 1e-3, -1, 1);
    }

    @Test
    void flatten() {
        checkLayer("flat", new Flatten(), new int[] {2, 3, 4}, 2, 1e-2f, 1e-3, 1e-3, -1, 1);
    }

    @Test
    void sequentialMlp() {
        Sequential s = new Sequential().add(null, new Flatten()).add("fc1", new Linear(9)).add(null, new ReLU())
                .add("fc2", new Linear(4));
        checkLayer("mlp", s, new int[] {1, 3, 4}, 6, 1e-2f, 3e-3, 3e-3, -1, 1);
    }

    @Test
    void sequentialSkipsInputGradientOfFirstTrainableLayer() {
        Sequential s = new Sequential().add(null, new Flatten()).add("fc1", new Linear(3));
        ParameterStore.Builder b = ParameterStore.builder();
        s.declare(new int[] {4}, "", b, ctx);
        try (ParameterStore store = b.build(); Arena a = Arena.ofShared()) {
            s.bind(store);
            s.initialize(store, new SplittableRandom(1));
            MemorySegment x = random(a, 8, new Random(1), -1, 1);
            s.forward(x, 2, Mode.TRAIN);
            assertNull(s.backward(random(a, 6, new Random(2), -1, 1), 2, false));
        }
    }

    @Test
    void softmaxCrossEntropyGradient() {
        int n = 4, k = 5;
        try (Arena a = Arena.ofShared()) {
            Random r = new Random(3);
            MemorySegment logits = random(a, n * k, r, -3, 3);
            int[] labels = {0, 4, 2, 2};
            for (float smoothing : new float[] {0f, 0.1f}) {
                SoftmaxCrossEntropy ce = new SoftmaxCrossEntropy(k, smoothing, ctx);
                ce.forward(logits, labels, n, true);
                MemorySegment g = a.allocate(4L * n * k, 64);
                MemorySegment.copy(ce.grad(), 0, g, 0, 4L * n * k);
                GradCheck.check("ce(smoothing " + smoothing + ")", logits, n * k, g,
                        () -> ce.forward(logits, labels, n, false), 1e-3f, 2e-4, 2e-3, 100, r);
            }
        }
    }

    @Test
    void softmaxCrossEntropyValueByHand() {
        try (Arena a = Arena.ofShared()) {
            // Two examples, three classes. loss_i = logsumexp(z_i) - z_i[label].
            MemorySegment z = io.sam4j.TestUtil.floats(a, 1f, 2f, 3f, 1000f, 0f, -1000f);
            SoftmaxCrossEntropy ce = new SoftmaxCrossEntropy(3, 0f, ctx);
            double l0 = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)) - 1;
            double l1 = 0; // label 0 holds all the mass; a naive exp(1000) would overflow
            assertEquals((l0 + l1) / 2, ce.forward(z, new int[] {0, 0}, 2, true), 1e-6);
            // d/dz = (softmax - onehot) / n
            double p00 = Math.exp(1) / (Math.exp(1) + Math.exp(2) + Math.exp(3));
            assertEquals((p00 - 1) / 2, get(ce.grad(), 0), 1e-6);
            SoftmaxCrossEntropy.Eval e = ce.evaluate(z, new int[] {2, 1}, 2);
            assertEquals(1, e.correct());
        }
    }
}
