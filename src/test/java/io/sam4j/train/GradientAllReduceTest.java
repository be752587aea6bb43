package io.sam4j.train;

import static io.sam4j.TestUtil.toArray;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sam4j.distributed.Communicator;
import io.sam4j.distributed.PendingSums;
import io.sam4j.kernels.FlatOps;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import io.sam4j.nn.Context;
import io.sam4j.nn.Mode;
import io.sam4j.nn.Model;
import io.sam4j.nn.Models;
import io.sam4j.nn.ParameterStore;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The overlapped gradient all-reduce in one process, against a stand-in for 2 identical ranks (a sum
 * doubles the values): buckets start during backward, each only once its gradients are final, together
 * they cover the buffer once, and the result equals the plain gradient; out of place, the gradient
 * buffer keeps this rank's gradient until reduce().
 */
class GradientAllReduceTest {
    /**
     * Two ranks holding the same gradient: every in-place sum doubles; out of place, the other rank holds 0
     * (so the average is visibly not this rank's gradient). Records each started range.
     */
    static final class TwoIdenticalRanks implements Communicator {
        record Started(long offset, long count, boolean duringBackward, float[] valuesAtStart, boolean outOfPlace) {}

        final List<Started> started = new ArrayList<>();
        MemorySegment base;
        boolean inBackward;
        int blockingSums;

        @Override public int rank() { return 0; }
        @Override public int size() { return 2; }
        @Override public void barrier() {}
        @Override public void broadcast(MemorySegment floats, long count, int root) {}
        @Override public void allReduceSum(double[] values) {}
        @Override public void abort(int code, String message) { throw new AssertionError(message); }
        @Override public String describe() { return "two identical ranks"; }
        @Override public void close() {}

        @Override
        public void allReduceSum(MemorySegment floats, long count) {
            blockingSums++;
            twice(floats, count);
        }

        @Override
        public PendingSums pendingSums(int capacity) {
            return new PendingSums() {
                @Override
                public void start(MemorySegment floats, long count) {
                    assertTrue(started.size() < capacity, "more sums than the capacity " + capacity);
                    started.add(new Started((floats.address() - base.address()) / 4, count, inBackward, toArray(floats, count), false));
                    twice(floats, count);
                }

                @Override
                public void start(MemorySegment send, MemorySegment recv, long count) {
                    assertTrue(started.size() < capacity, "more sums than the capacity " + capacity);
                    started.add(new Started((send.address() - base.address()) / 4, count, inBackward, toArray(send, count), true));
                    // Out of place the other rank's gradient is 0, so that the average (g/2) differs from g.
                    MemorySegment.copy(send, 0, recv, 0, 4 * count);
                }

                @Override public void progress() {}
                @Override public void waitAll() {}
            };
        }

        private static void twice(MemorySegment s, long n) {
            for (long i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, 2 * s.getAtIndex(ValueLayout.JAVA_FLOAT, i));
        }
    }

