package io.sam4j.nn;

import static io.sam4j.TestUtil.get;
import static io.sam4j.TestUtil.set;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.sam4j.TestUtil;
import io.sam4j.dnnl.OneDnnConvBackend;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Optional;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Every layer's R-passes against finite differences of its own forward and backward: along a random
 * direction t -> (x + t R{x}, w + t v, dy + t R{dy}), R{y}, R{dx} and the Hv slices must be the t-derivatives
 * of y, dx and the parameter gradients. The difference is the fourth-order central one (Richardson), taken
 * in double over the float32 layer: bilinear layers are exact up to float rounding, BatchNorm's truncation
 * error is O(h^4). A dropped term of any formula is O(1) of the result; the tolerances are 1e-4 of its norm (5e-4 through a
 * whole residual block in train mode, whose float32 rounding piles up over two convolutions and BatchNorms).
 * Also: the Gauss-Newton R-backward equals the ordinary backward applied to R{dy}.
 */
class ROperatorTest {
    private static final Parallel PAR = new Parallel(2);

    @AfterAll
    static void close() {
        PAR.close();
    }

    private static Context javaContext(boolean blocked) {
        Context ctx = new Context(PAR, KernelsProvider.get());
        ctx.setLanes(blocked ? 8 : 0); // nChw8c; BlockedLayersTest covers both widths
        return ctx;
    }

    private static Context oneDnnContext(boolean blocked) {
        Optional<OneDnnConvBackend> b = OneDnnConvBackend.tryCreate(2);
        assumeTrue(b.isPresent(), "oneDNN is not available here: " + OneDnnConvBackend.unavailableReason().orElse("?"));
        Context ctx = new Context(PAR, KernelsProvider.get(), b.get());
        ctx.setLanes(blocked ? 8 : 0); // nChw8c; BlockedLayersTest covers both widths
        return ctx;
    }

    /** BatchNorm statistics and affine parameters away from the defaults (gamma away from 0). */
    private static void randomBatchNorm(ParameterStore s) {
        Random r = new Random(5);
        for (ParameterStore.Tensor t : s.allTensors()) {
            String name = t.name();
            float lo = name.endsWith("running_var") || name.endsWith("weight") && t.shape().length == 1 ? 0.5f : -0.5f;
            if (name.endsWith("num_batches_tracked") || t.shape().length > 1) continue;
            if (name.contains("bn") || name.contains("shortcut.1") || name.endsWith("running_mean") || name.endsWith("running_var")) {
                TestUtil.fillRandom(s.slice(t), t.size(), r, lo, lo + 1f);
            }
        }
    }

    /**
     * For the residual blocks: every BatchNorm output at least 1.5 away from 0 (|beta| = 3, gamma <= 0.5), with
     * a random sign per channel, and the projection's BN small, so that no ReLU in a block sits near its kink
     * (dx jumps there, which would spoil the difference quotient) while whole channels are still masked off.
     */
    private static void blockBatchNorm(ParameterStore s) {
        Random r = new Random(6);
        for (ParameterStore.Tensor t : s.allTensors()) {
            if (t.shape().length != 1 || t.name().endsWith("num_batches_tracked")) continue;
            boolean shortcut = t.name().contains("shortcut.1");
            MemorySegment m = s.slice(t);
            for (long i = 0; i < t.size(); i++) {
                float v;
                if (t.name().endsWith("weight")) v = shortcut ? 0.1f + 0.1f * r.nextFloat() : 0.3f + 0.2f * r.nextFloat();
                else if (t.name().endsWith("bias")) v = shortcut ? 0f : r.nextBoolean() ? 3f : -3f;
                else if (t.name().endsWith("running_mean")) v = r.nextFloat() - 0.5f;
                else v = 1f + r.nextFloat();
                set(m, i, v);
            }
        }
    }

    private static final Consumer<ParameterStore> NONE = s -> {};

    @Test
    void linear() {
        try (Context ctx = javaContext(false)) {
            check(ctx, "linear", Linear::new, 5, new int[] {6}, 3, Mode.EVAL, uniform(), NONE, 1e-2, 1e-4);
        }
    }

    @Test
    void linearWithoutBiasAsAFirstLayer() {
        try (Context ctx = javaContext(false)) {
            check(ctx, "linear0", () -> new Linear(4, false), new int[] {7}, 2, Mode.EVAL, uniform(), NONE, 1e-2, 1e-4, true);
        }
    }

    @Test
    void convOnTheJavaBackend() {
        try (Context ctx = javaContext(false)) {
            checkConvs(ctx);
        }
    }

