package io.sam4j.sharpness;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sam4j.dnnl.OneDnnConvBackend;
import io.sam4j.kernels.FlatOps;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import io.sam4j.nn.BasicBlock;
import io.sam4j.nn.BatchNorm2d;
import io.sam4j.nn.Context;
import io.sam4j.nn.Conv2d;
import io.sam4j.nn.Flatten;
import io.sam4j.nn.GlobalAvgPool;
import io.sam4j.nn.Linear;
import io.sam4j.nn.MaxPool2d;
import io.sam4j.nn.Mode;
import io.sam4j.nn.Model;
import io.sam4j.nn.ParameterStore;
import io.sam4j.nn.PreActBlock;
import io.sam4j.nn.ReLU;
import io.sam4j.formats.SafeTensors;
import io.sam4j.nn.Sequential;
import io.sam4j.formats.StateDict;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Whole models against exact float64 PyTorch double backward on checked-in fixtures
 * ({@code src/test/resources/hessian}, made by {@code bench/hessian/make_fixtures.py}): tiny mlp, cnn (label
 * smoothing 0.1) and a ResNet-like net with both residual block kinds and both shortcut kinds, BatchNorm in
 * eval and in train mode. Hv and Gv to 1e-5 relative (float32 against float64), lambda_max by Lanczos to
 * 1e-4, the trace by Hutch++ within 3 s.e. + 5 % (and, on the mlp, exactly: D products along the basis vectors, to 1e-3).
 */
class ExactHessianFixtureTest {
    private static final Parallel PAR = new Parallel(2);

    @AfterAll
    static void close() {
        PAR.close();
    }

    static Sequential mlpNet() {
        return new Sequential().add(null, new Flatten()).add("fc1", new Linear(16)).add(null, new ReLU()).add("fc2", new Linear(10));
    }

    static Sequential cnnNet() {
        return new Sequential()
                .add("conv1", new Conv2d(4, 3, 1, 1, false)).add("bn1", new BatchNorm2d(4)).add(null, new ReLU()).add(null, new MaxPool2d(2))
                .add("conv2", new Conv2d(8, 3, 1, 1, false)).add("bn2", new BatchNorm2d(8)).add(null, new ReLU()).add(null, new MaxPool2d(2))
                .add(null, new Flatten()).add("fc1", new Linear(16)).add(null, new ReLU()).add("fc2", new Linear(10));
    }

    static Sequential resnetNet() {
        return new Sequential()
                .add("conv1", new Conv2d(4, 3, 1, 1, false)).add("bn1", new BatchNorm2d(4)).add(null, new ReLU())
                .add("layer1", new BasicBlock(4, 1)).add("layer2", new BasicBlock(6, 2))
                .add("block3", new PreActBlock(6, 1)).add("block4", new PreActBlock(6, 2))
                .add(null, new GlobalAvgPool()).add("linear", new Linear(10));
    }

    /** A fixture loaded into a Java model: the model, its one batch, and the fixture's tensors and scalars. */
    record Fixture(Model model, ModelOracle.Batch batch, SafeTensors.Loaded tensors, JsonNode scalars, Arena arena) implements AutoCloseable {
        @Override
        public void close() {
            model.close();
            arena.close();
        }

        /** A flat fixture vector (PyTorch's parameter order) into a buffer of the store's layout. */
        MemorySegment vector(String name, MemorySegment into) {
            float[] v = tensors.tensor(name).values();
            int k = 0;
            for (ParameterStore.Tensor t : model.store().paramTensors()) {
                MemorySegment.copy(v, k, model.store().stateSlice(into, t), JAVA_FLOAT, 0, (int) t.size());
                k += (int) t.size();
            }
            assertEquals(v.length, k, name + ": parameter count");
            return into;
        }
    }

    static Fixture load(String name, Sequential net, int[] input, Context ctx) throws IOException {
        byte[] bytes, json;
        try (InputStream in = ExactHessianFixtureTest.class.getResourceAsStream("/hessian/" + name + ".safetensors");
             InputStream js = ExactHessianFixtureTest.class.getResourceAsStream("/hessian/" + name + ".json")) {
            bytes = in.readAllBytes();
            json = js.readAllBytes();
        }
        SafeTensors.Loaded loaded = SafeTensors.read(bytes, name);
        JsonNode scalars = new ObjectMapper().readTree(json);
        Model m = new Model(name, net, input, 10, (float) scalars.get("label_smoothing").asDouble(), ctx);
        StateDict.load(m.store(), loaded, name, n -> n.startsWith("fixture."));
        Arena a = Arena.ofShared();
        float[] x = loaded.tensor("fixture.x").values(), y = loaded.tensor("fixture.y").values();
        MemorySegment xs = a.allocate(4L * x.length, 64);
        MemorySegment.copy(x, 0, xs, JAVA_FLOAT, 0, x.length);
        int[] labels = new int[y.length];
        for (int i = 0; i < y.length; i++) labels[i] = (int) y[i];
        return new Fixture(m, new ModelOracle.Batch(xs, labels, labels.length), loaded, scalars, a);
    }

