package io.sam4j.optim;

import static io.sam4j.TestUtil.toArray;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.sam4j.kernels.FlatOps;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import io.sam4j.nn.Mode;
import io.sam4j.optim.SharpnessAware.Adaptive;
import io.sam4j.optim.SharpnessAware.Config;
import io.sam4j.optim.SharpnessAware.Direction;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * What the optimizers tell the data-parallel reducer before each backward, which decides what overlaps
 * with it: nothing, an in-place sum (the gradient goes to the average as it is), or an out-of-place sum
 * (local perturbations' pass 2: this rank's g_adv is read first). The out-of-place contract, that the
 * optimizer does not write the gradient between that backward and reduce(), is checked on every such step.
 */
class ReducerAnnouncementTest {
    enum Announced { NONE, IN_PLACE, KEEP_LOCAL }

    static final float RHO = 0.05f, LR = 0.1f;
    static final Announced N = Announced.NONE, P = Announced.IN_PLACE, K = Announced.KEEP_LOCAL;

    /**
     * A 2-rank average whose other rank holds a fixed gradient, recording per backward what was announced.
     * An announced out-of-place sum averages this rank's gradient as it was when its backward ended (what
     * MPI reads from the send buffer), after checking it is still what the buffer holds.
     */
    static final class Recording implements GradientReducer {
        final Quadratic q;
        final List<Announced> backwards = new ArrayList<>();
        private Announced next = N;
        private float[] sent;

        Recording(Quadratic q) {
            this.q = q;
        }

        @Override
        public void expectGradient() {
            next = P;
        }

        @Override
        public void expectGradientKeepingLocal() {
            next = K;
        }

        /** The loss function the optimizer calls (through {@link #lossAndGrad}). */
        LossFunction loss(LossFunction inner) {
            return new LossFunction() {
                @Override
                public double lossAndGrad(Mode mode) {
                    return Recording.this.lossAndGrad(inner, mode);
                }

                @Override
                public boolean singleBackward() {
                    return inner.singleBackward();
                }
            };
        }

        double lossAndGrad(LossFunction inner, Mode mode) {
            double loss = inner.lossAndGrad(mode);
            backwards.add(next);
            sent = next == K ? grads() : null;
            next = N;
            return loss;
        }

        private float[] grads() {
            return toArray(q.store.grads(), q.store.paramLength());
        }

        @Override
        public void reduce() {
            float[] mine = grads();
            if (sent != null) assertArrayEquals(sent, mine, "the gradient was written between its out-of-place sum's start and reduce()");
            MemorySegment g = q.store.grads();
            for (int i = 0; i < mine.length; i++) {
                float other = (float) Math.sin(i) * 0.3f;
                g.setAtIndex(ValueLayout.JAVA_FLOAT, i, (mine[i] + other) * 0.5f);
            }
            sent = null;
        }
    }

    private static List<Announced> twoSteps(Config cfg, boolean global, boolean accumulated, boolean perMicroBatch) {
        Quadratic q = new Quadratic(11);
        FlatOps ops = new FlatOps(KernelsProvider.scalar(), new Parallel(1));
        Optimizer opt = cfg == null ? new Plain(q.store, ops, new Sgd(q.store, ops, 0.9f, false, 0f), 0f)
                : new SharpnessAware(q.store, ops, new Sgd(q.store, ops, 0.9f, false, 0f), cfg);
        Recording r = new Recording(q);
        opt.setReducer(r, global);
        LossFunction f = r.loss(q);
        // Two micro-batches that are the whole quadratic each (weights 1/2): one backward each, recorded
        // one by one for m-sharpness, as one (their sum) for accumulation.
        LossFunction perMicro = perMicroBatch ? f : q;
        MicroBatchLoss micro = new MicroBatchLoss() {
            @Override public int count() { return 2; }
            @Override public double weight(int k) { return 0.5; }
            @Override public double lossAndGrad(Mode mode, int k) { return perMicro.lossAndGrad(mode); }
        };
        if (accumulated) f = r.loss(new Accumulated(micro, q.store, ops));
        for (int step = 0; step < 2; step++) {
            if (perMicroBatch) ((SharpnessAware) opt).stepPerMicroBatch(micro, LR);
            else opt.step(f, LR);
        }
        return r.backwards;
    }

    private static Config fsam() {
        return new Config(Direction.FRIENDLY, Adaptive.NONE, true, false, RHO, 1f, 0.9f, 0.01f, 0f);
    }

    private static Config stable() {
        return new Config(Direction.GRADIENT, Adaptive.NONE, true, true, RHO, 1f, 0.9f, 0.01f, 0f);
    }

    private static Config clipped() {
        return new Config(Direction.GRADIENT, Adaptive.OFFICIAL, true, false, RHO, 1f, 0.9f, 0.01f, 0.5f);
    }

    @Test
    void localPerturbationsOverlapPassTwoOutOfPlaceWhereItIsAveragedAsItIs() {
        assertEquals(List.of(N, K, N, K), twoSteps(Config.sam(RHO), false, false, false), "SAM");
        assertEquals(List.of(N, K, N, K), twoSteps(fsam(), false, false, false), "F-SAM");
        assertEquals(List.of(N, K, N, K), twoSteps(clipped(), false, false, false), "ASAM, clipping the average");
        // LookSAM k=2: a SAM step (pass 2 overlapped), then a reuse step (g + c_k g_v,k: blocking).
        assertEquals(List.of(N, K, N), twoSteps(Config.sam(RHO).withPolicy(new PerturbPolicy.LookSam(2, 0.7f)), false, false, false),
                "LookSAM");
    }

    @Test
    void perRankFactorsKeepTheBlockingAllReduce() {
        assertEquals(List.of(N, N, N, N), twoSteps(stable(), false, false, false), "StableSAM: ||g_k||/||g_adv,k||");
        assertEquals(List.of(N, N, N, N), twoSteps(Config.sam(RHO).withDescent(new Descent.Gsam(0.4f)), false, false, false),
                "GSAM's descent");
        assertEquals(List.of(N, N, N, N, N, N, N, N), twoSteps(Config.sam(RHO), false, false, true),
                "m-sharpness: the micro-batches' sum is reduced");
    }

    @Test
    void globalPerturbationsOverlapBothPassesInPlace() {
        assertEquals(List.of(P, P, P, P), twoSteps(Config.sam(RHO), true, false, false));
        assertEquals(List.of(P, P, P, P), twoSteps(stable(), true, false, false));
        assertEquals(List.of(P, P), twoSteps(null, false, false, false), "SGD");
    }

    /** A sum of several backwards (--accumulate) is final only at its end: nothing may start during them. */
    @Test
    void accumulatedGradientsAreNotOverlapped() {
        assertEquals(List.of(N, N, N, N), twoSteps(Config.sam(RHO), false, true, false), "local");
        assertEquals(List.of(N, N, N, N), twoSteps(Config.sam(RHO), true, true, false), "global");
        assertEquals(List.of(N, N), twoSteps(null, false, true, false), "SGD");
    }
}
