package io.sam4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
        for (String opt : new String[] {"fsam", "sam", "looksam", "aesam"}) {
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
            List<String> metrics = Files.readAllLines(broken.out.resolve("metrics.jsonl"));
            assertEquals(2, metrics.size());
            double samFraction = new ObjectMapper().readTree(metrics.get(1)).get("sam_fraction").asDouble();
            if (opt.equals("looksam")) assertEquals(0.2, samFraction, 0.01, "a SAM step every 5th step");
            if (opt.equals("aesam")) assertTrue(samFraction > 0 && samFraction < 1, "AE-SAM mixes both kinds: " + samFraction);
        }
    }

    @Test
    void mEqualToTheBatchIsSamBitForBitAndSmallerMDiffers() throws Exception {
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        float[][] w = new float[3][];
        int[] ms = {0, 64, 16};
        for (int i = 0; i < 3; i++) {
            TrainConfig c = config("sam", 20, tmp.resolve("m" + ms[i]), tmp.resolve("m" + ms[i] + ".safetensors"), null);
            c.m = ms[i];
            new Trainer(c, quiet).run();
            w[i] = SafeTensors.read(c.save).tensors().get("fc1.weight").values();
        }
        org.junit.jupiter.api.Assertions.assertArrayEquals(w[0], w[1], "--m 64 with batch 64 is plain SAM");
        assertFalse(java.util.Arrays.equals(w[0], w[2]), "--m 16: four perturbations per step");
    }

    @Test
    void accumulatedSgdEqualsTheWholeBatchStepWithinRounding() throws Exception {
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        float[][] w = new float[2][];
        for (int i = 0; i < 2; i++) {
            TrainConfig c = config("sgd", 20, tmp.resolve("acc" + i), tmp.resolve("acc" + i + ".safetensors"), null);
            c.accumulate = i == 0 ? 1 : 4;
            new Trainer(c, quiet).run();
            w[i] = SafeTensors.read(c.save).tensors().get("fc1.weight").values();
        }
        double maxDiff = 0, maxW = 0;
        for (int j = 0; j < w[0].length; j++) {
            maxDiff = Math.max(maxDiff, Math.abs(w[0][j] - w[1][j]));
            maxW = Math.max(maxW, Math.abs(w[0][j]));
        }
        assertTrue(maxDiff < 1e-5 * maxW, "accumulated SGD (mlp, no BatchNorm) drifts by " + maxDiff);
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

    /**
     * --train-subset N: the run trains on the first N training examples whatever the seed, with --batch N one
     * step per epoch (full batch); the setting is in config.json and a crashed run resumes to the same weights.
     */
    @Test
    void trainSubsetIsTheFirstExamplesAndFullBatchResumes() throws Exception {
        io.sam4j.data.DataSource.Split split = io.sam4j.data.DataSource.load(null);
        TrainConfig c = config("sam", 0, null, null, null);
        c.trainSubset = 100;
        for (long seed : new long[] {0, 7}) {
            c.seed = seed;
            io.sam4j.data.Dataset sub = Trainer.trainingSet(split, c);
            assertEquals(100, sub.size());
            org.junit.jupiter.api.Assertions.assertArrayEquals(java.util.Arrays.copyOf(split.train().labels(), 100), sub.labels());
            org.junit.jupiter.api.Assertions.assertArrayEquals(
                    java.util.Arrays.copyOf(split.train().pixels(), 100 * 784), sub.pixels(), "seed " + seed);
        }
        c.trainSubset = split.train().size() + 1;
        io.sam4j.config.ConfigException tooMany = assertThrows(io.sam4j.config.ConfigException.class, () -> Trainer.trainingSet(split, c));
        assertTrue(tooMany.getMessage().startsWith("trainSubset 12001 is larger than the training set (12000 examples"), tooMany.getMessage());
        c.trainSubset = -1;
        assertThrows(io.sam4j.config.ConfigException.class, c::validate);

        PrintStream quiet = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        TrainConfig base = config("sam", 0, null, null, null);
        base.trainSubset = 100;
        base.batch = 100;
        TrainConfig whole = withOut(base, tmp.resolve("sub-whole"), tmp.resolve("sub-whole.safetensors"));
        TrainConfig broken = withOut(base, tmp.resolve("sub-broken"), tmp.resolve("sub-broken.safetensors"));
        whole.epochs = broken.epochs = 4;
        assertEquals(4, new Trainer(whole, quiet).run().steps(), "full batch: one step per epoch");
        assertEquals(4, Files.readAllLines(whole.out.resolve("metrics.jsonl")).size());
        assertThrows(IllegalStateException.class, () -> new Trainer(broken, quiet).addListener((step, epoch, lr, s) -> {
            if (step == 3) throw new IllegalStateException("simulated crash");
        }).run());
        TrainConfig back = Trainer.readConfig(broken.out);
        assertEquals(100, back.trainSubset, "config.json keeps trainSubset");
        new Trainer(back, quiet).resume().run();
        org.junit.jupiter.api.Assertions.assertArrayEquals(SafeTensors.read(whole.save).tensors().get("fc1.weight").values(),
                SafeTensors.read(broken.save).tensors().get("fc1.weight").values(), "resumed weights differ");

        // --eval-every 3 over 7 full-batch epochs: metrics lines (and checkpoints) at epochs 3, 6 and the end, same weights
        TrainConfig sparse = withOut(base, tmp.resolve("sub-sparse"), tmp.resolve("sub-sparse.safetensors"));
        TrainConfig dense = withOut(base, tmp.resolve("sub-dense"), tmp.resolve("sub-dense.safetensors"));
        sparse.epochs = dense.epochs = 7;
        sparse.evalEvery = 3;
        new Trainer(sparse, quiet).run();
        new Trainer(dense, quiet).run();
        List<JsonNode> lines = new java.util.ArrayList<>();
        for (String l : Files.readAllLines(sparse.out.resolve("metrics.jsonl"))) lines.add(new ObjectMapper().readTree(l));
        assertEquals(List.of(3, 6, 7), lines.stream().map(n -> n.get("epoch").asInt()).toList());
        assertEquals(List.of(3, 6, 7), lines.stream().map(n -> n.get("step").asInt()).toList());
        org.junit.jupiter.api.Assertions.assertArrayEquals(SafeTensors.read(dense.save).tensors().get("fc1.weight").values(),
                SafeTensors.read(sparse.save).tensors().get("fc1.weight").values(), "evaluating less often changes no step");
    }
}