    @Test
    void convOnOneDnnPlain() {
        try (Context ctx = oneDnnContext(false)) {
            checkConvs(ctx);
        }
    }

    @Test
    void convOnOneDnnBlocked() {
        try (Context ctx = oneDnnContext(true)) {
            checkConvs(ctx);
        }
    }

    private static void checkConvs(Context ctx) {
        check(ctx, "conv3s1", () -> new Conv2d(5, 3, 1, 1, true), new int[] {3, 5, 5}, 2, Mode.EVAL, uniform(), NONE, 1e-2, 1e-4);
        check(ctx, "conv3s2", () -> new Conv2d(4, 3, 2, 1, false), new int[] {2, 6, 6}, 3, Mode.EVAL, uniform(), NONE, 1e-2, 1e-4);
        check(ctx, "conv1s2first", () -> new Conv2d(3, 1, 2, 0, false), new int[] {2, 4, 4}, 2, Mode.EVAL, uniform(), NONE, 1e-2, 1e-4, true);
    }

    @Test
    void reluPoolsAndFlattenInBothLayouts() {
        for (boolean blocked : new boolean[] {false, true}) {
            try (Context ctx = javaContext(blocked)) {
                String l = blocked ? " blocked" : "";
                check(ctx, "relu" + l, ReLU::new, new int[] {3, 4, 4}, 2, Mode.EVAL, GradCheck.uniformAwayFromZero(-1, 1), NONE, 1e-2, 1e-4);
                check(ctx, "maxpool2" + l, () -> new MaxPool2d(2, 2), new int[] {3, 4, 6}, 2, Mode.EVAL, GradCheck.distinct(0.05f), NONE, 1e-2, 1e-4);
                check(ctx, "maxpool3s2" + l, () -> new MaxPool2d(3, 2), new int[] {9, 5, 5}, 2, Mode.EVAL, GradCheck.distinct(0.05f), NONE, 1e-2, 1e-4);
                check(ctx, "gap" + l, GlobalAvgPool::new, new int[] {10, 3, 3}, 2, Mode.EVAL, uniform(), NONE, 1e-2, 1e-4);
                check(ctx, "flatten" + l, Flatten::new, new int[] {3, 2, 3}, 2, Mode.EVAL, uniform(), NONE, 1e-2, 1e-4);
            }
        }
    }

    @Test
    void batchNormInBothModesAndLayouts() {
        for (boolean blocked : new boolean[] {false, true}) {
            for (Mode mode : new Mode[] {Mode.EVAL, Mode.TRAIN_FROZEN_STATS}) {
                try (Context ctx = javaContext(blocked)) {
                    String name = "bn " + mode + (blocked ? " blocked" : "");
                    check(ctx, name, () -> new BatchNorm2d(3), new int[] {3, 3, 3}, 4, mode, uniform(), ROperatorTest::randomBatchNorm, 1e-2, 1e-4);
                    check(ctx, name + " 10ch", () -> new BatchNorm2d(10), new int[] {10, 2, 2}, 2, mode, uniform(), ROperatorTest::randomBatchNorm, 1e-2, 1e-4);
                    check(ctx, name + " first", () -> new BatchNorm2d(2), new int[] {2, 2, 3}, 3, mode, uniform(), ROperatorTest::randomBatchNorm, 1e-2, 1e-4, true);
                }
            }
        }
    }

    /**
     * BatchNorm with a fused ReLU: the gates from the output, R{y} and R{dy} gated. blockBatchNorm keeps every
     * output 1.5 away from the kink (whole channels open or shut, random per channel), as the difference quotient needs.
     */
    @Test
    void batchNormWithFusedReluInBothModesAndLayouts() {
        for (boolean blocked : new boolean[] {false, true}) {
            for (Mode mode : new Mode[] {Mode.EVAL, Mode.TRAIN_FROZEN_STATS}) {
                try (Context ctx = javaContext(blocked)) {
                    String name = "bnrelu " + mode + (blocked ? " blocked" : "");
                    check(ctx, name, () -> BatchNorm2d.withRelu(3), new int[] {3, 3, 3}, 4, mode, uniform(), ROperatorTest::blockBatchNorm, 1e-2, 1e-4);
                    check(ctx, name + " 10ch", () -> BatchNorm2d.withRelu(10), new int[] {10, 2, 2}, 2, mode, uniform(), ROperatorTest::blockBatchNorm, 1e-2, 1e-4);
                    check(ctx, name + " first", () -> BatchNorm2d.withRelu(2), new int[] {2, 2, 3}, 3, mode, uniform(), ROperatorTest::blockBatchNorm, 1e-2, 1e-4, true);
                }
            }
        }
    }

