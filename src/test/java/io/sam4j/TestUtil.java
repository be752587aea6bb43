package io.sam4j;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

/** Small helpers for tests over float segments. */
public final class TestUtil {
    private TestUtil() {}

    public static MemorySegment floats(Arena a, float... v) {
        MemorySegment s = a.allocate(4L * Math.max(v.length, 1), 64);
        MemorySegment.copy(v, 0, s, JAVA_FLOAT, 0, v.length);
        return s;
    }

    public static MemorySegment random(Arena a, long n, Random r, float lo, float hi) {
        MemorySegment s = a.allocate(4L * n, 64);
        fillRandom(s, n, r, lo, hi);
        return s;
    }

    public static void fillRandom(MemorySegment s, long n, Random r, float lo, float hi) {
        for (long i = 0; i < n; i++) s.setAtIndex(JAVA_FLOAT, i, lo + (hi - lo) * r.nextFloat());
    }

    public static float get(MemorySegment s, long i) {
        return s.getAtIndex(JAVA_FLOAT, i);
    }

    public static void set(MemorySegment s, long i, float v) {
        s.setAtIndex(JAVA_FLOAT, i, v);
    }

    public static float[] toArray(MemorySegment s, long n) {
        float[] out = new float[(int) n];
        MemorySegment.copy(s, JAVA_FLOAT, 0, out, 0, (int) n);
        return out;
    }

    /** NCHW [n, c, plane] to nChw{lanes}c [n][ceil(c/lanes)][plane][lanes] with zero padded lanes: the test's own reorder. */
    public static float[] blocked(float[] nchw, int n, int c, int plane, int lanes) {
        int blocks = (c + lanes - 1) / lanes;
        float[] out = new float[n * blocks * lanes * plane];
        for (int i = 0; i < n; i++) {
            for (int ch = 0; ch < c; ch++) {
                for (int p = 0; p < plane; p++) {
                    out[((i * blocks + ch / lanes) * plane + p) * lanes + ch % lanes] = nchw[(i * c + ch) * plane + p];
                }
            }
        }
        return out;
    }

    /** The inverse of {@link #blocked}: drops the padded lanes. */
    public static float[] unblocked(float[] b, int n, int c, int plane, int lanes) {
        int blocks = (c + lanes - 1) / lanes;
        float[] out = new float[n * c * plane];
        for (int i = 0; i < n; i++) {
            for (int ch = 0; ch < c; ch++) {
                for (int p = 0; p < plane; p++) {
                    out[(i * c + ch) * plane + p] = b[((i * blocks + ch / lanes) * plane + p) * lanes + ch % lanes];
                }
            }
        }
        return out;
    }

    /** Every padded lane of a blocked tensor is exactly 0. */
    public static void assertPaddedLanesZero(String what, float[] b, int n, int c, int plane, int lanes) {
        int blocks = (c + lanes - 1) / lanes;
        for (int i = 0; i < n; i++) {
            for (int ch = c; ch < blocks * lanes; ch++) {
                for (int p = 0; p < plane; p++) {
                    float v = b[((i * blocks + ch / lanes) * plane + p) * lanes + ch % lanes];
                    if (v != 0f) throw new AssertionError(what + ": padded lane " + ch + " of image " + i + " pixel " + p + " is " + v);
                }
            }
        }
    }
}
