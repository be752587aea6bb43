package io.sam4j.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sam4j.formats.AtomicFile;
import io.sam4j.formats.Checkpoint;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Keeps copies of the epoch checkpoints: {@code best.safetensors} (+ {@code best.json}) whenever the selection
 * accuracy improves (the validation split's with {@code --val-split}, else the test set's: a leak, since the
 * test set then chooses the model) and the last N as {@code checkpoint-step<S>.safetensors}. Copies go through
 * a temporary file and a rename; a resumed run picks up the best so far from best.json.
 */
final class CheckpointKeeper implements RunListener {
    static final String BEST = "best.safetensors", BEST_JSON = "best.json";
    private static final Pattern KEPT = Pattern.compile("checkpoint-step(\\d+)\\.safetensors");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final boolean best;
    private final int last;
    private double bestSoFar = Double.NEGATIVE_INFINITY;

    CheckpointKeeper(boolean best, int last) {
        this.best = best;
        this.last = last;
    }

    @Override
    public void started(Start s) {
        Path f = s.runDir().resolve(BEST_JSON);
        if (best && s.step() > 0 && Files.isRegularFile(f)) {
            try {
                bestSoFar = JSON.readTree(f.toFile()).path("accuracy").asDouble(Double.NEGATIVE_INFINITY);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + f + ": " + e.getMessage(), e);
            }
        }
    }

    @Override
    public void epochEnded(EpochEnd e) {
        Path ckpt = Checkpoint.path(e.runDir());
        if (last > 0) {
            copy(ckpt, e.runDir().resolve("checkpoint-step" + e.step() + ".safetensors"));
            List<Path> kept = kept(e.runDir());
            for (int i = 0; i < kept.size() - last; i++) delete(kept.get(i));
        }
        boolean onVal = !Double.isNaN(e.valAccuracy());
        double acc = onVal ? e.valAccuracy() : e.testAccuracy();
        if (best && acc > bestSoFar) {
            bestSoFar = acc;
            copy(ckpt, e.runDir().resolve(BEST));
            ObjectNode o = JSON.createObjectNode().put("epoch", e.epoch()).put("step", e.step())
                    .put("selected_on", onVal ? "validation" : "test").put("accuracy", acc).put("test_accuracy", e.testAccuracy());
            byte[] bytes = o.toPrettyString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
            AtomicFile.write(e.runDir().resolve(BEST_JSON), out -> out.write(bytes));
        }
    }

    /** checkpoint-step*.safetensors by increasing step. */
    static List<Path> kept(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> KEPT.matcher(p.getFileName().toString()).matches())
                    .sorted((a, b) -> Long.compare(step(a), step(b))).toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir + ": " + e.getMessage(), e);
        }
    }

    private static long step(Path p) {
        Matcher m = KEPT.matcher(p.getFileName().toString());
        return m.matches() ? Long.parseLong(m.group(1)) : -1;
    }

    private static void copy(Path from, Path to) {
        try {
            Path tmp = to.resolveSibling("." + to.getFileName() + ".tmp");
            Files.copy(from, tmp, StandardCopyOption.REPLACE_EXISTING);
            Files.move(tmp, to, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot copy " + from + " to " + to + ": " + e.getMessage(), e);
        }
    }

    private static void delete(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + p + ": " + e.getMessage(), e);
        }
    }
}
