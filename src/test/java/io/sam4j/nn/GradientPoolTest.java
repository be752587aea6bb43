package io.sam4j.nn;

import static io.sam4j.TestUtil.toArray;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.sam4j.TestUtil;
import io.sam4j.conv.ConvBackend;
import io.sam4j.conv.ConvBackends;
import io.sam4j.conv.JavaConvBackend;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import java.io.PrintStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Activation-gradient buffers shared by liveness ({@link GradientPool}) against one buffer per layer (the
 * behaviour before the pool): every model of the zoo, at small sizes, gives bit-identical losses,
 * gradients, running statistics, logits and exact Hessian-vector products either way, on the Java backend
 * (NCHW) and on oneDNN (blocked, where it loads); and the pool really shares.
 */
class GradientPoolTest {
    private static final Parallel PAR = new Parallel(2);
    private static final int N = 4;

    @AfterAll
    static void close() {
        PAR.close();
    }

    /** The zoo's architectures at small widths and inputs (the full sizes take minutes per step here). */
    private static Model make(String name, Context ctx) {
        return switch (name) {
            case "mlp" -> Models.create("mlp", new int[] {1, 8, 8}, 10, 0.1f, ctx);
            case "cnn" -> Models.create("cnn", new int[] {1, 8, 8}, 10, 0f, ctx);
            case "resnet18" -> new Model(name, Models.resnet18(10, 4), new int[] {3, 8, 8}, 10, 0f, ctx);
            case "vgg16bn" -> new Model(name, Models.vgg16bn(10, 16), new int[] {3, 32, 32}, 10, 0f, ctx);
            case "wrn28-10" -> new Model(name, Models.wideResNet(28, 1, 10), new int[] {3, 8, 8}, 10, 0f, ctx);
            case "wrn10-1" -> new Model(name, Models.wideResNet(10, 1, 10), new int[] {3, 8, 8}, 10, 0f, ctx);
            default -> throw new IllegalArgumentException(name);
        };
    }

    /** What a model computes on one batch, and the pool's counts after the first training backward. */
    private record Run(double[] losses, float[][] arrays, int buffersAfterStep, long bytesAfterStep) {}

    private static Run run(String name, Supplier<ConvBackend> backend, boolean share) {
        Context ctx = new Context(PAR, KernelsProvider.get(), backend.get()).shareGradientBuffers(share);
        try (Model m = make(name, ctx); Arena a = Arena.ofShared()) {
            m.initialize(3);
            Random r = new Random(4);
            MemorySegment x = TestUtil.random(a, N * m.inputSize(), r, -1, 1);
            int[] labels = r.ints(N, 0, 10).toArray();
            ParameterStore s = m.store();
            GradientPool pool = ctx.gradients();
            double train = m.lossAndGrad(x, labels, N, Mode.TRAIN);
            assertEquals(0, pool.liveBuffers(), name + ": every gradient buffer released after backward");
            int buffers = pool.buffers();
            long bytes = pool.sharedBytes() + pool.perLayerBytes();
            float[] trainGrads = toArray(s.grads(), s.paramLength()), stats = toArray(s.buffers(), s.bufferLength());
            double frozen = m.lossAndGrad(x, labels, N, Mode.TRAIN_FROZEN_STATS);
            float[] frozenGrads = toArray(s.grads(), s.paramLength());
            assertEquals(buffers, pool.buffers(), name + ": no new buffer in the second step");
            // An exact Hessian-vector product (per-layer buffers), then training again (shared again).
            MemorySegment v = TestUtil.random(a, s.paramLength(), r, -1, 1), hv = a.allocate(4L * s.paramLength(), 64);
            m.bindCurvature(v, hv);
            double curvature = m.curvatureProduct(x, labels, N, Mode.EVAL, false);
            float[] hvArray = toArray(hv, s.paramLength());
            assertTrue(!pool.shared(), "the R-passes re-read every layer's dy: one buffer per layer");
            double again = m.lossAndGrad(x, labels, N, Mode.TRAIN);
            assertEquals(share, pool.shared());
            assertEquals(0, pool.liveBuffers());
            float[] againGrads = toArray(s.grads(), s.paramLength());
            float[] logits = toArray(m.logits(x, N, Mode.EVAL), N * 10L);
            return new Run(new double[] {train, frozen, curvature, again},
                    new float[][] {trainGrads, stats, frozenGrads, hvArray, againGrads, logits}, buffers, bytes);
        }
    }

