package io.sam4j.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.sam4j.formats.FormatException;
import io.sam4j.train.Trainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A run folder's config.json, as --resume and sharpness --run read it: a DataException or a checked config. */
class ConfigFuzzTest {
    private static final Path DIR = FuzzFiles.scratch("config-run");

    @FuzzTest(maxDuration = "10s")
    void config(byte[] bytes) throws IOException {
        Files.write(DIR.resolve("config.json"), bytes);
        try {
            Trainer.readConfig(DIR);
        } catch (FormatException expected) {
            // the documented failure
        }
    }
}
