package io.sam4j;
import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.*;
class SmokeTest { @Test void jdk() { assertTrue(Runtime.version().feature() >= 25); jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length(); } }
