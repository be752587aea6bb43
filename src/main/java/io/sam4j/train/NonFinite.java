package io.sam4j.train;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import io.sam4j.nn.ParameterStore;
import io.sam4j.optim.StepStats;
import java.lang.foreign.MemorySegment;

/** Finding NaN and Inf: in a step's statistics (free, every step) and, once something is off, in the tensors. */
final class NonFinite {
    private NonFinite() {}

    /** True when the loss or a gradient norm of the step is NaN or infinite (norms a plain optimizer skips are NaN by design). */
    static boolean in(StepStats s) {
        boolean sam = !Double.isNaN(s.lossAdv()) || !Double.isNaN(s.advGradNorm());
        return !Double.isFinite(s.loss()) || !Double.isFinite(s.gradNorm())
                || (sam && (!Double.isFinite(s.lossAdv()) || !Double.isFinite(s.advGradNorm())));
    }

    /**
     * The first tensor holding a NaN or an infinity, as "the gradient of fc1.weight holds NaN (element 7)", or null:
     * gradients first when {@code grads}, then parameters, then float buffers.
     */
    static String firstIn(ParameterStore store, boolean grads) {
        if (grads) {
            for (ParameterStore.Tensor t : store.paramTensors()) {
                String bad = scan(store.gradSlice(t));
                if (bad != null) return "the gradient of " + t.name() + " holds " + bad;
            }
        }
        for (ParameterStore.Tensor t : store.allTensors()) {
            if (t.counter()) continue;
            String bad = scan(store.slice(t));
            if (bad != null) return t.name() + " holds " + bad;
        }
        return null;
    }

    private static String scan(MemorySegment s) {
        long n = s.byteSize() / 4;
        for (long i = 0; i < n; i++) {
            float v = s.getAtIndex(JAVA_FLOAT, i);
            if (!Float.isFinite(v)) return (Float.isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf") + " (element " + i + ")";
        }
        return null;
    }
}
