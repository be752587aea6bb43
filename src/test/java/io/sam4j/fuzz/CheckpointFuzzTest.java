package io.sam4j.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.sam4j.formats.FormatException;
import io.sam4j.formats.Checkpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Checkpoints loaded into a small BatchNorm model with F-SAM over SGD (momentum and EMA buffers). */
class CheckpointFuzzTest {
    private static final Path DIR = FuzzFiles.scratch("run");

    @FuzzTest(maxDuration = "10s")
    void checkpoint(byte[] bytes) throws IOException {
        Files.write(Checkpoint.path(DIR), bytes);
        try {
            FuzzFiles.TinyRun.INSTANCE.load(DIR);
        } catch (FormatException expected) {
            // the documented failure
        }
    }
}
