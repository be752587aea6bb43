package io.sam4j.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Tests run with --add-modules jdk.incubator.vector, so the default choice is the vector kernels. */
class KernelsProviderTest {
    @Test
    void picksVectorWhenModulePresentAndCaches() {
        assertEquals("vector", KernelsProvider.get().name());
        assertSame(KernelsProvider.get(), KernelsProvider.get());
        assertSame(ScalarKernels.INSTANCE, KernelsProvider.scalar());
    }

    @Test
    void propertyForcesChoice() {
        String old = System.getProperty(KernelsProvider.PROPERTY);
        try {
            System.setProperty(KernelsProvider.PROPERTY, "scalar");
            assertEquals("scalar", KernelsProvider.choose().name());
            System.setProperty(KernelsProvider.PROPERTY, "vector");
            assertEquals("vector", KernelsProvider.choose().name());
            System.setProperty(KernelsProvider.PROPERTY, "simd");
            assertThrows(IllegalArgumentException.class, KernelsProvider::choose);
        } finally {
            if (old == null) System.clearProperty(KernelsProvider.PROPERTY);
            else System.setProperty(KernelsProvider.PROPERTY, old);
        }
    }

    /** Prints the chosen kernels' name; run in a child JVM below. */
    public static final class Probe {
        public static void main(String[] args) {
            System.out.println(KernelsProvider.get().name() + " " + KernelsProvider.get().name());
        }
    }

    @Test
    void fallsBackToScalarWithoutTheModule() throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command().orElseThrow();
        Process p = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), Probe.class.getName()).start();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "child JVM timed out");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertEquals(0, p.exitValue(), err);
        assertEquals("scalar scalar", out);
        assertEquals("sam4j: Vector API not available (pass --add-modules jdk.incubator.vector); using scalar kernels", err);
    }
}
