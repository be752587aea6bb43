package io.sam4j.nn;

import static io.sam4j.TestUtil.get;
import static io.sam4j.TestUtil.random;
import static io.sam4j.TestUtil.set;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Central finite differences of a scalar objective against the analytic gradient, element by element.
 * The objective is evaluated in double over float forward passes.
 */
final class GradCheck {
    interface Objective {
        double value();
    }

    /**
     * Checks {@code analytic[i]} against (f(x+h) - f(x-h)) / 2h for up to {@code samples} indices of
     * {@code x}, perturbing x in place and restoring it.
     */
    static void check(String what, MemorySegment x, long n, MemorySegment analytic, Objective f, float h,
                      double absTol, double relTol, int samples, Random r) {
        check(what, x, n, analytic, f, h, absTol, relTol, samples, r, false);
    }

    /**
     * As above; with {@code allowKinks}, for functions with ReLUs deep inside (whose kinks a step may
     * straddle, however small): a sample whose central difference disagrees still passes when its two
     * one-sided slopes disagree with each other (a kink lies within h) and one of them matches the
     * analytic value. At most a tenth of the samples may pass that way.
     */
    static void check(String what, MemorySegment x, long n, MemorySegment analytic, Objective f, float h,
                      double absTol, double relTol, int samples, Random r, boolean allowKinks) {
        int checked = 0, kinks = 0;
        double base = allowKinks ? f.value() : Double.NaN;
        for (int s = 0; s < Math.min(samples, n); s++) {
            long i = n <= samples ? s : (long) (r.nextDouble() * n);
            float orig = get(x, i);
            set(x, i, orig + h);
            double plus = f.value();
            set(x, i, orig - h);
            double minus = f.value();
            set(x, i, orig);
            double fd = (plus - minus) / (2.0 * h);
            double an = get(analytic, i);
            checked++;
            if (allowKinks && !close(fd, an, absTol, relTol)) {
                double right = (plus - base) / h, left = (base - minus) / h;
                if (!close(left, right, absTol, relTol) && (close(left, an, absTol, relTol) || close(right, an, absTol, relTol))) {
                    kinks++;
                    continue;
                }
            }
            assertEquals(fd, an, absTol + relTol * Math.abs(fd), what + "[" + i + "]: finite difference " + fd + " vs analytic " + an);
        }
        assertTrue(checked > 0, what + ": nothing checked");
        assertTrue(kinks * 10 <= checked, what + ": " + kinks + " of " + checked + " samples only matched one-sided");
    }

    private static boolean close(double expected, double actual, double absTol, double relTol) {
        return Math.abs(expected - actual) <= absTol + relTol * Math.abs(expected);
    }

    /** sum_i c_i y_i in double: a random linear read-out makes every output element matter. */
    static double dotOut(MemorySegment y, MemorySegment c, long len) {
        double s = 0;
        for (long i = 0; i < len; i++) s += (double) get(y, i) * get(c, i);
        return s;
    }

    /** Fills the input of a layer check. */
    interface Input {
        void fill(MemorySegment x, long len, Random r);
    }

    /** Uniform in [lo, hi], moved at least 0.05 away from 0 so that ReLU's kink is out of the step's reach. */
    static Input uniformAwayFromZero(float lo, float hi) {
        return (x, len, r) -> {
            io.sam4j.TestUtil.fillRandom(x, len, r, lo, hi);
            for (long i = 0; i < len; i++) {
                float v = get(x, i);
                if (Math.abs(v) < 0.05f) set(x, i, v < 0 ? -0.05f - v : 0.05f + v);
            }
        };
    }

    /** Distinct values {@code gap} apart in random order, centred on 0: no ties for max-pooling. */
    static Input distinct(float gap) {
        return (x, len, r) -> {
            long[] order = new long[(int) len];
            for (int i = 0; i < len; i++) order[i] = i;
            for (int i = (int) len - 1; i > 0; i--) {
                int j = r.nextInt(i + 1);
                long t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            for (int i = 0; i < len; i++) set(x, i, (order[i] - len / 2f) * gap);
        };
    }

    /**
     * Builds a store around one layer (initialised, then {@code prepare}d) and checks dx and every
     * parameter gradient against central differences of sum_i c_i y_i, the forward run in {@code mode}.
     */
    static void checkLayer(Context ctx, String name, Layer layer, int[] inShape, int n, Mode mode, Input input,
                           Consumer<ParameterStore> prepare, float h, double absTol, double relTol) {
        checkLayer(ctx, name, layer, inShape, n, mode, input, prepare, h, absTol, relTol, false);
    }

    /** As above; {@code allowKinks} as in {@link #check(String, MemorySegment, long, MemorySegment, Objective, float, double, double, int, Random, boolean)}. */
    static void checkLayer(Context ctx, String name, Layer layer, int[] inShape, int n, Mode mode, Input input,
                           Consumer<ParameterStore> prepare, float h, double absTol, double relTol, boolean allowKinks) {
        ParameterStore.Builder b = ParameterStore.builder();
        int[] outShape = layer.declare(inShape, name + ".", b, ctx);
        try (ParameterStore store = b.build(); Arena a = Arena.ofShared()) {
            layer.bind(store);
            layer.initialize(store, new SplittableRandom(1));
            prepare.accept(store);
            Random r = new Random(42);
            long inLen = n * Layer.numel(inShape), outLen = n * Layer.numel(outShape);
            MemorySegment x = a.allocate(4 * inLen, 64);
            input.fill(x, inLen, r);
            MemorySegment c = random(a, outLen, r, -1, 1);
            Objective f = () -> dotOut(layer.forward(x, n, mode), c, outLen);
            f.value();
            MemorySegment dx = layer.backward(c, n, true);
            MemorySegment dxCopy = a.allocate(4 * inLen, 64);
            MemorySegment.copy(dx, 0, dxCopy, 0, 4 * inLen);
            MemorySegment gradCopy = a.allocate(store.grads().byteSize(), 64);
            MemorySegment.copy(store.grads(), 0, gradCopy, 0, store.grads().byteSize());
            check(name + " dx", x, inLen, dxCopy, f, h, absTol, relTol, 60, r, allowKinks);
            for (ParameterStore.Tensor t : store.paramTensors()) {
                check(t.name(), store.slice(t), t.size(), store.stateSlice(gradCopy, t), f, h, absTol, relTol, 60, r, allowKinks);
            }
        }
    }
}
