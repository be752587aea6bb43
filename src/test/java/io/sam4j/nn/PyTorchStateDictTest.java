package io.sam4j.nn;

import io.sam4j.formats.StateDict;
import io.sam4j.formats.SafeTensors;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * State dicts that PyTorch itself wrote ({@code bench/fixtures/make_pytorch_fixtures.py}: mlp and cnn at full
 * size, resnet18, vgg16bn and WideResNet at a tiny width) load into sam4j's models, compute PyTorch's logits,
 * and come back out with PyTorch's names, shapes and dtypes (I64 {@code num_batches_tracked}).
 */
class PyTorchStateDictTest {
    @TempDir
    Path tmp;

    /** The sam4j network of each fixture and its input shape (C, H, W). */
    private record Arch(Supplier<Layer> net, int[] input) {}

    private static final Map<String, Arch> ARCHS = Map.of(
            "mlp", new Arch(() -> Models.mlp(10), new int[] {1, 28, 28}),
            "cnn", new Arch(() -> Models.cnn(10), new int[] {1, 28, 28}),
            "resnet18-w4", new Arch(() -> Models.resnet18(10, 4), new int[] {3, 16, 16}),
            "vgg16bn-d16", new Arch(() -> Models.vgg16bn(10, 16), new int[] {3, 32, 32}),
            "wrn10-1", new Arch(() -> Models.wideResNet(10, 1, 10), new int[] {3, 8, 8}));

    static SafeTensors.Loaded resource(String name) {
        try (InputStream in = PyTorchStateDictTest.class.getResourceAsStream("/pytorch/" + name)) {
            assertNotNull(in, "missing test resource /pytorch/" + name + " (bench/fixtures/make_pytorch_fixtures.py)");
            return SafeTensors.read(in.readAllBytes(), name);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Model model(String fixture) {
        Arch a = ARCHS.get(fixture);
        Model m = new Model(fixture, a.net().get(), a.input(), 10, 0f, Context.defaults());
        m.initialize(7);
        return m;
    }

    @ParameterizedTest
    @ValueSource(strings = {"mlp", "cnn", "resnet18-w4", "vgg16bn-d16", "wrn10-1"})
    void aPyTorchStateDictLoadsAndComputesPyTorchsLogits(String fixture) {
        SafeTensors.Loaded pt = resource(fixture + ".safetensors");
        SafeTensors.Loaded io = resource(fixture + ".io.safetensors");
        try (Model m = model(fixture); Arena arena = Arena.ofShared()) { // the thread team reads the batch
            assertNull(StateDict.load(m.store(), pt, fixture, n -> false).note(fixture), "every key is there");
            for (ParameterStore.Tensor t : m.store().allTensors()) {
                if (t.counter()) assertEquals(3L, m.store().slice(t).get(JAVA_LONG, 0), t.name() + ": three training forwards");
            }
            float[] x = io.tensor("x").values(), want = io.tensor("logits").values();
            int n = (int) io.tensor("x").shape()[0];
            MemorySegment xs = arena.allocate(4L * x.length, 64);
            MemorySegment.copy(x, 0, xs, JAVA_FLOAT, 0, x.length);
            float[] got = m.logits(xs, n, Mode.EVAL).asSlice(0, 4L * want.length).toArray(JAVA_FLOAT);
            double scale = 0;
            for (float v : want) scale = Math.max(scale, Math.abs(v));
            for (int i = 0; i < want.length; i++) {
                assertEquals(want[i], got[i], 1e-4 * Math.max(1, scale), fixture + " logit " + i);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"mlp", "cnn", "resnet18-w4", "vgg16bn-d16", "wrn10-1"})
    void savedStateDictHasPyTorchsNamesShapesDtypesAndValues(String fixture) {
        SafeTensors.Loaded pt = resource(fixture + ".safetensors");
        Path f = tmp.resolve(fixture + ".safetensors");
        try (Model m = model(fixture)) {
            StateDict.load(m.store(), pt, fixture, n -> false);
            StateDict.save(m.store(), f);
        }
        SafeTensors.Loaded ours = SafeTensors.read(f);
        assertEquals(new java.util.TreeSet<>(pt.tensors().keySet()), new java.util.TreeSet<>(ours.tensors().keySet()));
        for (Map.Entry<String, SafeTensors.Tensor> e : pt.tensors().entrySet()) {
            SafeTensors.Tensor a = e.getValue(), b = ours.tensor(e.getKey());
            assertEquals(a.dtype(), b.dtype(), e.getKey());
            assertArrayEquals(a.shape(), b.shape(), e.getKey());
            assertArrayEquals(a.values(), b.values(), e.getKey());
            if (a.isInteger()) assertArrayEquals(a.integers(), b.integers(), e.getKey());
        }
    }

    /** Older or hand-made state dicts lack num_batches_tracked: they load, the counters start at 0, one note says so. */
    @Test
    void aFileWithoutNumBatchesTrackedLoadsWithANote() {
        SafeTensors.Loaded pt = resource("cnn.safetensors");
        Map<String, SafeTensors.Tensor> kept = new LinkedHashMap<>(pt.tensors());
        kept.keySet().removeIf(k -> k.endsWith("num_batches_tracked"));
        try (Model m = model("cnn")) {
            StateDict.LoadResult r = StateDict.load(m.store(), new SafeTensors.Loaded(Map.of(), kept), "old.safetensors", n -> false);
            assertEquals(List.of("bn1.num_batches_tracked", "bn2.num_batches_tracked"), r.missingCounters());
            assertEquals("old.safetensors has no bn1.num_batches_tracked (nor 1 other counters); starting them at 0",
                    r.note("old.safetensors"));
            assertEquals(0L, m.store().slice(m.store().tensor("bn2.num_batches_tracked")).get(JAVA_LONG, 0));
        }
    }

    /** sam4j files of before this change stored the counters as F32: they still load, by value. */
    @Test
    void floatCountersOfOlderSam4jFilesLoadByValue() {
        SafeTensors.Loaded pt = resource("cnn.safetensors");
        Map<String, SafeTensors.Tensor> asFloat = new LinkedHashMap<>();
        pt.tensors().forEach((k, t) -> asFloat.put(k, t.isInteger() ? new SafeTensors.Tensor("F32", t.shape(), t.values()) : t));
        try (Model m = model("cnn")) {
            StateDict.load(m.store(), new SafeTensors.Loaded(Map.of(), asFloat), "f32.safetensors", n -> false);
            assertEquals(3L, m.store().slice(m.store().tensor("bn1.num_batches_tracked")).get(JAVA_LONG, 0));
            List<String> problems = new ArrayList<>();
            asFloat.put("bn1.num_batches_tracked", new SafeTensors.Tensor("F32", new long[0], new float[] {2.5f}));
            try {
                StateDict.load(m.store(), new SafeTensors.Loaded(Map.of(), asFloat), "f32.safetensors", n -> false);
            } catch (io.sam4j.formats.FormatException e) {
                problems.add(e.getMessage());
            }
            assertEquals(1, problems.size());
            assertTrue(problems.getFirst().contains("bn1.num_batches_tracked holds a non-integer value"), problems.getFirst());
        }
    }
}
