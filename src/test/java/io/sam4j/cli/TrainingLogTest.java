package io.sam4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What metrics.jsonl and sharpness.jsonl record for the claims suite: the grad scale, the subset loss, epoch/step. */
class TrainingLogTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    private static JsonNode last(Path f) throws Exception {
        List<String> lines = Files.readAllLines(f);
        return JSON.readTree(lines.get(lines.size() - 1));
    }

    @Test
    void stableSamLogsItsFactorAndSharpnessLinesCarryTheirStep() throws Exception {
        Path a = tmp.resolve("a");
        CliTest.Run r = CliTest.run("train", "--model", "mlp", "--optimizer", "sam", "--stable", "--batch", "64", "--threads", "1",
                "--schedule", "constant", "--steps", "3", "--sharpness-every", "1", "--sharpness-subset", "32", "--out", a.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode m = last(a.resolve("metrics.jsonl"));
        double scale = m.path("grad_scale").asDouble(Double.NaN);
        // StableSAM's factor ||g|| / ||g_adv||: positive and not 1 (it is 1 only when the perturbation changes nothing).
        assertTrue(scale > 0 && Double.isFinite(scale), "grad_scale " + m);
        assertNotEquals(1.0, scale, 1e-6);
        JsonNode s = last(a.resolve("sharpness.jsonl"));
        assertEquals(1, s.path("epoch").asInt());
        assertEquals(3, s.path("step").asInt());
        assertEquals(s.path("loss").asDouble(), m.path("sharpness_loss").asDouble(), 0.0, "metrics carry the subset loss");
        assertEquals(s.path("lambda_max").asDouble(), m.path("lambda_max").asDouble(), 0.0);

        // A resume drops sharpness lines measured after its checkpoint, as it does metrics lines.
        Files.writeString(a.resolve("sharpness.jsonl"), "{\"epoch\":9,\"step\":99}\n", StandardOpenOption.APPEND);
        r = CliTest.run("train", "--resume", a.toString(), "--steps", "6");
        assertEquals(0, r.code(), r.err());
        List<String> lines = Files.readAllLines(a.resolve("sharpness.jsonl"));
        assertEquals(2, lines.size(), String.join("\n", lines));
        assertFalse(lines.stream().anyMatch(l -> l.contains("\"step\":99")));
        assertEquals(6, JSON.readTree(lines.get(1)).path("step").asInt());
    }

    @Test
    void plainSamAppliesNoFactor() throws Exception {
        Path a = tmp.resolve("b");
        CliTest.Run r = CliTest.run("train", "--model", "mlp", "--optimizer", "sam", "--batch", "64", "--threads", "1", "--steps", "2",
                "--out", a.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals(1.0, last(a.resolve("metrics.jsonl")).path("grad_scale").asDouble(), 0.0);
    }
}
