package io.sam4j.nn;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

/** Parameter initialisers (PyTorch's defaults are expressed with these). */
public final class Init {
    private Init() {}

    public static void uniform(MemorySegment s, float lo, float hi, SplittableRandom rng) {
        long n = s.byteSize() / 4;
        for (long i = 0; i < n; i++) s.setAtIndex(JAVA_FLOAT, i, (float) (lo + (hi - lo) * rng.nextDouble()));
    }

    public static void constant(MemorySegment s, float v) {
        long n = s.byteSize() / 4;
        for (long i = 0; i < n; i++) s.setAtIndex(JAVA_FLOAT, i, v);
    }
}
