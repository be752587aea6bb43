package io.sam4j.nn;

import io.sam4j.conv.ConvBackend;
import io.sam4j.conv.ConvShape;
import io.sam4j.conv.Convolution;
import io.sam4j.conv.JavaConvBackend;
import io.sam4j.formats.StateDict;
import static io.sam4j.TestUtil.get;
import static io.sam4j.TestUtil.random;
import static io.sam4j.TestUtil.toArray;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The convolutional models: PyTorch state_dict names, shapes, order and parameter counts; a training step. */
class ConvModelsTest {
    private static final Parallel PAR = new Parallel(2);

    @TempDir
    Path tmp;

    private static Model create(String name, int[] input, int classes) {
        return Models.create(name, input, classes, 0f, new Context(PAR, KernelsProvider.get()));
    }

    /** The expected state_dict, built the way PyTorch enumerates it: module by module, params then buffers. */
    private static final class Expected {
        final List<String> entries = new ArrayList<>();
        long params;

        void param(String name, long... shape) {
            entries.add(name + Arrays.toString(shape));
            long n = 1;
            for (long d : shape) n *= d;
            params += n;
        }

        void conv(String name, int out, int in, int k) {
            param(name + ".weight", out, in, k, k);
        }

        void bn(String name, int c) {
            param(name + ".weight", c);
            param(name + ".bias", c);
            entries.add(name + ".running_mean[" + c + "]");
            entries.add(name + ".running_var[" + c + "]");
            entries.add(name + ".num_batches_tracked[]");
        }

        void linear(String name, int out, int in) {
            param(name + ".weight", out, in);
            param(name + ".bias", out);
        }
    }

    private static List<String> actual(Model m) {
        List<String> out = new ArrayList<>();
        for (ParameterStore.Tensor t : m.store().allTensors()) out.add(t.toString());
        return out;
    }

    private static Expected expectedCnn(int in, int h, int w, int classes) {
        Expected e = new Expected();
        e.conv("conv1", 32, in, 3);
        e.bn("bn1", 32);
        e.conv("conv2", 64, 32, 3);
        e.bn("bn2", 64);
        e.linear("fc1", 256, 64 * (h / 4) * (w / 4));
        e.linear("fc2", classes, 256);
        return e;
    }

    /** kuangliu/pytorch-cifar's ResNet18, written out block by block. */
    private static Expected expectedResnet18(int in, int classes) {
        Expected e = new Expected();
        e.conv("conv1", 64, in, 3);
        e.bn("bn1", 64);
        int inPlanes = 64;
        int[] widths = {64, 128, 256, 512}, strides = {1, 2, 2, 2};
        for (int stage = 0; stage < 4; stage++) {
            for (int block = 0; block < 2; block++) {
                String p = "layer" + (stage + 1) + "." + block + ".";
                int planes = widths[stage], stride = block == 0 ? strides[stage] : 1;
                e.conv(p + "conv1", planes, inPlanes, 3);
                e.bn(p + "bn1", planes);
                e.conv(p + "conv2", planes, planes, 3);
                e.bn(p + "bn2", planes);
                if (stride != 1 || inPlanes != planes) {
                    e.conv(p + "shortcut.0", planes, inPlanes, 1);
                    e.bn(p + "shortcut.1", planes);
                }
                inPlanes = planes;
            }
        }
        e.linear("linear", classes, 512);
        return e;
    }

    /** xternalz/WideResNet-pytorch's WideResNet(depth, classes, widen, dropRate=0), written out block by block. */
    private static Expected expectedWideResNet(int depth, int widen, int in, int classes) {
        Expected e = new Expected();
        e.conv("conv1", 16, in, 3);
        int inPlanes = 16;
        for (int group = 0; group < 3; group++) {
            int planes = (16 << group) * widen;
            for (int block = 0; block < (depth - 4) / 6; block++) {
                String p = "block" + (group + 1) + ".layer." + block + ".";
                e.bn(p + "bn1", inPlanes);
                e.conv(p + "conv1", planes, inPlanes, 3);
                e.bn(p + "bn2", planes);
                e.conv(p + "conv2", planes, planes, 3);
                if (inPlanes != planes) e.conv(p + "convShortcut", planes, inPlanes, 1);
                inPlanes = planes;
            }
        }
        e.bn("bn1", inPlanes);
        e.linear("fc", classes, inPlanes);
        return e;
    }

