package io.sam4j.nn;

import static io.sam4j.TestUtil.fillRandom;
import static io.sam4j.TestUtil.get;
import static io.sam4j.TestUtil.toArray;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** BatchNorm2d's statistics and modes, each computed independently here in double. */
class BatchNorm2dTest {
    private static final int C = 3, H = 4, W = 5, N = 4, PLANE = H * W, COUNT = N * PLANE;
    private static final long LEN = (long) N * C * PLANE;

    private final Context ctx = new Context(new Parallel(2), KernelsProvider.get());
    private final BatchNorm2d bn = new BatchNorm2d(C);
    private ParameterStore store;
    private Arena arena;
    private MemorySegment x;
    private float[] gamma, beta, oldMean, oldVar;

    @BeforeEach
    void setUp() {
        ParameterStore.Builder b = ParameterStore.builder();
        bn.declare(new int[] {C, H, W}, "bn.", b, ctx);
        store = b.build();
        bn.bind(store);
        bn.initialize(store, new SplittableRandom(1));
        Random r = new Random(11);
        fillRandom(slice("bn.weight"), C, r, 0.5f, 1.5f);
        fillRandom(slice("bn.bias"), C, r, -0.5f, 0.5f);
        fillRandom(slice("bn.running_mean"), C, r, -1f, 1f);
        fillRandom(slice("bn.running_var"), C, r, 0.5f, 2f);
        gamma = toArray(slice("bn.weight"), C);
        beta = toArray(slice("bn.bias"), C);
        oldMean = toArray(slice("bn.running_mean"), C);
        oldVar = toArray(slice("bn.running_var"), C);
        arena = Arena.ofShared();
        // Channel means away from 0 and different spreads, so the statistics are not trivially 0/1.
        x = arena.allocate(4 * LEN, 64);
        for (int i = 0; i < N; i++) {
            for (int ch = 0; ch < C; ch++) {
                for (int p = 0; p < PLANE; p++) {
                    io.sam4j.TestUtil.set(x, (long) (i * C + ch) * PLANE + p, (float) (ch - 1 + (ch + 1) * r.nextGaussian()));
                }
            }
        }
    }

    @AfterEach
    void tearDown() {
        arena.close();
        store.close();
        ctx.close();
    }

    private MemorySegment slice(String name) {
        return store.slice(store.tensor(name));
    }

    private long tracked() {
        return slice("bn.num_batches_tracked").get(java.lang.foreign.ValueLayout.JAVA_LONG, 0);
    }

    private double batchMean(int ch) {
        double s = 0;
        for (int i = 0; i < N; i++) for (int p = 0; p < PLANE; p++) s += get(x, (long) (i * C + ch) * PLANE + p);
        return s / COUNT;
    }

    /** Sum of squared deviations from the batch mean. */
    private double batchSquares(int ch) {
        double m = batchMean(ch), s = 0;
        for (int i = 0; i < N; i++) {
            for (int p = 0; p < PLANE; p++) {
                double d = get(x, (long) (i * C + ch) * PLANE + p) - m;
                s += d * d;
            }
        }
        return s;
    }

    /** Asserts y = gamma * (x - mean) / sqrt(var + 1e-5) + beta, per channel. */
    private void assertNormalised(MemorySegment y, double[] mean, double[] var) {
        for (int i = 0; i < N; i++) {
            for (int ch = 0; ch < C; ch++) {
                for (int p = 0; p < PLANE; p++) {
                    long k = (long) (i * C + ch) * PLANE + p;
                    double expected = gamma[ch] * (get(x, k) - mean[ch]) / Math.sqrt(var[ch] + 1e-5) + beta[ch];
                    assertEquals(expected, get(y, k), 1e-5 * (1 + Math.abs(expected)), "y[" + k + "]");
                }
            }
        }
    }

    @Test
    void trainNormalisesWithBatchStatisticsAndMovesRunningStatistics() {
        MemorySegment y = bn.forward(x, N, Mode.TRAIN);
        double[] mean = new double[C], biasedVar = new double[C];
        for (int ch = 0; ch < C; ch++) {
            mean[ch] = batchMean(ch);
            biasedVar[ch] = batchSquares(ch) / COUNT;
        }
        assertNormalised(y, mean, biasedVar);
        for (int ch = 0; ch < C; ch++) {
            double unbiasedVar = batchSquares(ch) / (COUNT - 1);
            assertEquals(0.9 * oldMean[ch] + 0.1 * mean[ch], get(slice("bn.running_mean"), ch), 1e-6, "running_mean");
            assertEquals(0.9 * oldVar[ch] + 0.1 * unbiasedVar, get(slice("bn.running_var"), ch), 1e-6, "running_var");
        }
        assertEquals(1L, tracked());
        bn.forward(x, N, Mode.TRAIN);
        assertEquals(2L, tracked());
    }

