package io.sam4j.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/** The vector width is the one -Dsam4j.vectorBits asks for (the vector-* surefire executions set it). */
class VectorWidthTest {
    @Test
    void kernelsRunAtTheRequestedWidth() {
        String asked = System.getProperty(VectorWidth.PROPERTY, "");
        int expected = asked.isBlank() ? FloatVector.SPECIES_PREFERRED.vectorBitSize() : Integer.parseInt(asked.trim());
        assertEquals(expected, VectorSupport.S.vectorBitSize(), "-D" + VectorWidth.PROPERTY + "=" + asked);
        System.out.println("vector kernels at " + VectorSupport.S.vectorBitSize() + " bits (" + VectorSupport.L + " floats)");
    }

    @Test
    void badWidthIsAnErrorNamingTheProperty() {
        assertEquals(0, VectorWidth.parse(""));
        assertEquals(256, VectorWidth.parse(" 256 "));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> VectorWidth.parse("1024"));
        assertEquals("-Dsam4j.vectorBits must be 128, 256 or 512, got '1024'", e.getMessage());
    }
}
