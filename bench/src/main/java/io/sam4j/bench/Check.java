package io.sam4j.bench;

import io.sam4j.kernels.KernelsProvider;

/** Setup-time checks: a benchmark that measures the wrong thing fails rather than reporting a number. */
final class Check {
    private Check() {}

    /** Fails unless this fork's {@link KernelsProvider} chose {@code expected} ("vector" or "scalar"). */
    static void kernels(String expected) {
        String got = KernelsProvider.get().name();
        if (!got.equals(expected)) {
            throw new IllegalStateException("this fork should run the " + expected + " kernels but KernelsProvider chose "
                    + got + " (JVM flags: " + java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()
                    + "); pass extra JVM flags with -jvmArgsPrepend, not -jvmArgs/-jvmArgsAppend");
        }
    }

    /** Fails when |a - b| > tol anywhere in the first n floats (or either is NaN). */
    static void close(String what, java.lang.foreign.MemorySegment a, java.lang.foreign.MemorySegment b, long n, double tol) {
        double worst = 0;
        long at = -1;
        for (long i = 0; i < n; i++) {
            float x = a.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i);
            float y = b.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i);
            double err = Math.abs((double) x - y);
            if (!(err <= worst)) {
                worst = err;
                at = i;
            }
        }
        if (!(worst <= tol)) {
            throw new IllegalStateException(what + " differ: |difference| " + worst + " at index " + at + " > " + tol);
        }
    }
}
