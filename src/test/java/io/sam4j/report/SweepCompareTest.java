package io.sam4j.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sam4j.cli.Main;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A 2x2 sweep killed mid-way and restarted finishes without redoing finished cells, and ends with a comparison. */
class SweepCompareTest {
    @TempDir
    Path tmp;

    static final String[] TRAIN = {"--model", "mlp", "--epochs", "2", "--batch", "500", "--threads", "1"};

    @Test
    void killedSweepResumesWithoutRedoingFinishedCells() throws Exception {
        Path sweep = tmp.resolve("sweep");
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Djava.awt.headless=true",
                "-cp", System.getProperty("java.class.path"), "io.sam4j.cli.Main",
                "sweep", "--out", sweep.toString(), "--grid", "optimizer=sgd,sam", "--grid", "seed=0,1", "--"));
        cmd.addAll(List.of(TRAIN));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(tmp.resolve("first.log").toFile()).start();
        Path firstDone = sweep.resolve("optimizer-sgd_seed-0/result.json");
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(4);
        while (!Files.exists(firstDone) && p.isAlive() && System.nanoTime() < deadline) Thread.sleep(200);
        assertTrue(Files.exists(firstDone), "the first cell finished: " + Files.readString(tmp.resolve("first.log")));
        p.destroyForcibly(); // SIGKILL: no shutdown hooks, whatever the second cell was doing
        p.waitFor(30, TimeUnit.SECONDS);
        assertTrue(!Files.exists(sweep.resolve("compare.html")), "killed before the end");
        Map<String, FileTime> before = finishedCells(sweep);

        assertEquals(0, Main.execute("sweep", "--out", sweep.toString())); // resumes from sweep.json
        Map<String, FileTime> after = finishedCells(sweep);
        assertEquals(4, after.size(), "every cell finished: " + after.keySet());
        for (var e : before.entrySet()) {
            assertEquals(e.getValue(), after.get(e.getKey()), e.getKey() + " was not trained again");
            assertEquals(e.getValue(), Files.getLastModifiedTime(sweep.resolve(e.getKey()).resolve("metrics.jsonl")),
                    e.getKey() + "'s metrics untouched");
        }
        for (String cell : after.keySet()) {
            RunFolder r = RunFolder.read(sweep.resolve(cell));
            assertEquals(2, r.epochs().size(), cell + " has both epochs, once each");
        }
        String html = Files.readString(sweep.resolve(Comparison.HTML));
        assertTrue(html.contains("optimizer=sgd") && html.contains("optimizer=sam"), "groups named by what differs");
        assertTrue(Files.isRegularFile(sweep.resolve("plots/compare_test_acc.png")));

        // Seeds group: two groups of two runs, mean +- std of the final accuracies.
        List<Comparison.Group> groups = Comparison.group(Stream.of("optimizer-sgd_seed-0", "optimizer-sgd_seed-1",
                "optimizer-sam_seed-0", "optimizer-sam_seed-1").map(c -> RunFolder.read(sweep.resolve(c))).toList());
        assertEquals(2, groups.size());
        assertEquals("optimizer=sgd", groups.get(0).label());
        assertEquals(2, groups.get(1).runs().size());

        assertEquals(2, Main.execute("sweep", "--out", sweep.toString(), "--grid", "optimizer=adamw"), "another grid in the same folder");
    }

    @Test
    void aDivergedCellIsAResultTheSweepGoesOnAndTheComparisonNamesIt() throws Exception {
        Path sweep = tmp.resolve("lr");
        String[] args = {"sweep", "--out", sweep.toString(), "--grid", "lr=1e30,0.05", "--", "--model", "mlp", "--optimizer", "sgd",
                "--steps", "3", "--batch", "64", "--threads", "1", "--no-report"};
        assertEquals(0, Main.execute(args), "divergence is an outcome of an lr sweep, not its failure");
        Path diverged = sweep.resolve("lr-1e30/diverged.json");
        assertTrue(Files.exists(diverged) && !Files.exists(sweep.resolve("lr-1e30/result.json")));
        assertTrue(Files.exists(sweep.resolve("lr-0.05/result.json")), "the cell after the diverged one trained");
        assertTrue(Files.readString(sweep.resolve(Comparison.SUMMARY)).contains("| seed 0 diverged at epoch 1 (step 2) |"));
        FileTime before = Files.getLastModifiedTime(diverged);
        assertEquals(0, Main.execute("sweep", "--out", sweep.toString()), "resumed: the diverged cell is skipped");
        assertEquals(before, Files.getLastModifiedTime(diverged));
    }

    @Test
    void badGridIsAOneLineErrorBeforeAnythingIsWritten() {
        Path sweep = tmp.resolve("bad");
        assertEquals(2, Main.execute("sweep", "--out", sweep.toString(), "--grid", "nosuchflag=1,2"));
        assertEquals(2, Main.execute("sweep", "--out", sweep.toString(), "--grid", "optimizer=sgd,nope", "--", "--model", "mlp"));
        assertEquals(2, Main.execute("sweep", "--out", sweep.toString(), "--grid", "stable=maybe"));
        assertEquals(2, Main.execute("sweep", "--out", sweep.toString(), "--grid", "seed"));
        assertTrue(!Files.exists(sweep), "nothing written");
    }

    private static Map<String, FileTime> finishedCells(Path sweep) throws Exception {
        Map<String, FileTime> m = new TreeMap<>();
        try (Stream<Path> s = Files.list(sweep)) {
            for (Path c : s.filter(Files::isDirectory).toList()) {
                if (Files.exists(c.resolve("result.json"))) m.put(c.getFileName().toString(), Files.getLastModifiedTime(c.resolve("metrics.jsonl")));
            }
        }
        return m;
    }
}
