package io.sam4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sam4j.formats.SafeTensors;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** End to end on the embedded subset: a short run learns, writes metrics and weights, and reloads them. */
class TrainerTest {
    @TempDir
    Path tmp;

    static TrainConfig config(String optimizer, long steps, Path out, Path save, Path init) {
        TrainConfig c = new TrainConfig();
        c.model = "mlp";
        c.epochs = 1;
        c.steps = steps;
        c.batch = 64;
        c.optimizer = optimizer;
        c.seed = 1;
        c.threads = 2;
        c.init = init;
        c.save = save;
        c.out = out;
        return c;
    }

    @Test
    void shortSamRunLearnsAndWritesItsFiles() throws Exception {
        Path out = tmp.resolve("run"), save = tmp.resolve("w.safetensors");
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        Trainer.Result r = new Trainer(config("sam", 150, out, save, null), new PrintStream(log, true, StandardCharsets.UTF_8)).run();
        assertEquals(150, r.steps());
        assertTrue(r.testAccuracy() > 0.70, "150 SAM steps on Fashion-MNIST reach > 70 %, got " + r.testAccuracy());
        List<String> lines = Files.readAllLines(out.resolve("metrics.jsonl"));
        assertEquals(1, lines.size());
        JsonNode m = new ObjectMapper().readTree(lines.get(0));
        assertEquals(150, m.get("step").asInt());
        assertTrue(m.get("sam_gap").asDouble() > 0, "the SAM gap (loss at w+e minus loss at w) is positive on average");
        assertTrue(m.has("cos_e_gadv") && m.has("perturb_norm") && m.has("curvature"));
        assertEquals(0.05, m.get("perturb_norm").asDouble(), 1e-4, "normalised SAM steps exactly rho");
        SafeTensors.Loaded w = SafeTensors.read(save);
        assertEquals(List.of("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"),
                List.copyOf(w.tensors().keySet()));
        assertTrue(log.toString(StandardCharsets.UTF_8).contains("test accuracy"));

        // Reloading the weights and training 0 further steps... evaluate via a 1-step constant-lr run
        // is not needed: --init must reproduce the saved evaluation exactly with lr ~ 0.
        TrainConfig again = config("sgd", 1, tmp.resolve("run2"), null, save);
        again.lr = 1e-30f;
        again.momentum = 0f;
        again.weightDecay = 0f;
        again.schedule = Schedule.CONSTANT;
        Trainer.Result r2 = new Trainer(again, new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8)).run();
        assertEquals(r.testAccuracy(), r2.testAccuracy(), 1e-9, "weights loaded with --init evaluate the same");
    }

    @Test
    void sameSeedSameResult() {
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        Trainer.Result a = new Trainer(config("fsam", 30, tmp.resolve("a"), null, null), quiet).run();
        Trainer.Result b = new Trainer(config("fsam", 30, tmp.resolve("b"), null, null), quiet).run();
        assertEquals(a.testLoss(), b.testLoss(), 0.0);
    }

    /** A crash after the first epoch's checkpoint, then --resume: the same final weights as one run. */
    @Test
    void resumeEndsWithTheSameWeightsAsAnUninterruptedRun() throws Exception {
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        for (String opt : new String[] {"fsam", "sam"}) {
            TrainConfig base = config(opt, 0, null, null, null);
            TrainConfig whole = withOut(base, tmp.resolve(opt + "-whole"), tmp.resolve(opt + "-whole.safetensors"));
            TrainConfig broken = withOut(base, tmp.resolve(opt + "-broken"), tmp.resolve(opt + "-broken.safetensors"));
            new Trainer(whole, quiet).run();
            int perEpoch = 12_000 / 64;
            IllegalStateException crash = assertThrows(IllegalStateException.class,
                    () -> new Trainer(broken, quiet).addListener((step, epoch, lr, s) -> {
                        if (step == perEpoch + 5) throw new IllegalStateException("simulated crash");
                    }).run());
            assertEquals("simulated crash", crash.getMessage());
            // the first epoch's checkpoint and metrics line are on disk, the second epoch is lost
            assertEquals(1, Files.readAllLines(broken.out.resolve("metrics.jsonl")).size(), opt + ": lines before the resume");
            new Trainer(Trainer.readConfig(broken.out), quiet).resume().run();
            float[] a = SafeTensors.read(whole.save).tensors().get("fc1.weight").values();
            float[] b = SafeTensors.read(broken.save).tensors().get("fc1.weight").values();
            org.junit.jupiter.api.Assertions.assertArrayEquals(a, b, opt + ": resumed weights differ");
            assertEquals(2, Files.readAllLines(broken.out.resolve("metrics.jsonl")).size());
        }
    }

    private static TrainConfig withOut(TrainConfig c, Path out, Path save) {
        TrainConfig r = c.copy();
        r.epochs = 2;
        r.steps = 0;
        r.out = out;
        r.save = save;
        return r;
    }

    /** A CIFAR-10 folder in the official layout trains a CNN end to end, with augmentation, on both backends. */
    @Test
    void cifarFolderTrainsTheCnnWithAugmentation() throws Exception {
        Path dir = tmp.resolve("cifar");
        Files.createDirectories(dir);
        java.util.Random r = new java.util.Random(5);
        for (String f : new String[] {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                "data_batch_5.bin", "test_batch.bin"}) {
            int n = 16;
            byte[] px = new byte[n * 3072];
            r.nextBytes(px);
            int[] labels = r.ints(n, 0, 10).toArray();
            io.sam4j.data.CifarReader.write(io.sam4j.data.CifarReader.Kind.CIFAR10, dir.resolve(f), px, labels, null);
        }
        for (String backend : new String[] {"java", "onednn"}) {
            TrainConfig c = config("fsam", 4, tmp.resolve("cifar-run-" + backend), null, null);
            c.model = "cnn";
            c.data = dir;
            c.batch = 8;
            c.augment = "crop,flip,cutout";
            c.backend = backend;
            ByteArrayOutputStream log = new ByteArrayOutputStream();
            Trainer.Result res = new Trainer(c, new PrintStream(log, true, StandardCharsets.UTF_8)).run();
            assertEquals(4, res.steps());
            String text = log.toString(StandardCharsets.UTF_8);
            assertTrue(text.contains("augmentation crop,flip,cutout"), text);
            assertTrue(Double.isFinite(res.testLoss()));
        }
    }
}
