package io.sam4j.report;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sam4j.cli.Main;
import io.sam4j.data.DataSource;
import io.sam4j.data.Dataset;
import io.sam4j.data.HoldOut;
import io.sam4j.formats.SafeTensors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** --keep-best on a validation split, --keep-last N, and final.safetensors. */
class CheckpointKeepingTest {
    @TempDir
    Path tmp;

    @Test
    void keepsBestOnValidationLastTwoAndFinal() throws Exception {
        Path run = tmp.resolve("run");
        assertEquals(0, Main.execute("train", "--model", "mlp", "--epochs", "3", "--batch", "500", "--threads", "1",
                "--val-split", "0.1", "--keep-best", "--keep-last", "2", "--no-report", "--out", run.toString()));
        // 10,800 training examples after holding out 1,200: 21 steps per epoch.
        assertFalse(Files.exists(run.resolve("checkpoint-step21.safetensors")), "only the last two kept");
        assertTrue(Files.exists(run.resolve("checkpoint-step42.safetensors")));
        assertTrue(Files.exists(run.resolve("checkpoint-step63.safetensors")));
        RunFolder f = RunFolder.read(run);
        double[] val = f.epochs().column("val_acc");
        assertEquals(3, val.length);
        int bestEpoch = 0;
        for (int i = 1; i < val.length; i++) if (val[i] > val[bestEpoch]) bestEpoch = i;
        ObjectNode best = RunFolder.readObject(run.resolve("best.json"));
        assertEquals("validation", best.get("selected_on").asText());
        assertEquals(bestEpoch + 1, best.get("epoch").asInt());
        assertEquals(val[bestEpoch], best.get("accuracy").asDouble(), 0);
        assertTrue(Files.exists(run.resolve("best.safetensors")));
        assertTrue(Files.exists(run.resolve("checkpoint-step63.safetensors")));

        // final.safetensors: the weights of the last checkpoint, without optimizer state.
        Map<String, float[]> fin = weights(run.resolve("final.safetensors")), ckpt = weights(run.resolve("checkpoint.safetensors"));
        assertFalse(fin.isEmpty());
        for (var e : fin.entrySet()) assertArrayEquals(ckpt.get(e.getKey()), e.getValue(), e.getKey());
        assertTrue(fin.keySet().stream().noneMatch(n -> n.startsWith("optimizer.")));
        // eval scores final.safetensors by default: the run's last test accuracy.
        try (RunModel rm = RunModel.ofRun(run, null, 1, null)) {
            assertEquals(run.resolve("final.safetensors"), rm.weights());
            assertEquals(f.last("test_acc"), Evaluation.of(rm, rm.testSet(), 500).accuracy(), 0);
        }
    }

    @Test
    void holdOutIsASeededPartition() {
        Dataset train = DataSource.loadEmbedded().train();
        HoldOut.Split a = HoldOut.of(train, 0.1, 7), b = HoldOut.of(train, 0.1, 7), c = HoldOut.of(train, 0.1, 8);
        assertEquals(1200, a.validation().size());
        assertEquals(10800, a.train().size());
        assertArrayEquals(a.validation().pixels(), b.validation().pixels(), "same seed, same split");
        assertFalse(Arrays.equals(a.validation().labels(), c.validation().labels()) && Arrays.equals(a.validation().pixels(), c.validation().pixels()));
        int[] counts = new int[10];
        for (int l : a.train().labels()) counts[l]++;
        for (int l : a.validation().labels()) counts[l]++;
        assertArrayEquals(train.classCounts(), counts, "the two parts together are the training set");
        assertEquals(2, Main.execute("train", "--val-split", "1.5", "--out", tmp.resolve("bad").toString()));
    }

    private static Map<String, float[]> weights(Path f) {
        Map<String, float[]> m = new HashMap<>();
        SafeTensors.read(f).tensors().forEach((k, v) -> {
            if (!k.startsWith("optimizer.")) m.put(k, v.values());
        });
        return m;
    }
}
