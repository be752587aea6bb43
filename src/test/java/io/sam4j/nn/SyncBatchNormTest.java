package io.sam4j.nn;

import static io.sam4j.TestUtil.blocked;
import static io.sam4j.TestUtil.toArray;
import static io.sam4j.TestUtil.unblocked;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * SyncBatchNorm in one JVM: two "ranks" (threads, each with its own layer, store and half of the batch)
 * whose statistics sums meet in a two-party exchange, against one layer on the whole batch. Outputs and
 * input gradients must match; gamma's and beta's gradients are per rank and add up to the whole batch's;
 * the running statistics follow the global batch. Both layouts, both training modes.
 */
class SyncBatchNormTest {
    static final int N = 4, HALF = N / 2, C = 11, H = 3, W = 5, PLANE = H * W;

    /** Element-wise sum of two parties' arrays, added in rank order, handed to both. */
    static final class TwoRanks {
        private final CyclicBarrier barrier = new CyclicBarrier(2);
        private final double[][] slots = new double[2][];

        CrossRankSum rank(int r) {
            return values -> {
                slots[r] = values.clone();
                await();
                for (int i = 0; i < values.length; i++) values[i] = slots[0][i] + slots[1][i];
                await(); // neither party overwrites its slot before the other has read it
            };
        }

        private void await() {
            try {
                barrier.await(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
    }

    /** One BatchNorm2d on its own context and store, parameters and buffers from seed 5. */
    static final class Replica implements AutoCloseable {
        final Context ctx = new Context(new Parallel(1), KernelsProvider.get());
        final BatchNorm2d bn = new BatchNorm2d(C);
        final ParameterStore store;
        final Arena arena = Arena.ofShared();
        final boolean blocked;

        Replica(boolean blocked) {
            this.blocked = blocked;
            ParameterStore.Builder b = ParameterStore.builder();
            bn.declare(new int[] {C, H, W}, "", b, ctx);
            store = b.build();
            bn.bind(store);
            bn.initialize(store, new SplittableRandom(1));
            Random r = new Random(5);
            for (long i = 0; i < store.paramLength(); i++) store.params().setAtIndex(ValueLayout.JAVA_FLOAT, i, 0.5f + r.nextFloat());
            ctx.setLanes(blocked ? 8 : 0); // nChw8c; BlockedLayersTest covers both widths
        }

        /** Forward then backward of NCHW x and dy ({@code n} images); returns {y, dx} in NCHW. */
        float[][] step(float[] x, float[] dy, int n, Mode mode) {
            float[] xin = blocked ? blocked(x, n, C, PLANE, 8) : x, dyin = blocked ? blocked(dy, n, C, PLANE, 8) : dy;
            MemorySegment y = bn.forward(arena.allocateFrom(ValueLayout.JAVA_FLOAT, xin), n, mode);
            float[] yv = toArray(y, xin.length);
            MemorySegment dx = bn.backward(arena.allocateFrom(ValueLayout.JAVA_FLOAT, dyin), n, true);
            float[] dxv = toArray(dx, xin.length);
            return blocked ? new float[][] {unblocked(yv, n, C, PLANE, 8), unblocked(dxv, n, C, PLANE, 8)} : new float[][] {yv, dxv};
        }

        float[] grads() {
            return toArray(store.grads(), store.paramLength());
        }

        float[] buffers() {
            return toArray(store.buffers(), store.bufferLength());
        }

        @Override
        public void close() {
            arena.close();
            store.close();
            ctx.close();
        }
    }

    @ParameterizedTest
    @CsvSource({"false, TRAIN", "false, TRAIN_FROZEN_STATS", "true, TRAIN", "true, TRAIN_FROZEN_STATS"})
    void twoRanksEqualOneLayerOnTheWholeBatch(boolean blocked, Mode mode) throws Exception {
        Random r = new Random(3);
        int len = N * C * PLANE, half = len / 2;
        float[] x = new float[len], dy = new float[len];
        for (int i = 0; i < len; i++) {
            x[i] = (float) (1.5 + 2 * r.nextGaussian()); // mean away from 0: the merge must not cancel
            dy[i] = (float) r.nextGaussian();
        }
        try (Replica whole = new Replica(blocked); Replica r0 = new Replica(blocked); Replica r1 = new Replica(blocked)) {
            float[][] ref = whole.step(x, dy, N, mode);
            TwoRanks ranks = new TwoRanks();
            r0.ctx.setBatchStatisticsSum(ranks.rank(0));
            r1.ctx.setBatchStatisticsSum(ranks.rank(1));
            CompletableFuture<float[][]> second = CompletableFuture.supplyAsync(() -> r1.step(
                    Arrays.copyOfRange(x, half, len), Arrays.copyOfRange(dy, half, len), HALF, mode));
            float[][] first = r0.step(Arrays.copyOf(x, half), Arrays.copyOf(dy, half), HALF, mode);
            float[][] last = second.get(60, TimeUnit.SECONDS);
            for (int k = 0; k < 2; k++) {
                String what = k == 0 ? "y" : "dx";
                assertClose(mode + " " + what + " rank 0", Arrays.copyOf(ref[k], half), first[k], 1e-5);
                assertClose(mode + " " + what + " rank 1", Arrays.copyOfRange(ref[k], half, len), last[k], 1e-5);
            }
            float[] g = whole.grads(), g0 = r0.grads(), g1 = r1.grads();
            float[] sum = new float[g.length];
            for (int i = 0; i < g.length; i++) sum[i] = g0[i] + g1[i];
            assertClose(mode + " dgamma, dbeta: rank sums add up", g, sum, 1e-5);
            assertClose(mode + " running statistics rank 0", whole.buffers(), r0.buffers(), 1e-6);
            assertClose(mode + " running statistics rank 1", whole.buffers(), r1.buffers(), 1e-6);
        }
    }

    private static void assertClose(String what, float[] want, float[] got, double tol) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            assertTrue(Math.abs(want[i] - got[i]) <= tol * Math.max(1, Math.abs(want[i])),
                    what + " [" + i + "]: " + got[i] + " vs " + want[i]);
        }
    }
}