    @Test
    void namesIncludeTheConvolutionalModels() {
        assertTrue(Models.NAMES.containsAll(List.of("mlp", "cnn", "resnet18", "vgg16bn", "wrn28-10")), Models.NAMES.toString());
    }

    @Test
    void cnnStateDict() {
        for (int[] in : new int[][] {{1, 28, 28}, {3, 32, 32}}) {
            try (Model m = create("cnn", in, 10)) {
                Expected e = expectedCnn(in[0], in[1], in[2], 10);
                assertEquals(e.entries, actual(m));
                assertEquals(e.params, m.store().paramCount());
            }
        }
        try (Model m = create("cnn", new int[] {1, 28, 28}, 10)) {
            assertEquals(824_554, m.store().paramCount());
            assertEquals("conv1.weight[32, 1, 3, 3]", actual(m).get(0));
            assertEquals("fc1.weight[256, 3136]", actual(m).get(12));
        }
    }

    @Test
    void resnet18StateDict() {
        try (Model m = create("resnet18", new int[] {1, 28, 28}, 10)) {
            Expected e = expectedResnet18(1, 10);
            assertEquals(e.entries, actual(m));
            assertEquals(e.params, m.store().paramCount());
            assertEquals(11_172_810, m.store().paramCount());
            assertEquals(62, m.store().paramTensors().size());
            assertTrue(m.store().has("layer2.0.shortcut.0.weight") && !m.store().has("layer1.0.shortcut.0.weight"));
        }
        try (Model m = create("resnet18", new int[] {3, 32, 32}, 10)) {
            // The figure PyTorch reports for kuangliu's ResNet18 on CIFAR-10.
            assertEquals(11_173_962, m.store().paramCount());
            assertEquals(expectedResnet18(3, 10).entries, actual(m));
        }
    }