    @Test
    void residualBlocksInBothModes() {
        for (Mode mode : new Mode[] {Mode.EVAL, Mode.TRAIN_FROZEN_STATS}) {
            try (Context ctx = javaContext(false)) {
                check(ctx, "basic identity " + mode, () -> new BasicBlock(3, 1), new int[] {3, 4, 4}, 2, mode, uniform(), ROperatorTest::blockBatchNorm, 1e-2, 5e-4);
                check(ctx, "basic projection " + mode, () -> new BasicBlock(4, 2), new int[] {3, 4, 4}, 2, mode, uniform(), ROperatorTest::blockBatchNorm, 1e-2, 5e-4);
                check(ctx, "preact identity " + mode, () -> new PreActBlock(3, 1), new int[] {3, 4, 4}, 2, mode, uniform(), ROperatorTest::blockBatchNorm, 1e-2, 5e-4);
                check(ctx, "preact projection " + mode, () -> new PreActBlock(4, 2), new int[] {3, 4, 4}, 2, mode, uniform(), ROperatorTest::blockBatchNorm, 1e-2, 5e-4);
            }
        }
    }

    @Test
    void softmaxCrossEntropyWithAndWithoutSmoothing() {
        for (float smoothing : new float[] {0f, 0.1f}) {
            try (Context ctx = javaContext(false); Arena a = Arena.ofShared()) {
                int n = 3, k = 5;
                Random r = new Random(9);
                SoftmaxCrossEntropy loss = new SoftmaxCrossEntropy(k, smoothing, ctx);
                MemorySegment z = TestUtil.random(a, n * k, r, -2, 2), rz = TestUtil.random(a, n * k, r, -1, 1);
                int[] labels = {1, 4, 0};
                loss.forward(z, labels, n, true);
                double[] analytic = toDoubles(loss.rBackward(rz, n), n * k);
                double h = 1e-2;
                double[][] f = new double[4][];
                double[] steps = {h, -h, 2 * h, -2 * h};
                MemorySegment zt = a.allocate(4L * n * k, 64);
                for (int s = 0; s < 4; s++) {
                    for (int i = 0; i < n * k; i++) set(zt, i, (float) (get(z, i) + steps[s] * get(rz, i)));
                    loss.forward(zt, labels, n, true);
                    f[s] = toDoubles(loss.grad(), n * k);
                }
                assertClose("softmax-ce smoothing " + smoothing, analytic, richardson(f, h), 1e-4);
            }
        }
    }

    // ---- harness ---------------------------------------------------------------------------------------

    private static GradCheck.Input uniform() {
        return (x, len, r) -> TestUtil.fillRandom(x, len, r, -1, 1);
    }

    private static void check(Context ctx, String name, java.util.function.IntFunction<Layer> make, int width, int[] in, int n,
                              Mode mode, GradCheck.Input input, Consumer<ParameterStore> prepare, double h, double tol) {
        check(ctx, name, () -> make.apply(width), in, n, mode, input, prepare, h, tol, false);
    }

    private static void check(Context ctx, String name, Supplier<Layer> make, int[] in, int n, Mode mode, GradCheck.Input input,
                              Consumer<ParameterStore> prepare, double h, double tol) {
        check(ctx, name, make, in, n, mode, input, prepare, h, tol, false);
    }

