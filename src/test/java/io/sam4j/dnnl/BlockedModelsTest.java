package io.sam4j.dnnl;

import static io.sam4j.TestUtil.toArray;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.sam4j.TestUtil;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import io.sam4j.nn.BasicBlock;
import io.sam4j.nn.BatchNorm2d;
import io.sam4j.nn.Conv2d;
import io.sam4j.conv.ConvBackend;
import io.sam4j.conv.ConvShape;
import io.sam4j.nn.Context;
import io.sam4j.nn.Flatten;
import io.sam4j.nn.GlobalAvgPool;
import io.sam4j.conv.JavaConvBackend;
import io.sam4j.nn.Linear;
import io.sam4j.nn.MaxPool2d;
import io.sam4j.nn.Mode;
import io.sam4j.nn.Model;
import io.sam4j.nn.Models;
import io.sam4j.nn.ParameterStore;
import io.sam4j.nn.PreActBlock;
import io.sam4j.nn.ReLU;
import io.sam4j.nn.Sequential;
import io.sam4j.nn.SoftmaxCrossEntropy;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Whole models on oneDNN with blocked activations, at the width oneDNN computes in here (nChw16c on AVX-512,
 * nChw8c on AVX2), against oneDNN with plain NCHW and against the Java backend: the same losses, buffers
 * and parameter gradients; and the blocked convolutions of the models' shapes run without activation
 * reorders. The build runs this class a second time with {@code ONEDNN_MAX_CPU_ISA=AVX2} (a surefire
 * execution of its own, see pom.xml), so an AVX-512 machine also covers the nChw8c models.
 */
class BlockedModelsTest {
    private static final Parallel PAR = new Parallel(2);
    /** The block width oneDNN computes in here: 16 (AVX-512), 8 (AVX2), 0 (neither: models stay NCHW). */
    private static int machineLanes;

    @BeforeAll
    static void load() {
        boolean bundledPlatform = System.getProperty("os.name").startsWith("Linux")
                && System.getProperty("os.arch").equals("amd64");
        if (!bundledPlatform) assumeTrue(OneDnnConvBackend.unavailableReason().isEmpty(), "no oneDNN for this platform");
        try (OneDnnConvBackend b = OneDnnConvBackend.create(1)) {
            machineLanes = b.blockedLanes();
        }
        System.out.println(Dnnl.effectiveCpuIsa() + " (ONEDNN_MAX_CPU_ISA=" + System.getenv("ONEDNN_MAX_CPU_ISA")
                + "): oneDNN computes in nChw" + machineLanes + "c");
    }

    @AfterAll
    static void close() {
        PAR.close();
    }

    /** What one model computes on one batch: TRAIN, then TRAIN_FROZEN_STATS, then EVAL. */
    private record Run(int lanes, double trainLoss, float[] trainGrads, float[] buffers, double frozenLoss,
                       float[] frozenGrads, double evalLossSum, float[] logits) {}

    private static Run run(Function<Context, Model> make, int n, Function<Parallel, ConvBackend> backend, boolean allowBlocked) {
        Context ctx = new Context(PAR, KernelsProvider.get(), backend.apply(PAR)).allowBlocked(allowBlocked);
        try (Model m = make.apply(ctx); Arena a = Arena.ofShared()) {
            m.initialize(3);
            Random r = new Random(4);
            MemorySegment x = TestUtil.random(a, n * m.inputSize(), r, -1, 1);
            int[] labels = r.ints(n, 0, 10).toArray();
            ParameterStore s = m.store();
            double train = m.lossAndGrad(x, labels, n, Mode.TRAIN);
            float[] trainGrads = toArray(s.grads(), s.paramLength()), buffers = toArray(s.buffers(), s.bufferLength());
            double frozen = m.lossAndGrad(x, labels, n, Mode.TRAIN_FROZEN_STATS);
            float[] frozenGrads = toArray(s.grads(), s.paramLength());
            SoftmaxCrossEntropy.Eval eval = m.evaluate(x, labels, n);
            float[] logits = toArray(m.logits(x, n, Mode.EVAL), (long) n * 10);
            return new Run(m.context().lanes(), train, trainGrads, buffers, frozen, frozenGrads, eval.lossSum(), logits);
        }
    }

    /**
     * Per parameter tensor, ||a - b|| / ||b|| within {@code rel}: the layouts and backends sum in different
     * orders, and a tensor-wise relative norm is robust to single gradients that cancel to near zero.
     */
    private static void assertGradientsClose(String what, ParameterStore store, float[] expected, float[] actual, double rel) {
        double worst = 0;
        String worstName = "";
        for (ParameterStore.Tensor t : store.paramTensors()) {
            long off = t.offset();
            double diff = 0, norm = 0;
            for (long i = off; i < off + t.size(); i++) {
                diff += Math.pow(expected[(int) i] - actual[(int) i], 2);
                norm += Math.pow(expected[(int) i], 2);
            }
            double e = Math.sqrt(diff / Math.max(norm, 1e-30));
            if (!(e <= worst)) {
                worst = e;
                worstName = t.name();
            }
        }
        System.out.printf("%s: worst relative gradient error %.2e (%s)%n", what, worst, worstName);
        if (!(worst <= rel)) fail(what + ": gradient of " + worstName + " off by " + worst + " (relative L2) > " + rel);
    }