    private static final String[] ARRAYS = {"TRAIN gradients", "running statistics", "TRAIN_FROZEN_STATS gradients",
            "Hv", "gradients after Hv", "EVAL logits"};

    private static void assertSameResults(String what, Run perLayer, Run shared) {
        assertArrayEquals(perLayer.losses(), shared.losses(), 0, what + ": losses");
        for (int i = 0; i < ARRAYS.length; i++) assertArrayEquals(perLayer.arrays()[i], shared.arrays()[i], what + ": " + ARRAYS[i]);
    }

    @ParameterizedTest
    @ValueSource(strings = {"mlp", "cnn", "resnet18", "vgg16bn", "wrn28-10"})
    void sharedBuffersGiveBitIdenticalResultsOnTheJavaBackend(String name) {
        Supplier<ConvBackend> java = () -> new JavaConvBackend(PAR);
        assertSameResults(name + " (Java)", run(name, java, false), run(name, java, true));
    }

    @ParameterizedTest
    @ValueSource(strings = {"cnn", "resnet18", "wrn10-1"}) // wrn10-1: both PreActBlock kinds, in less time
    void sharedBuffersGiveBitIdenticalResultsOnOneDnn(String name) {
        Supplier<ConvBackend> onednn = oneDnn();
        assertSameResults(name + " (oneDNN)", run(name, onednn, false), run(name, onednn, true));
    }

    private static Supplier<ConvBackend> oneDnn() {
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        ConvBackend probe = ConvBackends.create("auto", PAR, quiet);
        boolean loaded = !(probe instanceof JavaConvBackend);
        probe.close();
        assumeTrue(loaded, "oneDNN does not load on this machine: the blocked path is not checked here");
        return () -> ConvBackends.create("onednn", PAR, quiet);
    }

    /**
     * resnet18 at a batch of 4 on 3x8x8 (width 4): one buffer per gradient-producing layer before, a few
     * per activation size with the pool (a chain ping-pongs between two, a block's branch sum holds a third).
     */
    @Test
    void resnet18SharesGradientBuffers() {
        Supplier<ConvBackend> java = () -> new JavaConvBackend(PAR);
        Run perLayer = run("resnet18", java, false), shared = run("resnet18", java, true);
        System.out.printf("resnet18 gradient buffers: per layer %d (%d bytes), shared %d (%d bytes)%n",
                perLayer.buffersAfterStep(), perLayer.bytesAfterStep(), shared.buffersAfterStep(), shared.bytesAfterStep());
        // Per layer: the stem's bn1 (its ReLU fused); per block its 4 layers (bn1 with its ReLU fused), the output
        // ReLU and its own dx (+2 with a projection); pooling and linear.
        assertEquals(1 + 8 * 6 + 3 * 2 + 2, perLayer.buffersAfterStep());
        // Shared: at most 3 live per size, plus the pooling's, the stage-boundary ones (4 sizes).
        assertTrue(shared.buffersAfterStep() <= 4 * 4, "shared buffers: " + shared.buffersAfterStep());
        assertTrue(shared.bytesAfterStep() * 4 < perLayer.bytesAfterStep(),
                shared.bytesAfterStep() + " bytes shared vs " + perLayer.bytesAfterStep() + " per layer");
    }

    @Test
    void aBranchGradientLivesUntilBothReadersReleasedIt() {
        try (Context ctx = new Context(PAR, KernelsProvider.get())) {
            GradientPool pool = ctx.gradients();
            pool.startSharedPass();
            Object a = new Object(), b = new Object();
            MemorySegment g = pool.acquire(a, 16);
            pool.retain(g);
            pool.release(g);
            MemorySegment other = pool.acquire(b, 16);
            assertTrue(other != g, "a retained buffer is not handed out again after one release");
            pool.release(g);
            assertSame(g, pool.acquire(b, 16), "the freed buffer of the same size is reused");
            pool.release(ctx.ensure(null, 16)); // not the pool's: nothing happens
            assertEquals(2, pool.liveBuffers());
            pool.startSharedPass();
            assertEquals(0, pool.liveBuffers(), "a new pass starts with every buffer free");
            assertEquals(2, pool.buffers());
        }
    }
}