    @Test
    void frozenStatisticsNormaliseAsTrainButTouchNoBuffer() {
        byte[] before = toBytes(store.buffers());
        float[] frozen = toArray(bn.forward(x, N, Mode.TRAIN_FROZEN_STATS), LEN);
        assertArrayEquals(before, toBytes(store.buffers()), "TRAIN_FROZEN_STATS changed a buffer");
        float[] train = toArray(bn.forward(x, N, Mode.TRAIN), LEN);
        assertArrayEquals(train, frozen, "TRAIN_FROZEN_STATS output differs from TRAIN's");
    }

    @Test
    void evalNormalisesWithRunningStatisticsAndTouchesNoBuffer() {
        byte[] before = toBytes(store.buffers());
        MemorySegment y = bn.forward(x, N, Mode.EVAL);
        double[] mean = new double[C], var = new double[C];
        for (int ch = 0; ch < C; ch++) {
            mean[ch] = oldMean[ch];
            var[ch] = oldVar[ch];
        }
        assertNormalised(y, mean, var);
        assertArrayEquals(before, toBytes(store.buffers()));
        assertEquals(0L, tracked());
    }

    @Test
    void defaultsAreThoseOfPyTorch() {
        bn.initialize(store, new SplittableRandom(2));
        assertArrayEquals(new float[] {1, 1, 1}, toArray(slice("bn.weight"), C));
        assertArrayEquals(new float[] {0, 0, 0}, toArray(slice("bn.bias"), C));
        assertArrayEquals(new float[] {0, 0, 0}, toArray(slice("bn.running_mean"), C));
        assertArrayEquals(new float[] {1, 1, 1}, toArray(slice("bn.running_var"), C));
        assertEquals(0L, tracked());
        assertArrayEquals(new long[0], store.tensor("bn.num_batches_tracked").shape(), "a scalar, as in PyTorch");
    }

    @Test
    void oneValuePerChannelCannotTrain() {
        BatchNorm2d single = new BatchNorm2d(2);
        ParameterStore.Builder b = ParameterStore.builder();
        single.declare(new int[] {2, 1, 1}, "", b, ctx);
        try (ParameterStore s = b.build()) {
            single.bind(s);
            single.initialize(s, new SplittableRandom(1));
            assertThrows(IllegalArgumentException.class, () -> single.forward(x, 1, Mode.TRAIN));
            single.forward(x, 1, Mode.EVAL); // running statistics need no batch
        }
    }

    /** Channels are split across the team; every output must be bit-identical whatever its size. */
    @Test
    void resultsDoNotDependOnTheThreadCount() {
        byte[][] one = trainStep(1), three = trainStep(3);
        for (int i = 0; i < one.length; i++) assertArrayEquals(one[i], three[i], "result " + i);
    }

    /** y, dx, the gradients and the buffers after one TRAIN forward and backward on x. */
    private byte[][] trainStep(int threads) {
        try (Context c = new Context(new Parallel(threads), KernelsProvider.get())) {
            BatchNorm2d layer = new BatchNorm2d(C);
            ParameterStore.Builder b = ParameterStore.builder();
            layer.declare(new int[] {C, H, W}, "bn.", b, c);
            try (ParameterStore s = b.build()) {
                layer.bind(s);
                layer.initialize(s, new SplittableRandom(1));
                s.params().copyFrom(store.params());
                s.buffers().copyFrom(store.buffers());
                byte[] y = toBytes(layer.forward(x, N, Mode.TRAIN).asSlice(0, 4 * LEN));
                byte[] dx = toBytes(layer.backward(x, N, true).asSlice(0, 4 * LEN)); // any dy will do
                return new byte[][] {y, dx, toBytes(s.grads()), toBytes(s.buffers())};
            }
        }
    }

    private static byte[] toBytes(MemorySegment s) {
        return s.toArray(ValueLayout.JAVA_BYTE);
    }
}
