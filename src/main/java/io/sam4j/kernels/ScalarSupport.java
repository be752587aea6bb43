package io.sam4j.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;

/** Element access shared by the scalar reference kernels. */
final class ScalarSupport {
    private ScalarSupport() {}

    static float get(MemorySegment s, long i) { return s.getAtIndex(JAVA_FLOAT, i); }

    static void set(MemorySegment s, long i, float v) { s.setAtIndex(JAVA_FLOAT, i, v); }
}
