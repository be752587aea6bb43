package io.sam4j.nn;

import static io.sam4j.TestUtil.fillRandom;
import static io.sam4j.TestUtil.random;
import static io.sam4j.TestUtil.toArray;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * PreActBlock's forward against the same layers wired by hand as xternalz's BasicBlock: the shortcut
 * reads x (identity) or relu(bn1(x)) (convShortcut), never the other. The gradients are checked in
 * {@link ConvLayerGradientTest}.
 */
class PreActBlockTest {
    private final Context ctx = new Context(new Parallel(2), KernelsProvider.get());

    @ParameterizedTest(name = "{1} -> {0} channels, stride {2}")
    @CsvSource({"4, 4, 1", "5, 3, 1", "6, 3, 2"})
    void forwardIsTheComposition(int planes, int in, int stride) {
        int n = 2;
        int[] shape = {in, 6, 6};
        PreActBlock block = new PreActBlock(planes, stride);
        BatchNorm2d bn1 = new BatchNorm2d(in), bn2 = new BatchNorm2d(planes);
        ReLU relu1 = new ReLU(), relu2 = new ReLU();
        Conv2d conv1 = new Conv2d(planes, 3, stride, 1, false), conv2 = new Conv2d(planes, 3, 1, 1, false);
        Conv2d convShortcut = new Conv2d(planes, 1, stride, 0, false);
        boolean projection = in != planes || stride != 1;

        ParameterStore.Builder bb = ParameterStore.builder(), rb = ParameterStore.builder();
        int[] out = block.declare(shape, "", bb, ctx);
        bn1.declare(shape, "bn1.", rb, ctx);
        relu1.declare(shape, "", rb, ctx);
        int[] h = conv1.declare(shape, "conv1.", rb, ctx);
        bn2.declare(h, "bn2.", rb, ctx);
        relu2.declare(h, "", rb, ctx);
        conv2.declare(h, "conv2.", rb, ctx);
        if (projection) convShortcut.declare(shape, "convShortcut.", rb, ctx);
        try (ParameterStore bs = bb.build(); ParameterStore rs = rb.build(); Arena a = Arena.ofShared()) {
            assertEquals(projection, block.hasProjection());
            assertEquals(rs.allTensors().toString(), bs.allTensors().toString());
            block.bind(bs);
            block.initialize(bs, new SplittableRandom(3));
            Random r = new Random(4);
            for (ParameterStore.Tensor t : bs.paramTensors()) {
                if (t.name().startsWith("bn")) fillRandom(bs.slice(t), t.size(), r, -0.5f, 1.5f); // negative gammas too
            }
            for (ParameterStore.Tensor t : bs.allTensors()) {
                MemorySegment.copy(bs.slice(t), 0, rs.slice(rs.tensor(t.name())), 0, 4 * t.size());
            }
            for (Layer l : List.of(bn1, relu1, conv1, bn2, relu2, conv2)) l.bind(rs);
            if (projection) convShortcut.bind(rs);

            MemorySegment x = random(a, n * Layer.numel(shape), r, -2, 2);
            long len = n * Layer.numel(out);
            MemorySegment pre = relu1.forward(bn1.forward(x, n, Mode.TRAIN), n, Mode.TRAIN);
            float[] main = toArray(conv2.forward(relu2.forward(bn2.forward(conv1.forward(pre, n, Mode.TRAIN), n, Mode.TRAIN),
                    n, Mode.TRAIN), n, Mode.TRAIN), len);
            float[] skip = toArray(projection ? convShortcut.forward(pre, n, Mode.TRAIN) : x, len);
            float[] expected = new float[(int) len];
            for (int i = 0; i < len; i++) expected[i] = main[i] + skip[i];
            assertArrayEquals(expected, toArray(block.forward(x, n, Mode.TRAIN), len), 1e-5f);
        }
    }
}