    /** Bucket sizes in floats: one layer's worth and smaller, and larger than the whole buffer. */
    @ParameterizedTest
    @ValueSource(longs = {1000, 30_000, 10_000_000})
    void bucketsStartDuringBackwardOnFinalGradientsAndCoverTheBufferOnce(long bucket) {
        try (Model m = Models.create("cnn", new int[] {1, 12, 12}, 10, 0f, new Context(new Parallel(1), KernelsProvider.scalar()));
             Arena arena = Arena.ofConfined()) {
            m.initialize(0);
            ParameterStore store = m.store();
            long n = store.paramLength();
            MemorySegment x = arena.allocate(4L * 4 * 144, 64);
            Random r = new Random(1);
            for (long i = 0; i < 4 * 144; i++) x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
            int[] labels = {1, 2, 3, 4};
            m.lossAndGrad(x, labels, 4, Mode.TRAIN_FROZEN_STATS);
            float[] plain = toArray(store.grads(), n);

            TwoIdenticalRanks comm = new TwoIdenticalRanks();
            comm.base = store.grads();
            GradientAllReduce reducer = new GradientAllReduce(comm, store, new FlatOps(KernelsProvider.scalar(), new Parallel(1)), bucket);
            m.context().setGradientListener(reducer);
            reducer.expectGradient();
            comm.inBackward = true;
            m.lossAndGrad(x, labels, 4, Mode.TRAIN_FROZEN_STATS);
            comm.inBackward = false;
            reducer.reduce();

            assertArrayEquals(plain, toArray(store.grads(), n), "sum of 2 identical ranks / 2 = the gradient");
            assertEquals(0, comm.blockingSums);
            long covered = n;
            for (var s : comm.started) { // from the tail down to 0, contiguous, each range once
                assertEquals(covered, s.offset() + s.count(), "ranges start where the previous one ended");
                covered = s.offset();
                for (int i = 0; i < s.count(); i++) {
                    assertEquals(plain[(int) (s.offset() + i)], s.valuesAtStart()[i], "gradient final when its bucket started");
                }
            }
            assertEquals(0, covered, "the buffer is covered");
            boolean overlapped = comm.started.stream().anyMatch(TwoIdenticalRanks.Started::duringBackward);
            assertEquals(bucket < n, overlapped, "buckets smaller than the buffer start during backward");

            // A gradient the optimizer did not announce (local perturbations' first pass) is left alone.
            comm.started.clear();
            m.lossAndGrad(x, labels, 4, Mode.TRAIN_FROZEN_STATS);
            assertTrue(comm.started.isEmpty());
            assertArrayEquals(plain, toArray(store.grads(), n));
            reducer.reduce(); // not announced: one blocking sum
            assertEquals(1, comm.blockingSums);
            assertArrayEquals(plain, toArray(store.grads(), n));
        }
    }

    /**
     * Out of place (local perturbations' pass 2): the sums start during backward into the reducer's own
     * buffer, the gradient buffer still holds this rank's gradient after backward (per-rank statistics read
     * it), and reduce() replaces it by the average.
     */
    @ParameterizedTest
    @ValueSource(longs = {1000, 10_000_000})
    void outOfPlaceSumsLeaveTheRanksGradientUntilReduce(long bucket) {
        try (Model m = Models.create("cnn", new int[] {1, 12, 12}, 10, 0f, new Context(new Parallel(1), KernelsProvider.scalar()));
             Arena arena = Arena.ofConfined()) {
            m.initialize(0);
            ParameterStore store = m.store();
            long n = store.paramLength();
            MemorySegment x = arena.allocate(4L * 4 * 144, 64);
            Random r = new Random(2);
            for (long i = 0; i < 4 * 144; i++) x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
            int[] labels = {5, 6, 7, 8};
            m.lossAndGrad(x, labels, 4, Mode.TRAIN_FROZEN_STATS);
            float[] plain = toArray(store.grads(), n);

            TwoIdenticalRanks comm = new TwoIdenticalRanks();
            comm.base = store.grads();
            GradientAllReduce reducer = new GradientAllReduce(comm, store, new FlatOps(KernelsProvider.scalar(), new Parallel(1)), bucket);
            m.context().setGradientListener(reducer);
            for (int round = 0; round < 2; round++) { // the receive buffer is reused
                comm.started.clear();
                reducer.expectGradientKeepingLocal();
                comm.inBackward = true;
                m.lossAndGrad(x, labels, 4, Mode.TRAIN_FROZEN_STATS);
                comm.inBackward = false;
                assertArrayEquals(plain, toArray(store.grads(), n), "this rank's gradient, untouched by the started sums");
                assertEquals(bucket < n, !comm.started.isEmpty(), "buckets smaller than the buffer start during backward");
                assertTrue(comm.started.stream().allMatch(TwoIdenticalRanks.Started::outOfPlace));
                reducer.reduce();
                float[] mean = new float[(int) n];
                for (int i = 0; i < n; i++) mean[i] = plain[i] * 0.5f; // (g + 0) / 2
                assertArrayEquals(mean, toArray(store.grads(), n), "the average of the two ranks replaces the gradient");
                long covered = n;
                for (var s : comm.started) {
                    assertEquals(covered, s.offset() + s.count(), "ranges start where the previous one ended");
                    covered = s.offset();
                    assertArrayEquals(java.util.Arrays.copyOfRange(plain, (int) s.offset(), (int) (s.offset() + s.count())),
                            s.valuesAtStart(), "gradient final when its bucket started");
                }
                assertEquals(0, covered, "the buffer is covered");
            }
            assertEquals(0, comm.blockingSums);
        }
    }
}
