package io.sam4j.train;

import io.sam4j.formats.Checkpoint;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Identical state gives a byte-identical checkpoint: an uninterrupted run and two resumes of one crash. */
class CheckpointBytesTest {
    @TempDir
    Path tmp;

    @Test
    void resumingTwiceGivesByteIdenticalCheckpoints() throws IOException {
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        TrainConfig whole = TrainerTest.config("fsam", 0, tmp.resolve("whole"), null, null);
        whole.epochs = 2;
        whole.batch = 200;
        new Trainer(whole, quiet).run();

        TrainConfig broken = whole.copy();
        broken.out = tmp.resolve("broken");
        int perEpoch = 12_000 / whole.batch;
        try {
            new Trainer(broken, quiet).addListener((step, epoch, lr, s) -> {
                if (step == perEpoch + 3) throw new IllegalStateException("simulated crash");
            }).run();
        } catch (IllegalStateException expected) {
            // the first epoch's checkpoint is on disk
        }
        Path again = tmp.resolve("again");
        copyFolder(broken.out, again);
        new Trainer(Trainer.readConfig(broken.out), quiet).resume().run();
        new Trainer(Trainer.readConfig(again), quiet).resume().run();

        byte[] expected = Files.readAllBytes(Checkpoint.path(whole.out));
        assertArrayEquals(expected, Files.readAllBytes(Checkpoint.path(broken.out)), "first resume vs uninterrupted");
        assertArrayEquals(expected, Files.readAllBytes(Checkpoint.path(again)), "second resume vs uninterrupted");
    }

    static void copyFolder(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> files = Files.list(from)) {
            for (Path f : (Iterable<Path>) files::iterator) Files.copy(f, to.resolve(f.getFileName()));
        }
    }
}
