package io.sam4j.report;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.sam4j.cli.Main;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/** One short mlp run through the CLI, trained once per test JVM and shared by the report tests. */
final class TrainedRun {
    private static Path dir;

    private TrainedRun() {}

    /** Two epochs of 24 steps (batch 500) of the mlp with SAM on the embedded subset, one thread. */
    static synchronized Path mlp() {
        if (dir != null) return dir;
        try {
            Path root = Files.createTempDirectory("sam4j-report-test");
            Runtime.getRuntime().addShutdownHook(new Thread(() -> delete(root)));
            Path run = root.resolve("run");
            assertEquals(0, Main.execute("train", "--model", "mlp", "--epochs", "2", "--batch", "500", "--threads", "1",
                    "--out", run.toString()));
            dir = run;
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void delete(Path root) {
        try (Stream<Path> s = Files.walk(root)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // best effort at exit
        }
    }
}
