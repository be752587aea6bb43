package io.sam4j.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.sam4j.formats.FormatException;
import io.sam4j.formats.SafeTensors;

/** safetensors images: a DataException or tensors whose element counts match their shapes. */
class SafeTensorsFuzzTest {
    @FuzzTest(maxDuration = "10s")
    void safetensors(byte[] bytes) {
        try {
            SafeTensors.Loaded l = SafeTensors.read(bytes, "fuzz.safetensors");
            for (SafeTensors.Tensor t : l.tensors().values()) {
                long n = 1;
                for (long d : t.shape()) n *= d;
                if (n != t.values().length) throw new AssertionError("shape and values disagree");
            }
        } catch (FormatException expected) {
            // the documented failure
        }
    }
}