    private static Context javaContext() {
        return new Context(PAR, KernelsProvider.get());
    }

    @Test
    void mlp() throws IOException {
        try (Fixture f = load("mlp", mlpNet(), new int[] {1, 6, 6}, javaContext())) {
            checkProducts(f, "eval", Mode.EVAL);
            double trH = checkSpectrum(f, "eval", Mode.EVAL, true);
            // A ReLU net is piecewise linear in each weight, so the residual term of H has a zero diagonal: tr H = tr G.
            try (ModelOracle o = new ModelOracle(f.model(), List.of(f.batch()), Mode.EVAL);
                 ExactHessianVectorProduct g = new ExactHessianVectorProduct(o, true)) {
                assertEquals(trH, exactTrace(g), 1e-4 * Math.abs(trH), "tr G = tr H on a ReLU MLP");
            }
        }
    }

    @Test
    void cnnOnTheJavaBackend() throws IOException {
        cnn(this::javaContextFor, true);
    }

    /** The products only: oneDNN's per-call cost on these tiny shapes makes hundreds of products slow. */
    @Test
    void cnnOnOneDnn() throws IOException {
        cnn(this::oneDnnContext, false);
    }

    private Context javaContextFor(Boolean blocked) {
        return javaContext();
    }

    private Context oneDnnContext(Boolean blocked) {
        Optional<OneDnnConvBackend> b = OneDnnConvBackend.tryCreate(2);
        assumeTrue(b.isPresent(), "oneDNN is not available here: " + OneDnnConvBackend.unavailableReason().orElse("?"));
        return new Context(PAR, KernelsProvider.get(), b.get()).allowBlocked(blocked);
    }

    private void cnn(Function<Boolean, Context> ctx, boolean spectrum) throws IOException {
        try (Fixture f = load("cnn", cnnNet(), new int[] {1, 8, 8}, ctx.apply(false))) {
            for (Mode mode : new Mode[] {Mode.EVAL, Mode.TRAIN_FROZEN_STATS}) {
                String key = mode == Mode.EVAL ? "eval" : "train";
                checkProducts(f, key, mode);
                if (spectrum) checkSpectrum(f, key, mode, false);
            }
        }
    }

    @Test
    void resnetBlocksOnTheJavaBackend() throws IOException {
        try (Fixture f = load("resnet", resnetNet(), new int[] {3, 6, 6}, javaContext())) {
            for (Mode mode : new Mode[] {Mode.EVAL, Mode.TRAIN_FROZEN_STATS}) {
                String key = mode == Mode.EVAL ? "eval" : "train";
                checkProducts(f, key, mode);
                checkSpectrum(f, key, mode, false);
            }
        }
    }

    @Test
    void analysisReportsTheExactNumbersWithBothTraceEstimators() throws IOException {
        try (Fixture f = load("cnn", cnnNet(), new int[] {1, 8, 8}, javaContext())) {
            JsonNode s = f.scalars().get("train");
            byte[] before = DenseProblem.bytes(f.model().store().params());
            for (Sharpness.TraceMethod method : Sharpness.TraceMethod.values()) {
                try (ModelOracle o = new ModelOracle(f.model(), List.of(f.batch()), Mode.TRAIN_FROZEN_STATS)) {
                    SharpnessReport r = Sharpness.analyse(o, Sharpness.Options.defaults().withTopK(3).withTraceSamples(60)
                            .withTraceTol(0).withTraceMethod(method), Sharpness.Progress.NONE);
                    assertEquals("exact", r.hvp());
                    assertEquals("lanczos", r.eigenMethod());
                    assertEquals(s.get("loss").asDouble(), r.loss(), 1e-5);
                    for (int i = 0; i < 3; i++) {
                        double e = s.get("top5").get(i).asDouble();
                        assertEquals(e, r.topEigenvalues().get(i), 1e-3 * e, "top " + (i + 1));
                    }
                    double trace = s.get("trace").asDouble();
                    assertEquals(trace, r.trace(), 3 * r.traceStdError() + 0.05 * trace, method + " trace");
                    assertTrue(r.hvpStep() == null && !r.toJson().contains("NaN"));
                }
            }
            assertTrue(java.util.Arrays.equals(before, DenseProblem.bytes(f.model().store().params())), "weights untouched");
        }
    }

