package io.sam4j.sharpness;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import io.sam4j.kernels.FlatOps;
import io.sam4j.nn.ParameterStore;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

/**
 * Random probe vectors in the parameter layout: drawn on the real entries of each trainable tensor in
 * declaration order, zero on the padding between tensors (so the parameters' padding stays zero when
 * the diagnostics move along them). Deterministic for a given generator state.
 */
final class RandomVectors {
    private RandomVectors() {}

    /** Independent standard normal entries (PyHessian's {@code torch.randn} start of power iteration). */
    static void gaussian(ParameterStore store, FlatOps ops, MemorySegment v, SplittableRandom rng) {
        ops.fill(0f, v, store.paramLength());
        for (ParameterStore.Tensor t : store.paramTensors()) {
            long end = t.offset() + t.size();
            for (long i = t.offset(); i < end; i++) v.setAtIndex(JAVA_FLOAT, i, (float) rng.nextGaussian());
        }
    }

    /** Independent +-1 entries with probability 1/2 each (Hutchinson's Rademacher probes). */
    static void rademacher(ParameterStore store, FlatOps ops, MemorySegment v, SplittableRandom rng) {
        ops.fill(0f, v, store.paramLength());
        long bits = 0;
        int left = 0;
        for (ParameterStore.Tensor t : store.paramTensors()) {
            long end = t.offset() + t.size();
            for (long i = t.offset(); i < end; i++) {
                if (left == 0) {
                    bits = rng.nextLong();
                    left = 64;
                }
                v.setAtIndex(JAVA_FLOAT, i, (bits & 1) == 0 ? 1f : -1f);
                bits >>>= 1;
                left--;
            }
        }
    }

    /** True when every float of {@code v} outside the trainable tensors' ranges is +0 or -0. */
    static boolean paddingIsZero(ParameterStore store, MemorySegment v) {
        long pos = 0;
        for (ParameterStore.Tensor t : store.paramTensors()) {
            for (long i = pos; i < t.offset(); i++) if (v.getAtIndex(JAVA_FLOAT, i) != 0f) return false;
            pos = t.offset() + t.size();
        }
        for (long i = pos; i < store.paramLength(); i++) if (v.getAtIndex(JAVA_FLOAT, i) != 0f) return false;
        return true;
    }
}
