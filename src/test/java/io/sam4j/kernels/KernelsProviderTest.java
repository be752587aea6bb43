package io.sam4j.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

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
}
