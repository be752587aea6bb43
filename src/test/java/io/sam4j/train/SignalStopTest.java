package io.sam4j.train;

import io.sam4j.formats.Checkpoint;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** SIGTERM/SIGINT: finish the step, checkpoint, say how to resume, exit 143/130; the resume is bit-identical. */
class SignalStopTest {
    @TempDir
    Path tmp;

    private final PrintStream quiet = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);

    private TrainConfig twoEpochs(String name) {
        TrainConfig c = TrainerTest.config("fsam", 0, tmp.resolve(name), tmp.resolve(name + ".safetensors"), null);
        c.epochs = 2;
        c.batch = 200;
        return c;
    }

    @Test
    void aStopMidEpochCheckpointsAndTheResumeIsBitIdentical() throws Exception {
        TrainConfig whole = twoEpochs("whole");
        new Trainer(whole, quiet).run();

        TrainConfig stopped = twoEpochs("stopped");
        StopSignal stop = StopSignal.manual();
        int perEpoch = 12_000 / stopped.batch;
        Trainer.Stopped e = org.junit.jupiter.api.Assertions.assertThrows(Trainer.Stopped.class, () ->
                new Trainer(stopped, quiet).stopOn(stop).addListener((step, epoch, lr, s) -> {
                    if (step == perEpoch + 7) stop.request("INT");
                }).run());
        assertEquals(130, e.exitCode());
        assertEquals("stopped by SIGINT at step " + (perEpoch + 7) + ", checkpoint written; resume with: ./sam4j train --resume "
                + stopped.out, e.getMessage());
        assertEquals(perEpoch + 7, Long.parseLong(io.sam4j.formats.SafeTensors.read(Checkpoint.path(stopped.out)).metadata().get("step")));

        new Trainer(Trainer.readConfig(stopped.out), quiet).resume().run();
        assertArrayEquals(Files.readAllBytes(Checkpoint.path(whole.out)), Files.readAllBytes(Checkpoint.path(stopped.out)));
        assertArrayEquals(Files.readAllBytes(whole.save), Files.readAllBytes(stopped.save));
        assertEquals(2, Files.readAllLines(stopped.out.resolve("metrics.jsonl")).size());
    }

    /** The real thing: SIGTERM to a child JVM running the CLI. */
    @Test
    void sigtermToTheCliExits143WithTheResumeCommand() throws Exception {
        Path out = tmp.resolve("cli"), log = tmp.resolve("cli.log");
        Process p = Sam4jProcess.start(log, "train", "--model", "mlp", "--epochs", "30", "--batch", "64", "--threads", "2",
                "--out", out.toString());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!Files.readString(log).contains("run folder:") && p.isAlive() && System.nanoTime() < deadline) Thread.sleep(50);
        Thread.sleep(300); // some steps into the run
        p.destroy(); // SIGTERM
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the run stops within a step");
        String text = Files.readString(log);
        assertEquals(143, p.exitValue(), text);
        assertTrue(text.contains("stopped by SIGTERM at step ") && text.contains("resume with: ./sam4j train --resume " + out), text);
        assertTrue(Files.exists(Checkpoint.path(out)), "checkpoint written");
    }
}