    private static void assertClose(String what, float[] expected, float[] actual, double tol) {
        for (int i = 0; i < expected.length; i++) {
            if (!(Math.abs(expected[i] - actual[i]) <= tol * (1 + Math.abs(expected[i])))) {
                fail(what + "[" + i + "]: expected " + expected[i] + " got " + actual[i]);
            }
        }
    }

    private static void compare(String name, int[] in, int n, double gradRel) {
        compare(name, ctx -> Models.create(name, in, 10, 0f, ctx), n, gradRel);
    }

    private static void compare(String name, Function<Context, Model> make, int n, double gradRel) {
        Run blocked = run(make, n, p -> OneDnnConvBackend.create(2), true);
        Run plain = run(make, n, p -> OneDnnConvBackend.create(2), false);
        Run java = run(make, n, JavaConvBackend::new, true);
        assertEquals(machineLanes, blocked.lanes(), "oneDNN models keep activations blocked, at oneDNN's width, by default");
        assertEquals(0, plain.lanes(), "allowBlocked(false)");
        assertEquals(0, java.lanes(), "the Java backend stays NCHW");
        ParameterStore layout;
        try (Model m = make.apply(new Context(PAR, KernelsProvider.get()))) {
            layout = m.store(); // only offsets and names are read, before close
            for (Run other : List.of(plain, java)) {
                String what = name + " blocked vs " + (other == plain ? "oneDNN NCHW" : "Java");
                assertEquals(other.trainLoss(), blocked.trainLoss(), 1e-5 * other.trainLoss(), what + " TRAIN loss");
                assertEquals(other.frozenLoss(), blocked.frozenLoss(), 1e-5 * other.frozenLoss(), what + " TRAIN_FROZEN_STATS loss");
                assertEquals(other.evalLossSum(), blocked.evalLossSum(), 1e-4 * other.evalLossSum(), what + " EVAL loss");
                assertClose(what + " logits", other.logits(), blocked.logits(), 1e-4);
                assertClose(what + " buffers", other.buffers(), blocked.buffers(), 1e-5);
                assertGradientsClose(what + " TRAIN", layout, other.trainGrads(), blocked.trainGrads(), gradRel);
                assertGradientsClose(what + " TRAIN_FROZEN_STATS", layout, other.frozenGrads(), blocked.frozenGrads(), gradRel);
            }
        }
    }

    @Test
    void cnnAgreesAcrossLayoutsAndBackends() {
        compare("cnn", new int[] {1, 28, 28}, 4, 1e-5); // the 1-channel stem reads its input plain (Model)
        compare("cnn", new int[] {3, 12, 12}, 3, 1e-5);
    }

    @Test
    void resnet18AgreesAcrossLayoutsAndBackends() {
        // 16x16 keeps it quick; layer4 runs on 2x2 maps, its projection shortcuts and 1x1 convolutions included.
        compare("resnet18", new int[] {3, 16, 16}, 2, 1e-4);
    }

    /** PreActBlock's residual adds: a WideResNet-10-2 (16/32/64/128 channels, projection shortcuts). */
    @Test
    void wideResNetAgreesAcrossLayoutsAndBackends() {
        compare("wrn10-2", ctx -> new Model("wrn10-2", Models.wideResNet(10, 2, 10), new int[] {3, 16, 16}, 10, 0f, ctx), 2, 1e-4);
    }

    /**
     * Channel counts that are not whole blocks (5, 11, 13: padded lanes in every activation), through every
     * layer kind: the general max-pool loop, both residual blocks with projections, and either head. (No
     * convolution bias before a BatchNorm: its gradient is rounding noise around 0 in both layouts.)
     */
    @Test
    void oddChannelCountsAgreeAcrossLayoutsAndBackends() {
        for (boolean gap : new boolean[] {true, false}) {
            compare(gap ? "odd+gap" : "odd+flatten", ctx -> {
                // Without the leading BatchNorm the first convolution would read the input plain (Model): with it,
                // the input is copied into the blocked layout, padded lanes and all.
                Sequential net = new Sequential();
                if (!gap) net.add("bn0", new BatchNorm2d(3));
                net.add("conv1", new Conv2d(5, 3, 1, 1, false)).add("bn1", new BatchNorm2d(5)).add(null, new ReLU())
                        .add(null, new MaxPool2d(3, 1))
                        .add("b1", new BasicBlock(5, 1)).add("b2", new BasicBlock(11, 2))
                        .add("p1", new PreActBlock(11, 1)).add("p2", new PreActBlock(13, 2));
                net.add(null, gap ? new GlobalAvgPool() : new Flatten()).add("fc", new Linear(10));
                return new Model("odd", net, new int[] {3, 12, 12}, 10, 0f, ctx);
            }, 3, 1e-4);
        }
    }

