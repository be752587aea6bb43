package io.sam4j.claims;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Color;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Claim 4's curves and table from run folders: steps from metrics.jsonl, values from sharpness.jsonl, seeds averaged. */
class WenFiguresTest {
    @TempDir
    Path dir;

    private void run(String name, double lambda0, double lambda1) throws IOException {
        Path r = Files.createDirectories(dir.resolve(name));
        // an epoch line without a probe, then two probes at steps 200 and 400
        Files.writeString(r.resolve("metrics.jsonl"), """
                {"epoch":1,"step":100,"train_loss":0.6}
                {"epoch":2,"step":200,"train_loss":0.55,"lambda_max":%s}
                {"epoch":3,"step":400,"train_loss":0.51,"lambda_max":%s}
                """.formatted(lambda0, lambda1));
        Files.writeString(r.resolve("sharpness.jsonl"), """
                {"loss":0.52,"lambda_max":%s,"trace":30,"alignment":0.5}
                {"loss":0.51,"lambda_max":%s,"trace":20,"alignment":0.25}
                """.formatted(lambda0, lambda1));
    }

    @Test
    void seedsAreAveragedPerStepFromTheSharedStart() throws IOException {
        run("sam-b1-seed0", 3.0, 2.0);
        run("sam-b1-seed1", 3.0, 4.0);
        run("sam-b1-seedling", 9, 9); // not a seed folder of the group
        WenFigures.Point start = new WenFigures.Point(0, 0.5, 4.0, 40, 0.9);
        List<Path> runs = WenFigures.runsOf(dir, "sam-b1-seed");
        assertEquals(List.of("sam-b1-seed0", "sam-b1-seed1"), runs.stream().map(p -> p.getFileName().toString()).toList());
        WenFigures.Group g = new WenFigures.Group("SAM, batch 1", "sam-b1-seed", Color.RED, new ArrayList<>());
        for (Path p : runs) g.runs().add(WenFigures.curve(p, start));
        assertArrayEquals(new double[] {0, 200, 400}, g.steps());
        double[][] lam = g.meanStd(WenFigures.Point::lambdaMax);
        assertArrayEquals(new double[] {4.0, 3.0, 3.0}, lam[0], 1e-12);
        assertArrayEquals(new double[] {0, 0, Math.sqrt(2)}, lam[1], 1e-12, "sample std of 2 and 4");
        String table = WenFigures.table(List.of(g), start);
        assertTrue(table.contains("| SAM, batch 1 | 2 | 400 | 3.000 +- 1.414 | 3.000 +- 1.414 | -25 % | 20.00 | 20.00 | -50 % | 0.375 | 0.5100 |"), table);
    }
}