    @Test
    void vgg16bnStateDict() {
        Expected e = new Expected();
        int in = 3, index = 0;
        for (int width : new int[] {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0}) {
            if (width == 0) {
                index++; // MaxPool2d
                continue;
            }
            e.conv("features." + index, width, in, 3);
            e.param("features." + index + ".bias", width);
            e.bn("features." + (index + 1), width);
            index += 3; // conv, BN, ReLU
            in = width;
        }
        e.linear("classifier", 10, 512);
        try (Model m = create("vgg16bn", new int[] {3, 32, 32}, 10)) {
            assertEquals(e.entries, actual(m));
            assertEquals(e.params, m.store().paramCount());
            assertEquals(14_728_266, m.store().paramCount());
            assertEquals("features.41.num_batches_tracked[]", actual(m).get(actual(m).size() - 3));
        }
        IllegalArgumentException tooSmall = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> create("vgg16bn", new int[] {1, 28, 28}, 10));
        assertTrue(tooSmall.getMessage().contains("32x32"), tooSmall.getMessage());
    }

    @Test
    void wrn28x10StateDict() {
        try (Model m = create("wrn28-10", new int[] {3, 32, 32}, 10)) {
            List<String> names = actual(m);
            assertEquals(expectedWideResNet(28, 10, 3, 10).entries, names);
            // The figure PyTorch reports for xternalz's WideResNet(28, 10, widen_factor=10) on CIFAR-10.
            assertEquals(36_479_194, m.store().paramCount());
            // conv1; 12 blocks of bn1, conv1, bn2, conv2; 3 shortcuts; bn1; fc
            assertEquals(1 + 12 * 6 + 3 + 2 + 2, m.store().paramTensors().size());
            assertEquals(1 + 12 * 12 + 3 + 5 + 2, m.store().allTensors().size());
            assertEquals(List.of("conv1.weight[16, 3, 3, 3]", "block1.layer.0.bn1.weight[16]", "block1.layer.0.bn1.bias[16]",
                    "block1.layer.0.bn1.running_mean[16]", "block1.layer.0.bn1.running_var[16]",
                    "block1.layer.0.bn1.num_batches_tracked[]", "block1.layer.0.conv1.weight[160, 16, 3, 3]"), names.subList(0, 7));
            assertEquals(List.of("block1.layer.0.conv2.weight[160, 160, 3, 3]", "block1.layer.0.convShortcut.weight[160, 16, 1, 1]",
                    "block1.layer.1.bn1.weight[160]"), names.subList(12, 15));
            assertEquals(List.of("block3.layer.3.conv2.weight[640, 640, 3, 3]", "bn1.weight[640]", "bn1.bias[640]",
                    "bn1.running_mean[640]", "bn1.running_var[640]", "bn1.num_batches_tracked[]", "fc.weight[10, 640]",
                    "fc.bias[10]"), names.subList(names.size() - 8, names.size()));
            assertTrue(m.store().has("block2.layer.0.convShortcut.weight") && m.store().has("block3.layer.0.convShortcut.weight")
                    && !m.store().has("block1.layer.1.convShortcut.weight") && !m.store().has("block2.layer.1.convShortcut.weight"));
        }
        // Global average pooling: any input size, here Fashion-MNIST's.
        try (Model m = create("wrn28-10", new int[] {1, 28, 28}, 10)) {
            assertEquals(expectedWideResNet(28, 10, 1, 10).entries, actual(m));
            assertEquals(36_479_194 - 2 * 16 * 9, m.store().paramCount());
        }
    }

    @Test
    void wideResNetDepthsAndWidths() {
        for (int[] dw : new int[][] {{10, 1}, {16, 4}, {22, 2}}) {
            Expected e = expectedWideResNet(dw[0], dw[1], 3, 7);
            try (Model m = new Model("wrn", Models.wideResNet(dw[0], dw[1], 7), new int[] {3, 8, 8}, 7, 0f,
                    new Context(PAR, KernelsProvider.get()))) {
                assertEquals(e.entries, actual(m));
                assertEquals(e.params, m.store().paramCount());
            }
        }
        for (int bad : new int[] {4, 8, 27, 29}) {
            IllegalArgumentException ex = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> Models.wideResNet(bad, 10, 10));
            assertTrue(ex.getMessage().contains("6n+4") && ex.getMessage().contains(String.valueOf(bad)), ex.getMessage());
        }
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> Models.wideResNet(28, 0, 10));
    }

    @Test
    void wideResNetTrainingStepOnATinyInput() {
        // WRN-10-1 on 8x8: block3 runs on 2x2 maps; every tensor, bn1s of the shortcut blocks included, gets a gradient.
        try (Model m = new Model("wrn", Models.wideResNet(10, 1, 10), new int[] {3, 8, 8}, 10, 0f,
                new Context(PAR, KernelsProvider.get())); Arena a = Arena.ofShared()) {
            m.initialize(2);
            Random r = new Random(2);
            MemorySegment x = random(a, 2 * m.inputSize(), r, -1, 1);
            double loss = m.lossAndGrad(x, new int[] {3, 7}, 2, Mode.TRAIN);
            assertTrue(Double.isFinite(loss), "loss " + loss);
            assertEveryGradientNonZero(m);
            assertEquals(1L, m.store().slice(m.store().tensor("block3.layer.0.bn1.num_batches_tracked")).get(java.lang.foreign.ValueLayout.JAVA_LONG, 0));
        }
    }

    @Test
    void cnnTrainingStepAndEvaluation() {
        try (Model m = create("cnn", new int[] {1, 28, 28}, 10); Arena a = Arena.ofShared()) {
            m.initialize(1);
            Random r = new Random(1);
            for (int n : new int[] {2, 3}) {
                MemorySegment x = random(a, n * m.inputSize(), r, -1, 1);
                int[] labels = new int[n];
                for (int i = 0; i < n; i++) labels[i] = r.nextInt(10);
                double loss = m.lossAndGrad(x, labels, n, Mode.TRAIN);
                assertTrue(Double.isFinite(loss) && loss > 0.5 && loss < 10, "loss " + loss);
                assertEveryGradientNonZero(m);
                SoftmaxCrossEntropy.Eval eval = m.evaluate(x, labels, n);
                assertTrue(Double.isFinite(eval.lossSum()) && eval.correct() >= 0 && eval.correct() <= n);
            }
            assertEquals(2L, m.store().slice(m.store().tensor("bn1.num_batches_tracked")).get(java.lang.foreign.ValueLayout.JAVA_LONG, 0));
        }
    }

    @Test
    void resnet18TrainingStepOnATinyInput() {
        // 8x8 keeps it quick on the reference GEMM; layer4 then runs on 1x1 maps (2 values per BN channel).
        try (Model m = create("resnet18", new int[] {3, 8, 8}, 10); Arena a = Arena.ofShared()) {
            m.initialize(2);
            Random r = new Random(2);
            MemorySegment x = random(a, 2 * m.inputSize(), r, -1, 1);
            double loss = m.lossAndGrad(x, new int[] {3, 7}, 2, Mode.TRAIN);
            assertTrue(Double.isFinite(loss), "loss " + loss);
            assertEveryGradientNonZero(m);
        }
    }

    @Test
    void cnnStateDictRoundTripIncludesBuffers() {
        Path f = tmp.resolve("cnn.safetensors");
        try (Model a = create("cnn", new int[] {1, 12, 12}, 4); Model b = create("cnn", new int[] {1, 12, 12}, 4);
             Arena arena = Arena.ofShared()) {
            a.initialize(1);
            b.initialize(2);
            a.lossAndGrad(random(arena, 2 * a.inputSize(), new Random(3), -1, 1), new int[] {0, 1}, 2, Mode.TRAIN);
            StateDict.save(a.store(), f);
            StateDict.load(b.store(), f);
            assertArrayEquals(toArray(a.store().params(), a.store().paramLength()), toArray(b.store().params(), b.store().paramLength()));
            assertArrayEquals(toArray(a.store().buffers(), a.store().bufferLength()), toArray(b.store().buffers(), b.store().bufferLength()));
            assertEquals(1L, b.store().slice(b.store().tensor("bn2.num_batches_tracked")).get(java.lang.foreign.ValueLayout.JAVA_LONG, 0));
        }
    }

    @Test
    void conv2dMakesOneKernelPerBatchSize() {
        List<ConvShape> made = new ArrayList<>();
        ConvBackend java = new JavaConvBackend(PAR);
        ConvBackend counting = new ConvBackend() {
            @Override
            public String name() {
                return "counting";
            }

            @Override
            public Convolution conv(ConvShape shape, boolean bias) {
                made.add(shape);
                return java.conv(shape, bias);
            }
        };
        Conv2d conv = new Conv2d(2, 3, 1, 1, true);
        try (Context ctx = new Context(PAR, KernelsProvider.get(), counting)) {
            ParameterStore.Builder b = ParameterStore.builder();
            conv.declare(new int[] {3, 5, 5}, "", b, ctx);
            try (ParameterStore s = b.build(); Arena a = Arena.ofShared()) {
                conv.bind(s);
                MemorySegment x = random(a, 3 * 75, new Random(1), -1, 1);
                for (int n : new int[] {2, 2, 3, 2, 3, 1}) {
                    MemorySegment y = conv.forward(x, n, Mode.TRAIN);
                    conv.backward(y, n, true);
                }
            }
        }
        assertEquals(List.of(new ConvShape(2, 3, 5, 5, 2, 3, 3, 1, 1), new ConvShape(3, 3, 5, 5, 2, 3, 3, 1, 1),
                new ConvShape(1, 3, 5, 5, 2, 3, 3, 1, 1)), made);
        assertEquals("java:im2col+gemm", conv.implementation());
    }

    private static void assertEveryGradientNonZero(Model m) {
        for (ParameterStore.Tensor t : m.store().paramTensors()) {
            double sq = 0;
            for (float g : toArray(m.store().gradSlice(t), t.size())) sq += g * g;
            assertTrue(sq > 0 && Double.isFinite(sq), t.name() + " gradient norm^2 " + sq);
        }
    }
}