    /** {@code firstLayer}: R{x} = 0 (passed as null), as for the data. */
    private static void check(Context ctx, String name, Supplier<Layer> make, int[] in, int n, Mode mode, GradCheck.Input input,
                              Consumer<ParameterStore> prepare, double h, double tol, boolean firstLayer) {
        Layer layer = make.get();
        ParameterStore.Builder b = ParameterStore.builder();
        int[] out = layer.declare(in, name + ".", b, ctx);
        try (ParameterStore store = b.build(); Arena a = Arena.ofShared()) {
            layer.bind(store);
            layer.initialize(store, new SplittableRandom(1));
            prepare.accept(store);
            Random r = new Random(42);
            long inLen = n * ctx.activationSize(in), outLen = n * ctx.activationSize(out), pLen = store.paramLength();
            MemorySegment x = activation(ctx, a, in, n, r, input);
            MemorySegment rx = firstLayer ? a.allocate(4 * inLen, 64) : activation(ctx, a, in, n, r, uniform());
            MemorySegment dy = activation(ctx, a, out, n, r, uniform()), rdy = activation(ctx, a, out, n, r, uniform());
            MemorySegment v = store.newStateBuffer(), hv = store.newStateBuffer(), w0 = store.newStateBuffer();
            for (ParameterStore.Tensor t : store.paramTensors()) TestUtil.fillRandom(store.stateSlice(v, t), t.size(), r, -1, 1);
            MemorySegment.copy(store.params(), 0, w0, 0, 4 * pLen);

            layer.forward(x, n, mode);
            layer.backward(dy, n, true);
            layer.bindCurvature(store, v, hv);
            double[] ry = toDoubles(layer.rForward(firstLayer ? null : rx, n), outLen);
            double[] rdx = toDoubles(layer.rBackward(rdy, n, true, false), inLen);
            double[] h1 = toDoubles(hv, pLen);
            double[] gnDx = toDoubles(layer.rBackward(rdy, n, true, true), inLen);
            double[] gnH = toDoubles(hv, pLen);
            double[] bDx = toDoubles(layer.backward(rdy, n, true), inLen);
            assertClose(name + " Gauss-Newton R{dx}", bDx, gnDx, 1e-6);
            assertClose(name + " Gauss-Newton Hv", toDoubles(store.grads(), pLen), gnH, 1e-6);

            double[] steps = {h, -h, 2 * h, -2 * h};
            double[][] fy = new double[4][], fdx = new double[4][], fg = new double[4][];
            MemorySegment xt = a.allocate(4 * inLen, 64), dyt = a.allocate(4 * outLen, 64);
            for (int s = 0; s < 4; s++) {
                float t = (float) steps[s];
                for (long i = 0; i < inLen; i++) set(xt, i, get(x, i) + t * get(rx, i));
                for (long i = 0; i < outLen; i++) set(dyt, i, get(dy, i) + t * get(rdy, i));
                for (long i = 0; i < pLen; i++) set(store.params(), i, get(w0, i) + t * get(v, i));
                fy[s] = toDoubles(layer.forward(xt, n, mode), outLen);
                fdx[s] = toDoubles(layer.backward(dyt, n, true), inLen);
                fg[s] = toDoubles(store.grads(), pLen);
            }
            MemorySegment.copy(w0, 0, store.params(), 0, 4 * pLen);
            assertClose(name + " R{y}", richardson(fy, h), ry, tol);
            assertClose(name + " R{dx}", richardson(fdx, h), rdx, tol);
            double[] fdH = richardson(fg, h);
            for (ParameterStore.Tensor t : store.paramTensors()) {
                int from = (int) t.offset(), to = (int) (t.offset() + t.size());
                assertClose(name + " Hv " + t.name(), java.util.Arrays.copyOfRange(fdH, from, to), java.util.Arrays.copyOfRange(h1, from, to), tol);
            }
        }
    }

    /** Random values in the context's layout for a per-example shape (blocked: padded lanes zero). */
    private static MemorySegment activation(Context ctx, Arena a, int[] shape, int n, Random r, GradCheck.Input input) {
        long plain = n * Layer.numel(shape);
        MemorySegment p = a.allocate(4 * plain, 64);
        input.fill(p, plain, r);
        if (!ctx.blocked() || shape.length != 3) return p;
        float[] b = TestUtil.blocked(TestUtil.toArray(p, plain), n, shape[0], shape[1] * shape[2], ctx.lanes());
        return TestUtil.floats(a, b);
    }

    private static double[] toDoubles(MemorySegment s, long len) {
        double[] out = new double[(int) len];
        for (int i = 0; i < len; i++) out[i] = get(s, i);
        return out;
    }

    /** The fourth-order central difference from f(h), f(-h), f(2h), f(-2h). */
    private static double[] richardson(double[][] f, double h) {
        double[] d = new double[f[0].length];
        for (int i = 0; i < d.length; i++) d[i] = (8 * (f[0][i] - f[1][i]) - (f[2][i] - f[3][i])) / (12 * h);
        return d;
    }

    /** ||actual - expected|| <= tol ||expected|| (+ a floor for an all-zero expectation). */
    static void assertClose(String what, double[] expected, double[] actual, double tol) {
        double diff = 0, norm = 0;
        for (int i = 0; i < expected.length; i++) {
            diff += (actual[i] - expected[i]) * (actual[i] - expected[i]);
            norm += expected[i] * expected[i];
        }
        diff = Math.sqrt(diff);
        norm = Math.sqrt(norm);
        assertTrue(diff <= tol * norm + 1e-6, what + ": relative error " + diff / norm + " (|expected| " + norm + ", tol " + tol + ")");
    }
}
