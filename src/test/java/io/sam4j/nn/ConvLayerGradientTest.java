package io.sam4j.nn;

import static io.sam4j.TestUtil.fillRandom;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/** Backward passes of the convolutional layers against central finite differences. */
class ConvLayerGradientTest {
    private final Context ctx = new Context(new Parallel(2), KernelsProvider.get());

    /** gamma and beta away from their 1/0 defaults, so that their gradients are not special cases. */
    private static final Consumer<ParameterStore> RANDOM_AFFINE = store -> {
        Random r = new Random(5);
        for (ParameterStore.Tensor t : store.paramTensors()) {
            if (t.name().contains("bn") || t.name().endsWith("shortcut.1.weight") || t.name().endsWith("shortcut.1.bias")) {
                fillRandom(store.slice(t), t.size(), r, t.name().endsWith("weight") ? 0.5f : -0.5f, t.name().endsWith("weight") ? 1.5f : 0.5f);
            }
        }
    };

    @ParameterizedTest(name = "{0}x{0} stride {1} pad {2} bias {3} batch {4} in {5}")
    @CsvSource({
            "3, 1, 1, true,  3, 3",
            "3, 1, 1, false, 1, 3",
            "3, 2, 1, false, 3, 5",
            "3, 2, 1, true,  1, 3",
            "3, 1, 0, true,  1, 1",
            "3, 2, 0, false, 3, 3",
            "1, 1, 0, true,  3, 5",
            "1, 1, 0, false, 1, 3",
            "1, 2, 0, false, 3, 3",
            "1, 2, 0, true,  1, 5"})
    void conv2d(int kernel, int stride, int pad, boolean bias, int n, int in) {
        // Conv is linear in x and w: the central difference is exact up to float rounding.
        check("conv", new Conv2d(5, kernel, stride, pad, bias), new int[] {in, 7, 6}, n, Mode.TRAIN,
                GradCheck.uniformAwayFromZero(-1, 1), s -> {}, 1e-2f, 2e-3, 1e-3);
    }

    @ParameterizedTest
    @EnumSource(Mode.class)
    void batchNorm(Mode mode) {
        Consumer<ParameterStore> prepare = RANDOM_AFFINE.andThen(store -> {
            // Running statistics unlike the batch's, so that EVAL is visibly a different map.
            Random r = new Random(6);
            fillRandom(store.slice(store.tensor("bn.running_mean")), 3, r, -0.5f, 0.5f);
            fillRandom(store.slice(store.tensor("bn.running_var")), 3, r, 0.5f, 2f);
        });
        check("bn", new BatchNorm2d(3), new int[] {3, 4, 5}, 2, mode, GradCheck.uniformAwayFromZero(-2, 2), prepare,
                1e-2f, 3e-3, 3e-3);
    }

    @Test
    void maxPool() {
        check("pool", new MaxPool2d(2, 2), new int[] {3, 6, 7}, 2, Mode.TRAIN, GradCheck.distinct(0.05f), s -> {},
                1e-2f, 1e-3, 1e-3);
    }

    @Test
    void overlappingMaxPoolAddsGradients() {
        check("pool", new MaxPool2d(3, 2), new int[] {2, 7, 7}, 2, Mode.TRAIN, GradCheck.distinct(0.05f), s -> {},
                1e-2f, 1e-3, 1e-3);
    }

    @Test
    void globalAvgPool() {
        check("gap", new GlobalAvgPool(), new int[] {4, 3, 5}, 3, Mode.TRAIN, GradCheck.uniformAwayFromZero(-1, 1),
                s -> {}, 1e-2f, 1e-3, 1e-3);
    }

    @Test
    void basicBlockWithIdentityShortcut() {
        BasicBlock block = new BasicBlock(4, 1);
        checkBlock(block, new int[] {4, 5, 5});
        assertFalse(block.hasProjection());
    }

    @Test
    void basicBlockWithProjectionShortcut() {
        BasicBlock block = new BasicBlock(4, 2);
        checkBlock(block, new int[] {3, 6, 6});
        assertTrue(block.hasProjection());
    }

    @Test
    void preActBlockWithIdentityShortcut() {
        PreActBlock block = new PreActBlock(4, 1);
        checkBlock(block, new int[] {4, 5, 5});
        assertFalse(block.hasProjection());
    }

    @Test
    void preActBlockWithProjectionShortcut() {
        PreActBlock block = new PreActBlock(4, 2);
        checkBlock(block, new int[] {3, 6, 6});
        assertTrue(block.hasProjection());
    }

    @Test
    void preActBlockWithProjectionAtStrideOne() {
        // WideResNet's block1.layer.0: 16 -> 16*widen channels at stride 1. (On 5x5 one of bn1's three
        // gamma samples straddled a ReLU kink, more than GradCheck's one in ten; on 6x6 none does.)
        PreActBlock block = new PreActBlock(5, 1);
        checkBlock(block, new int[] {3, 6, 6});
        assertTrue(block.hasProjection());
    }

    /**
     * A whole WRN-10-1 (conv1, an identity block, two projection blocks, bn1, ReLU, pooling, fc) on 6x6:
     * dx and every tensor, the pre-activation shared by both paths of a projection block included.
     */
    @Test
    void tinyWideResNet() {
        checkBlock(Models.wideResNet(10, 1, 3), new int[] {3, 6, 6});
    }

    /**
     * The block has ReLUs after batch normalisation. A channel with a small batch variance makes its
     * normalised values very sensitive to the weights, so at h = 1e-3 most steps on such a channel's
     * weights straddled a ReLU kink (one-sided slopes 0.73 and 1.44 around an analytic 0.73); at
     * 2.5e-4 none did. The float noise of f over 2h (~1e-6 / 5e-4) needs the looser tolerance, and a
     * few kink samples may still pass on a one-sided slope (see GradCheck).
     */
    private void checkBlock(Layer block, int[] in) {
        GradCheck.checkLayer(ctx, "block", block, in, 2, Mode.TRAIN, GradCheck.uniformAwayFromZero(-1, 1), RANDOM_AFFINE,
                2.5e-4f, 1e-2, 1e-2, true);
    }

    @Test
    void maxPoolTiesGoToTheFirstMaximum() {
        MaxPool2d pool = new MaxPool2d(2, 2);
        pool.declare(new int[] {1, 2, 2}, "", ParameterStore.builder(), ctx);
        try (Arena a = Arena.ofShared()) {
            MemorySegment x = io.sam4j.TestUtil.floats(a, 1f, 3f, 3f, 3f);
            assertEquals(3f, io.sam4j.TestUtil.get(pool.forward(x, 1, Mode.TRAIN), 0));
            MemorySegment dx = pool.backward(io.sam4j.TestUtil.floats(a, 1f), 1, true);
            assertEquals(List.of(0f, 1f, 0f, 0f), toList(dx, 4));
        }
    }

    private static List<Float> toList(MemorySegment s, int n) {
        List<Float> out = new ArrayList<>();
        for (float v : io.sam4j.TestUtil.toArray(s, n)) out.add(v);
        return out;
    }

    private void check(String name, Layer layer, int[] in, int n, Mode mode, GradCheck.Input input,
                       Consumer<ParameterStore> prepare, float h, double absTol, double relTol) {
        GradCheck.checkLayer(ctx, name, layer, in, n, mode, input, prepare, h, absTol, relTol);
    }
}
