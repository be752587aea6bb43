package io.sam4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sam4j.data.DataSource;
import io.sam4j.data.IdxReader;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import io.sam4j.nn.Context;
import io.sam4j.nn.Model;
import io.sam4j.nn.Models;
import io.sam4j.formats.SafeTensors;
import io.sam4j.formats.StateDict;
import io.sam4j.formats.Checkpoint;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every row of docs/errors.md, run as written: the exit status and the line it shows (a row whose message ends
 * with "…" matches by prefix). {@code $TMP} is a folder of prepared bad inputs; a train row without --out or
 * --resume gets an {@code --out} folder of its own, which must not exist afterwards when the run never started.
 */
class ErrorsTableTest {
    @TempDir
    static Path tmp;

    record Row(String command, String message, int exit) {
        @Override
        public String toString() {
            return command;
        }
    }

    static Stream<Row> rows() throws IOException {
        Pattern p = Pattern.compile("^\\| `(.+?)` \\| `(.+)` \\| (\\d+) \\|$");
        List<Row> rows = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("docs/errors.md"))) {
            Matcher m = p.matcher(line);
            if (m.matches()) rows.add(new Row(m.group(1), m.group(2), Integer.parseInt(m.group(3))));
        }
        assertTrue(rows.size() >= 40, "docs/errors.md lists the bad inputs, found " + rows.size());
        return rows.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rows")
    void docsErrorsRow(Row row) {
        List<String> args = new ArrayList<>(Arrays.asList(row.command().replace("$TMP", tmp.toString()).split(" ")));
        Path out = tmp.resolve("run-" + Integer.toHexString(row.command().hashCode()));
        if (args.getFirst().equals("train") && !args.contains("--out") && !args.contains("--resume")) {
            args.addAll(List.of("--out", out.toString()));
        }
        CliTest.Run r = CliTest.run(args.toArray(String[]::new));
        String expected = row.message().replace("$TMP", tmp.toString());
        List<String> lines = new ArrayList<>(r.err().lines().toList());
        lines.addAll(r.out().lines().toList());
        boolean prefix = expected.endsWith("…");
        String want = prefix ? expected.substring(0, expected.length() - 1) : expected;
        assertTrue(lines.stream().anyMatch(l -> prefix ? l.startsWith(want) : l.equals(want)),
                "expected " + (prefix ? "a line starting with " : "the line ") + want + "\ngot stderr: " + r.err() + "\nstdout: " + r.out());
        assertEquals(row.exit(), r.code(), "exit status; stderr: " + r.err());
        if (r.code() == 2) {
            assertEquals(1, r.err().strip().lines().count(), "one line on stderr: " + r.err());
            assertFalse(Files.exists(out), "a run that never started leaves no folder");
        }
    }

    @BeforeAll
    static void badInputs() throws IOException {
        Files.writeString(tmp.resolve("file"), "not a folder");
        Files.createDirectories(tmp.resolve("used"));
        Files.writeString(tmp.resolve("used/notes.txt"), "someone's files");
        Files.createDirectories(tmp.resolve("empty"));
        Files.writeString(tmp.resolve("garbage.safetensors"), "hello");
        try (Model m = new Model("mlp", Models.mlp(10), new int[] {1, 28, 28}, 10, 0f,
                new Context(new Parallel(1), KernelsProvider.get()))) {
            m.initialize(1);
            StateDict.save(m.store(), tmp.resolve("mlp.safetensors"));
            m.store().slice(m.store().tensor("fc2.weight")).setAtIndex(ValueLayout.JAVA_FLOAT, 5, Float.NaN);
            StateDict.save(m.store(), tmp.resolve("nan.safetensors"));
        }
        Path trunc = tmp.resolve("truncated");
        Files.createDirectories(trunc);
        byte[] px = new byte[20 * 784];
        byte[] labels = new byte[20];
        IdxReader.write(trunc.resolve(DataSource.TRAIN_IMAGES), new int[] {20, 28, 28}, px, false);
        IdxReader.write(trunc.resolve(DataSource.TRAIN_LABELS), new int[] {20}, labels, false);
        IdxReader.write(trunc.resolve(DataSource.TEST_IMAGES), new int[] {20, 28, 28}, px, false);
        IdxReader.write(trunc.resolve(DataSource.TEST_LABELS), new int[] {20}, labels, false);
        byte[] whole = Files.readAllBytes(trunc.resolve(DataSource.TRAIN_IMAGES));
        Files.write(trunc.resolve(DataSource.TRAIN_IMAGES), Arrays.copyOf(whole, 1000));
        Files.createDirectories(tmp.resolve("broken"));
        Files.writeString(tmp.resolve("broken/config.json"), "{not json");

        Path finished = tmp.resolve("finished");
        CliTest.Run r = CliTest.run("train", "--model", "mlp", "--steps", "5", "--batch", "64", "--threads", "2",
                "--optimizer", "sgd", "--out", finished.toString());
        assertEquals(0, r.code(), r.err());
        Path two = tmp.resolve("tworanks");
        Files.createDirectories(two);
        Files.copy(finished.resolve("config.json"), two.resolve("config.json"));
        SafeTensors.Loaded ck = SafeTensors.read(Checkpoint.path(finished));
        List<SafeTensors.Entry> entries = new ArrayList<>();
        ck.tensors().forEach((k, t) -> entries.add(new SafeTensors.Entry(k, t.shape(), MemorySegment.ofArray(t.values()))));
        Map<String, String> meta = new LinkedHashMap<>(ck.metadata());
        meta.put("ranks", "2");
        SafeTensors.write(Checkpoint.path(two), entries, meta);
    }
}
