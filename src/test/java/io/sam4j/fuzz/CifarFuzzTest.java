package io.sam4j.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.sam4j.data.CifarReader;
import io.sam4j.data.DataException;
import io.sam4j.data.Dataset;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** CIFAR-10/100 binary files: a DataException or a data set of whole records with in-range labels. */
class CifarFuzzTest {
    private static final Path FILE = FuzzFiles.scratch("cifar.bin");

    @FuzzTest(maxDuration = "10s")
    void cifar(FuzzedDataProvider data) throws IOException {
        CifarReader.Kind kind = data.pickValue(CifarReader.Kind.values());
        Files.write(FILE, data.consumeRemainingAsBytes());
        try {
            Dataset d = CifarReader.read(kind, FILE, "fuzz");
            for (int i = 0; i < d.size(); i++) {
                if (d.labels()[i] < 0 || d.labels()[i] >= kind.numClasses()) throw new AssertionError("label " + d.labels()[i]);
            }
        } catch (DataException expected) {
            // the documented failure
        }
    }
}
