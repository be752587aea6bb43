package io.sam4j.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

/** Buffers and comparisons shared by the kernel tests. */
final class KernelTestSupport {
    private KernelTestSupport() {}

    /** 64-byte aligned float buffer of n elements, uniform in [lo, hi). */
    static MemorySegment random(Arena arena, long n, SplittableRandom rnd, float lo, float hi) {
        MemorySegment s = arena.allocate(4L * n, 64);
        for (long i = 0; i < n; i++) s.setAtIndex(JAVA_FLOAT, i, lo + (hi - lo) * (float) rnd.nextDouble());
        return s;
    }

    static MemorySegment copyOf(Arena arena, MemorySegment src) {
        if (src == null) return null;
        MemorySegment s = arena.allocate(src.byteSize(), 64);
        s.copyFrom(src);
        return s;
    }

    static MemorySegment of(Arena arena, float... v) {
        MemorySegment s = arena.allocate(4L * v.length, 64);
        for (int i = 0; i < v.length; i++) s.setAtIndex(JAVA_FLOAT, i, v[i]);
        return s;
    }

    static float at(MemorySegment s, long i) {
        return s.getAtIndex(JAVA_FLOAT, i);
    }

    /**
     * Element-wise agreement up to FMA rounding: 8 ulps of max(|a|, |b|, 1). Inputs are O(1), so the
     * floor of 1 covers results that come out of cancellation (their error is ulps of the operands).
     */
    static void assertClose(String what, MemorySegment expected, MemorySegment actual) {
        if (expected == null && actual == null) return;
        long n = expected.byteSize() / 4;
        for (long i = 0; i < n; i++) {
            float e = at(expected, i), a = at(actual, i);
            float tol = 8 * Math.ulp(Math.max(1f, Math.max(Math.abs(e), Math.abs(a))));
            if (!(Math.abs(e - a) <= tol)) fail(what + " [" + i + "]: expected " + e + " got " + a + " (tol " + tol + ")");
        }
    }

    /** Bit-identical buffers. */
    static void assertSame(String what, MemorySegment expected, MemorySegment actual) {
        long n = expected.byteSize() / 4;
        for (long i = 0; i < n; i++) {
            int e = Float.floatToRawIntBits(at(expected, i)), a = Float.floatToRawIntBits(at(actual, i));
            if (e != a) fail(what + " [" + i + "]: expected " + at(expected, i) + " got " + at(actual, i));
        }
    }

    /** A reduction within {@code rel} of the sum of |terms| ({@code scale}), which bounds its rounding error. */
    static void assertSum(String what, double expected, double actual, double scale, double rel) {
        if (!(Math.abs(expected - actual) <= rel * scale)) {
            fail(what + ": expected " + expected + " got " + actual + " (|diff| " + Math.abs(expected - actual)
                    + " > " + rel * scale + ")");
        }
    }

    /** Sum of |x[i] * y[i]| over [from, to) in double. */
    static double absDot(MemorySegment x, MemorySegment y, long from, long to) {
        double s = 0;
        for (long i = from; i < to; i++) s += Math.abs((double) at(x, i) * at(y, i));
        return s;
    }
}
