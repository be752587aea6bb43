package io.sam4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sam4j.formats.Checkpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** --resume RUN --steps/--epochs extends a run; --overwrite replaces a previous run's files. */
class ResumeCommandTest {
    @TempDir
    Path tmp;

    private static final String[] RUN = {"train", "--model", "mlp", "--optimizer", "sam", "--batch", "64", "--threads", "2",
            "--schedule", "constant"};

    private static String[] with(String... more) {
        String[] all = java.util.Arrays.copyOf(RUN, RUN.length + more.length);
        System.arraycopy(more, 0, all, RUN.length, more.length);
        return all;
    }

    /** With a constant schedule, 5 steps extended to 10 are the 10 steps of one run, bit for bit. */
    @Test
    void extendingARunContinuesItExactly() throws Exception {
        Path a = tmp.resolve("a"), b = tmp.resolve("b");
        assertEquals(0, CliTest.run(with("--steps", "10", "--out", b.toString())).code());
        assertEquals(0, CliTest.run(with("--steps", "5", "--out", a.toString())).code());
        CliTest.Run r = CliTest.run("train", "--resume", a.toString(), "--steps", "10");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("resumed from " + Checkpoint.path(a) + " at step 5 of 10"), r.out());
        assertArrayEquals(Files.readAllBytes(Checkpoint.path(b)), Files.readAllBytes(Checkpoint.path(a)));
        assertTrue(Files.readString(a.resolve("config.json")).contains("\"steps\" : 10"), "config.json records the new length");
        assertEquals(2, Files.readAllLines(a.resolve("metrics.jsonl")).size(), "one line per finished stretch");
    }

    @Test
    void overwriteReplacesThePreviousRunsFiles() throws Exception {
        Path a = tmp.resolve("a");
        assertEquals(0, CliTest.run(with("--steps", "4", "--out", a.toString())).code());
        Files.writeString(a.resolve("sharpness.jsonl"), "{\"stale\":true}\n");
        assertEquals(2, CliTest.run(with("--steps", "3", "--out", a.toString())).code(), "a non-empty --out is refused");
        CliTest.Run r = CliTest.run(with("--steps", "3", "--out", a.toString(), "--overwrite"));
        assertEquals(0, r.code(), r.err());
        assertFalse(Files.exists(a.resolve("sharpness.jsonl")), "nothing of the old run is kept");
        assertEquals(1, Files.readAllLines(a.resolve("metrics.jsonl")).size());
        assertTrue(Files.readString(a.resolve("metrics.jsonl")).contains("\"step\":3"));
    }
}
