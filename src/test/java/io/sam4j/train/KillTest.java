package io.sam4j.train;

import io.sam4j.formats.Checkpoint;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * kill -9 at a random moment (and once while the checkpoint is being written), then --resume until the run
 * completes: the checkpoint, the saved weights and the metrics' steps equal those of an uninterrupted run,
 * bit for bit. Three trials here; bench/kill-test runs 20 and more against the launcher.
 */
class KillTest {
    @TempDir
    Path tmp;

    private static final String[] RUN = {"--model", "mlp", "--optimizer", "fsam", "--epochs", "2", "--batch", "200", "--seed", "1",
            "--threads", "2"};

    @Test
    void killedAndResumedRunsEndBitIdentical() throws Exception {
        TrainConfig ref = TrainerTest.config("fsam", 0, tmp.resolve("ref"), tmp.resolve("ref.safetensors"), null);
        ref.epochs = 2;
        ref.batch = 200;
        new Trainer(ref, new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8)).run();
        byte[] checkpoint = Files.readAllBytes(Checkpoint.path(ref.out)), weights = Files.readAllBytes(ref.save);

        Random random = new Random(11);
        for (int trial = 0; trial < 3; trial++) {
            Path out = tmp.resolve("t" + trial), save = tmp.resolve("t" + trial + ".safetensors"), log = tmp.resolve("t" + trial + ".log");
            String[] args = Stream.concat(Stream.of("train"), Stream.concat(Stream.of(RUN),
                    Stream.of("--out", out.toString(), "--save", save.toString()))).toArray(String[]::new);
            Process p = Sam4jProcess.start(log, args);
            waitFor(log, "run folder:", p);
            if (trial == 0) {
                waitForCheckpointWrite(out, p); // kill -9 in the middle of the atomic write
            } else {
                Thread.sleep(random.nextInt(1500));
            }
            p.destroyForcibly(); // SIGKILL
            p.waitFor();
            for (int attempt = 0; attempt < 3; attempt++) {
                // killed before its config.json was written, the run never started: start it again
                String[] again = Files.exists(out.resolve("config.json")) ? new String[] {"train", "--resume", out.toString()} : args;
                if (Sam4jProcess.run(log, again) == 0) break;
            }
            String text = Files.readString(log);
            assertArrayEquals(checkpoint, Files.readAllBytes(Checkpoint.path(out)), "trial " + trial + "\n" + text);
            assertArrayEquals(weights, Files.readAllBytes(save), "trial " + trial);
            List<String> metrics = Files.readAllLines(out.resolve("metrics.jsonl"));
            assertEquals(2, metrics.size(), "one line per epoch: " + metrics);
            for (int e = 0; e < 2; e++) assertTrue(metrics.get(e).contains("\"step\":" + 60 * (e + 1)), metrics.get(e));
            try (Stream<Path> left = Files.list(out)) {
                assertEquals(List.of(), left.filter(f -> f.getFileName().toString().endsWith(".tmp")).toList(), "stale temporary files");
            }
        }
    }

    private static void waitFor(Path log, String text, Process p) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (p.isAlive() && !Files.readString(log).contains(text) && System.nanoTime() < deadline) Thread.sleep(20);
    }

    /** Returns as soon as a temporary checkpoint file exists (or the process ended). */
    private static void waitForCheckpointWrite(Path out, Process p) throws IOException {
        while (p.isAlive()) {
            try (Stream<Path> files = Files.list(out)) {
                if (files.anyMatch(f -> f.getFileName().toString().startsWith(".checkpoint.safetensors."))) return;
            }
        }
    }
}