    /** Whole models in nChw8c: only where oneDNN computes in it (AVX2), as the models decide. */
    @Test
    void blockedModelsWhereOneDnnPrefersThem() throws IOException {
        try (Fixture f = load("resnet", resnetNet(), new int[] {3, 6, 6}, oneDnnContext(true))) {
            assumeTrue(f.model().blocked(), "oneDNN does not prefer nChw8c on this CPU, so models stay NCHW here "
                    + "(the blocked R-passes are tested layer by layer in ROperatorTest)");
            for (Mode mode : new Mode[] {Mode.EVAL, Mode.TRAIN_FROZEN_STATS}) checkProducts(f, mode == Mode.EVAL ? "eval" : "train", mode);
        }
    }

    /** Hv and Gv along the fixture's v against PyTorch's, and the symmetry of H. */
    private static void checkProducts(Fixture f, String key, Mode mode) {
        try (ModelOracle o = new ModelOracle(f.model(), List.of(f.batch()), mode);
             ExactHessianVectorProduct h = new ExactHessianVectorProduct(o, false);
             ExactHessianVectorProduct g = new ExactHessianVectorProduct(o, true)) {
            MemorySegment v = f.vector("fixture.v." + key, h.newBuffer()), out = h.newBuffer();
            h.apply(v, out);
            assertRelative(f.model().name() + " " + key + " Hv", f.vector("fixture.hv." + key, h.newBuffer()), out, h.ops(), h.length(), 1e-5);
            g.apply(v, out);
            assertRelative(f.model().name() + " " + key + " Gv", f.vector("fixture.gv." + key, h.newBuffer()), out, h.ops(), h.length(), 1e-5);
            MemorySegment u = h.newBuffer(), hu = h.newBuffer(), hv = h.newBuffer();
            RandomVectors.gaussian(h.store(), h.ops(), u, new java.util.SplittableRandom(3));
            h.apply(u, hu);
            h.apply(v, hv);
            double a = h.ops().dot(u, hv, h.length()), b = h.ops().dot(v, hu, h.length());
            assertEquals(a, b, 1e-5 * Math.abs(a) + 1e-6, "u^T H v = v^T H u");
        }
    }

    /** lambda_max by Lanczos to 1e-4; with {@code exactTrace} the trace along every basis vector to 1e-3; Hutch++ within 3 s.e. + 5 %. */
    private static double checkSpectrum(Fixture f, String key, Mode mode, boolean exactTrace) {
        JsonNode s = f.scalars().get(key);
        double lambdaMax = s.get("lambda_max").asDouble(), trace = s.get("trace").asDouble();
        try (ModelOracle o = new ModelOracle(f.model(), List.of(f.batch()), mode);
             ExactHessianVectorProduct h = new ExactHessianVectorProduct(o, false)) {
            Lanczos.Result r = new Lanczos(h).seed(1).top(1);
            assertEquals(lambdaMax, r.top().get(0).value(), 1e-4 * lambdaMax, f.model().name() + " " + key + " lambda_max");
            HutchPlusPlus.Estimate pp = new HutchPlusPlus(h).seed(2).estimate(90);
            assertEquals(trace, pp.trace(), 3 * pp.stdError() + 0.05 * Math.abs(trace), f.model().name() + " " + key + " Hutch++ trace");
            if (!exactTrace) return trace;
            double t = exactTrace(h);
            assertEquals(trace, t, 1e-3 * Math.abs(trace), f.model().name() + " " + key + " exact trace");
            return t;
        }
    }

    /** sum_i e_i^T A e_i over every real parameter. */
    private static double exactTrace(CurvatureOperator a) {
        MemorySegment e = a.newBuffer(), out = a.newBuffer();
        double t = 0;
        for (ParameterStore.Tensor tensor : a.store().paramTensors()) {
            for (long i = tensor.offset(); i < tensor.offset() + tensor.size(); i++) {
                e.setAtIndex(JAVA_FLOAT, i, 1f);
                a.apply(e, out);
                t += out.getAtIndex(JAVA_FLOAT, i);
                e.setAtIndex(JAVA_FLOAT, i, 0f);
            }
        }
        return t;
    }

    private static void assertRelative(String what, MemorySegment expected, MemorySegment actual, FlatOps ops, long n, double tol) {
        double norm = Math.sqrt(ops.sumSquares(expected, n)), diff = 0;
        for (long i = 0; i < n; i++) {
            double d = actual.getAtIndex(JAVA_FLOAT, i) - expected.getAtIndex(JAVA_FLOAT, i);
            diff += d * d;
        }
        assertTrue(Math.sqrt(diff) <= tol * norm, what + ": relative error " + Math.sqrt(diff) / norm);
    }
}