    /**
     * The width follows oneDNN's ISA: 16 where it runs AVX-512 kernels, 8 where AVX2 is the best it uses
     * (also an AVX-512 machine under {@code ONEDNN_MAX_CPU_ISA=AVX2}).
     */
    @Test
    void blockWidthFollowsOneDnnsIsa() {
        String isa = Dnnl.effectiveCpuIsa();
        if (isa.contains("avx512") || isa.contains("avx10")) assertEquals(16, machineLanes, isa);
        else if (isa.contains("avx2")) assertEquals(8, machineLanes, isa);
        if ("AVX2".equalsIgnoreCase(System.getenv("ONEDNN_MAX_CPU_ISA"))) {
            assumeTrue(isa.contains("avx2"), "ONEDNN_MAX_CPU_ISA=AVX2 on a CPU without AVX2: " + isa);
            assertEquals(8, machineLanes, "capped at AVX2, oneDNN computes in nChw8c");
        }
    }

    /**
     * The convolutions of the cnn (Fashion-MNIST) and of ResNet-18 on CIFAR at batch 128: with blocked
     * activations at oneDNN's width, its chosen layouts are the user's, so no activation is reordered, except the
     * input of a stem with 1 or 3 channels, where oneDNN reads plain NCHW.
     */
    @Test
    void blockedConvolutionsOfTheModelsAddNoActivationReorders() {
        assumeTrue(machineLanes != 0, "oneDNN computes in neither nChw8c nor nChw16c on this machine");
        int n = 128;
        List<ConvShape> stems = List.of(new ConvShape(n, 1, 28, 28, 32, 3, 3, 1, 1), new ConvShape(n, 3, 32, 32, 64, 3, 3, 1, 1));
        List<ConvShape> inner = new ArrayList<>(List.of(new ConvShape(n, 32, 14, 14, 64, 3, 3, 1, 1)));
        int[] widths = {64, 128, 256, 512};
        int size = 32, in = 64;
        for (int stage = 0; stage < 4; stage++) {
            int w = widths[stage], stride = stage == 0 ? 1 : 2;
            inner.add(new ConvShape(n, in, size, size, w, 3, 3, stride, 1)); // block 0, conv1
            if (stride != 1 || in != w) inner.add(new ConvShape(n, in, size, size, w, 1, 1, stride, 0)); // shortcut
            size /= stride;
            inner.add(new ConvShape(n, w, size, size, w, 3, 3, 1, 1)); // every other 3x3 of the stage
            in = w;
        }
        try (OneDnnConvBackend backend = OneDnnConvBackend.create(2)) {
            for (ConvShape s : inner) {
                OneDnnConv k = (OneDnnConv) backend.conv(s, false, machineLanes);
                System.out.println(s + " blocked: " + k.implementation() + ", activation reorders " + k.activationReorders());
                assertEquals(List.of(), k.activationReorders(), s + " " + k.implementation());
                k.close();
            }
            for (ConvShape s : stems) {
                OneDnnConv k = (OneDnnConv) backend.conv(s, false, machineLanes);
                System.out.println(s + " blocked stem: " + k.implementation() + ", activation reorders " + k.activationReorders());
                for (String r : k.activationReorders()) assertTrue(r.endsWith(":x") || r.endsWith(":dx"), s + ": " + r);
                k.close();
                // As models run it (Model's plain input): x NCHW, y blocked, and then the forward reorders nothing (the
                // backward passes may: AVX2's weight-gradient kernel reads x in nChw8c); never a reference kernel.
                OneDnnConv mixed = (OneDnnConv) backend.conv(s, false, 0, machineLanes, io.sam4j.conv.Precision.FP32);
                System.out.println(s + " plain-input stem: " + mixed.implementation() + ", activation reorders " + mixed.activationReorders());
                for (String r : mixed.activationReorders()) assertFalse(r.startsWith("forward:"), s + ": " + r);
                assertFalse(mixed.implementation().contains("ref"), s + ": " + mixed.implementation());
                mixed.close();
            }
            OneDnnConv plain = (OneDnnConv) backend.conv(inner.get(1), false, 0);
            System.out.println(inner.get(1) + " NCHW: activation reorders " + plain.activationReorders());
            assertEquals(6, plain.activationReorders().size(), "x, y; dy, dx; x, dy: the counter counts");
            plain.close();
        }
    }
}
