package io.sam4j.formats;

import io.sam4j.nn.Context;
import io.sam4j.nn.Model;
import io.sam4j.nn.Models;
import io.sam4j.nn.ParameterStore;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sam4j.TestUtil;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StateDictTest {
    @TempDir
    Path tmp;

    private static Model mlp(int classes, long seed) {
        Model m = new Model("mlp", Models.mlp(classes), new int[] {1, 28, 28}, classes, 0f,
                new Context(new Parallel(1), KernelsProvider.get()));
        m.initialize(seed);
        return m;
    }

    @Test
    void roundTripIsExact() {
        Path f = tmp.resolve("w.safetensors");
        try (Model a = mlp(10, 1); Model b = mlp(10, 2)) {
            StateDict.save(a.store(), f);
            StateDict.load(b.store(), f);
            long n = a.store().paramLength();
            assertArrayEquals(TestUtil.toArray(a.store().params(), n), TestUtil.toArray(b.store().params(), n));
        }
    }

    @Test
    void mismatchesAreListed() {
        Path f = tmp.resolve("w.safetensors");
        try (Model a = mlp(10, 1); Model b = mlp(7, 2)) {
            StateDict.save(a.store(), f);
            FormatException e = assertThrows(FormatException.class, () -> StateDict.load(b.store(), f));
            assertTrue(e.getMessage().contains("fc3.weight has shape [10, 256]"), e.getMessage());
            assertTrue(e.getMessage().contains("fc3.bias"), e.getMessage());
        }
    }

    @Test
    void initialisationFollowsPyTorchBounds() {
        try (Model a = mlp(10, 3)) {
            ParameterStore s = a.store();
            for (ParameterStore.Tensor t : s.paramTensors()) {
                long fanIn = t.shape().length == 2 ? t.shape()[1] : t.name().startsWith("fc1") ? 784 : 256;
                double bound = 1 / Math.sqrt(fanIn), max = 0;
                float[] v = TestUtil.toArray(s.slice(t), t.size());
                for (float x : v) max = Math.max(max, Math.abs(x));
                assertTrue(max <= bound && max > 0.9 * bound, t.name() + ": max |w| " + max + " vs bound " + bound);
            }
        }
    }
}
