package io.sam4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad input: one line on stderr naming the flag, non-zero exit, nothing written. */
class CliTest {
    @TempDir
    Path tmp;

    record Run(int code, String out, String err) {}

    static synchronized Run run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int code = Main.execute(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    private void assertOneLineError(Run r, String mustContain) {
        assertTrue(r.code() != 0, "exit code");
        String e = r.err().strip();
        assertFalse(e.contains("\n"), "one line, got: " + e);
        assertTrue(e.contains(mustContain), "'" + e + "' should name " + mustContain);
    }

    @Test
    void helpListsEveryFlag() {
        Run r = run("train", "--help");
        assertEquals(0, r.code());
        for (String flag : new String[] {"--model", "--data", "--epochs", "--steps", "--batch", "--lr", "--momentum",
                "--nesterov", "--weight-decay", "--schedule", "--optimizer", "--rho", "--seed", "--threads", "--no-shuffle",
                "--no-augment", "--init", "--save", "--out", "--base", "--sigma", "--lambda", "--eta", "--adaptive",
                "--asam-form", "--stable", "--grad-clip", "--label-noise", "--label-smoothing", "--friendly", "--gsam-alpha",
                "--rho-min", "--looksam-k", "--looksam-alpha", "--ae-delta", "--ae-lambda1", "--ae-lambda2", "--rst-schedule"}) {
            assertTrue(r.out().contains(flag), flag);
        }
    }

    @Test
    void badValuesNameTheFlag() {
        Path out = tmp.resolve("run");
        assertOneLineError(run("train", "--batch", "zero", "--out", out.toString()), "--batch");
        assertOneLineError(run("train", "--batch", "0", "--out", out.toString()), "--batch");
        assertOneLineError(run("train", "--lr", "-1", "--out", out.toString()), "--lr");
        assertOneLineError(run("train", "--optimizer", "adam", "--out", out.toString()), "--optimizer");
        assertOneLineError(run("train", "--model", "nope", "--out", out.toString()), "--model");
        assertOneLineError(run("train", "--schedule", "step", "--out", out.toString()), "--schedule");
        assertOneLineError(run("train", "--label-noise", "1.5", "--out", out.toString()), "--label-noise");
        assertOneLineError(run("train", "--init", tmp.resolve("missing.safetensors").toString(), "--out", out.toString()),
                "--init");
        assertOneLineError(run("train", "--data", tmp.resolve("nowhere").toString(), "--out", out.toString()), "nowhere");
        assertOneLineError(run("train", "--no-such-flag"), "--no-such-flag");
        // Undefined combinations of the composition table are refused, naming the combination and the reason.
        assertOneLineError(run("train", "--optimizer", "gsam", "--stable", "--out", out.toString()), "--optimizer gsam --stable: GSAM with StableSAM");
        assertOneLineError(run("train", "--optimizer", "looksam", "--stable", "--out", out.toString()), "LookSAM with StableSAM");
        assertOneLineError(run("train", "--optimizer", "sam", "--friendly", "--out", out.toString()), "--friendly");
        assertOneLineError(run("train", "--optimizer", "looksam", "--looksam-k", "0", "--out", out.toString()), "--looksam-k");
        assertOneLineError(run("train", "--optimizer", "rst", "--rst-schedule", "linear:2", "--out", out.toString()), "--rst-schedule");
        assertOneLineError(run("train", "--optimizer", "gsam", "--gsam-alpha", "-1", "--out", out.toString()), "--gsam-alpha");
        assertOneLineError(run("bench", "--opts", "gsam", "--stable"), "GSAM with StableSAM");
        assertFalse(Files.exists(out), "nothing written for a bad command");
    }

    @Test
    void sharpnessCommandWritesAReport() throws Exception {
        Path w = tmp.resolve("w.safetensors"), report = tmp.resolve("s.json");
        assertEquals(0, run("train", "--model", "mlp", "--steps", "20", "--threads", "1", "--out", tmp.resolve("run").toString(),
                "--save", w.toString()).code());
        Run r = run("sharpness", "--model", "mlp", "--weights", w.toString(), "--subset", "128", "--batch", "64", "--iters", "5",
                "--trace-samples", "3", "--threads", "1", "--out", report.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("lambda_max"), r.out());
        com.fasterxml.jackson.databind.JsonNode j = new com.fasterxml.jackson.databind.ObjectMapper().readTree(report.toFile());
        assertTrue(j.get("lambda_max").asDouble() > 0, j.toString());
        assertTrue(j.has("trace") && j.has("alignment") && j.has("ascent_sharpness"), j.toString());
        assertOneLineError(run("sharpness", "--weights", tmp.resolve("none.safetensors").toString()), "--weights");
        assertOneLineError(run("sharpness", "--model", "mlp", "--weights", w.toString(), "--bn", "odd", "--subset", "8"), "--bn");
    }

    @Test
    void sharpnessWritesTheSpectrumAndLandscapes() throws Exception {
        Path w = tmp.resolve("w2.safetensors"), report = tmp.resolve("x.json");
        assertEquals(0, run("train", "--model", "mlp", "--steps", "10", "--threads", "1", "--out", tmp.resolve("run2").toString(),
                "--save", w.toString()).code());
        String[] common = {"sharpness", "--model", "mlp", "--weights", w.toString(), "--subset", "64", "--batch", "32", "--threads", "1"};
        Run r = run(concat(common, "--topk", "2", "--iters", "20", "--trace-method", "hutchpp", "--trace-samples", "6", "--spectrum",
                "--spectrum-steps", "8", "--landscape", "1d", "--landscape-points", "5", "--rho", "0", "--out", report.toString()));
        assertEquals(0, r.code(), r.err());
        com.fasterxml.jackson.databind.JsonNode j = new com.fasterxml.jackson.databind.ObjectMapper().readTree(report.toFile());
        assertEquals("exact", j.get("hvp").asText());
        assertEquals("hutchpp", j.get("trace_method").asText());
        assertEquals(2, j.get("top_eigenvalues").size());
        for (String f : new String[] {"x-spectrum.json", "x-spectrum.png", "x-spectrum.svg", "x-landscape-1d.json", "x-landscape-1d.png",
                "x-landscape-1d.svg"}) {
            assertTrue(Files.size(tmp.resolve(f)) > 100, f);
        }
        com.fasterxml.jackson.databind.JsonNode land = new com.fasterxml.jackson.databind.ObjectMapper().readTree(tmp.resolve("x-landscape-1d.json").toFile());
        assertEquals(3, land.get("lines").size());
        assertEquals(0, run(concat(common, "--hvp", "fd", "--method", "power", "--iters", "5", "--trace-samples", "3", "--rho", "0",
                "--out", tmp.resolve("fd.json").toString())).code());
        assertOneLineError(run(concat(common, "--landscape", "3d")), "--landscape");
        assertOneLineError(run(concat(common, "--hvp", "autograd")), "--hvp");
        assertOneLineError(run(concat(common, "--trace-method", "exact")), "--trace-method");
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void benchPrintsTheReferenceFields() throws Exception {
        Run r = run("bench", "--model", "mlp", "--opts", "sgd,stablesam", "--steps", "2", "--warmup", "1",
                "--warmup-seconds", "0", "--threads", "1", "--dist", "none");
        assertEquals(0, r.code(), r.err());
        String[] lines = r.out().strip().split("\n");
        assertEquals(2, lines.length, r.out());
        com.fasterxml.jackson.databind.JsonNode j = new com.fasterxml.jackson.databind.ObjectMapper().readTree(lines[1]);
        for (String k : new String[] {"impl", "model", "opt", "batch", "threads", "params", "ms_step_median", "ms_step_min",
                "ms_step_mean", "peak_rss_mb"}) {
            assertTrue(j.has(k), k + " in " + j);
        }
        assertEquals("stablesam", j.get("opt").asText());
        assertEquals(269322, j.get("params").asInt());
        assertOneLineError(run("bench", "--opts", "adam"), "--optimizer");
        assertOneLineError(run("bench", "--rounds", "0"), "--rounds");
    }

    /** --layer-times: every layer of the mlp, in model order, each inside the step (together at most its mean). */
    @Test
    void benchTimesEachLayer() throws Exception {
        Run r = run("bench", "--model", "mlp", "--opts", "sgd,sam", "--steps", "3", "--warmup", "1", "--warmup-seconds", "0",
                "--threads", "1", "--dist", "none", "--layer-times");
        assertEquals(0, r.code(), r.err());
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        for (String line : r.out().strip().split("\n")) {
            com.fasterxml.jackson.databind.JsonNode j = json.readTree(line), layers = j.get("layer_ms");
            assertTrue(layers != null && layers.isObject(), line);
            java.util.List<String> names = new java.util.ArrayList<>();
            layers.fieldNames().forEachRemaining(names::add);
            assertEquals(java.util.List.of("#0", "fc1", "#2", "fc2", "#4", "fc3"), names, line);
            double sum = 0;
            for (String name : names) {
                double f = layers.get(name).get(0).asDouble(), b = layers.get(name).get(1).asDouble();
                assertTrue(f >= 0 && b >= 0, name + " in " + line);
                sum += f + b;
            }
            assertTrue(layers.get("fc1").get(0).asDouble() > 0, "fc1 forward takes time: " + line);
            assertTrue(sum <= j.get("ms_step_mean").asDouble() * 1.001 + 0.01, "layers inside the step: " + line);
        }
        assertTrue(r.err().contains("mlp sam, NCHW: ms per step over 3 timed steps"), r.err());
        assertTrue(r.err().contains("(outside the layers)"), r.err());
    }

    @Test
    void benchTakesTheEfficientVariantsAndTheirFlags() throws Exception {
        Run r = run("bench", "--model", "mlp", "--opts", "gsam,looksam,aesam,rst", "--looksam-k", "2", "--gsam-alpha", "0.1",
                "--rst-schedule", "constant:1", "--steps", "4", "--warmup", "0", "--warmup-seconds", "0", "--threads", "1", "--dist", "none");
        assertEquals(0, r.code(), r.err());
        String[] lines = r.out().strip().split("\n");
        assertEquals(4, lines.length, r.out());
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        assertEquals("gsam", json.readTree(lines[0]).get("opt").asText());
        assertEquals(0.5, json.readTree(lines[1]).get("sam_fraction").asDouble(), 1e-9, "looksam k = 2 over 4 steps");
        assertEquals(1.0, json.readTree(lines[3]).get("sam_fraction").asDouble(), 1e-9, "rst with p = 1");
    }

    @Test
    void benchSplitsTheBatchAsTrainDoes() throws Exception {
        Run r = run("bench", "--model", "mlp", "--opts", "sgd,sam,looksam", "--m", "16", "--batch", "32", "--steps", "2",
                "--warmup", "0", "--warmup-seconds", "0", "--threads", "1", "--dist", "none");
        assertEquals(0, r.code(), r.err());
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        String[] lines = r.out().strip().split("\n");
        assertEquals(3, lines.length, r.out());
        assertEquals("sgd", json.readTree(lines[0]).get("opt").asText(), "--m applies only where train defines it");
        assertEquals("sam+m16", json.readTree(lines[1]).get("opt").asText());
        assertEquals("looksam", json.readTree(lines[2]).get("opt").asText());
        r = run("bench", "--model", "mlp", "--opts", "sgd", "--accumulate", "4", "--batch", "32", "--steps", "2",
                "--warmup", "0", "--warmup-seconds", "0", "--threads", "1", "--dist", "none");
        assertEquals(0, r.code(), r.err());
        assertEquals("sgd+accumulate4", json.readTree(r.out().strip()).get("opt").asText());
        assertOneLineError(run("bench", "--model", "mlp", "--opts", "sam", "--m", "5", "--batch", "32", "--steps", "1",
                "--warmup-seconds", "0", "--dist", "none"), "--m");
    }

    @Test
    void benchRoundsInterleaveAndPoolTheSteps() throws Exception {
        Run r = run("bench", "--model", "mlp", "--opts", "sgd,sam", "--steps", "2", "--warmup", "0", "--rounds", "2",
                "--warmup-seconds", "0", "--threads", "1", "--dist", "none");
        assertEquals(0, r.code(), r.err());
        String[] lines = r.out().strip().split("\n");
        assertEquals(2, lines.length, r.out());
        var j = new com.fasterxml.jackson.databind.ObjectMapper().readTree(lines[1]);
        assertEquals("sam", j.get("opt").asText());
        assertEquals(2, j.get("rounds").asInt());
        assertTrue(j.get("ms_step_min").asDouble() <= j.get("ms_step_median").asDouble(), j.toString());
        assertTrue(j.get("ms_step_min").asDouble() <= j.get("ms_step_mean").asDouble(), j.toString());
    }

    @Test
    void benchKernelsReportsBandwidthBesideTheTriad() throws Exception {
        Run r = run("bench", "--kernels", "--kernel-floats", "300007", "--steps", "5", "--warmup-seconds", "0",
                "--threads", "2");
        assertEquals(0, r.code(), r.err());
        String[] lines = r.out().strip().split("\n");
        var mapper = new com.fasterxml.jackson.databind.ObjectMapper();
        var first = mapper.readTree(lines[0]);
        assertEquals("triad", first.get("kernel").asText());
        assertEquals(1.0, first.get("fraction_of_triad").asDouble(), 1e-9);
        java.util.Set<String> names = new java.util.HashSet<>();
        for (String l : lines) {
            var j = mapper.readTree(l);
            names.add(j.get("kernel").asText());
            assertEquals(300007, j.get("floats").asLong());
            assertTrue(j.get("gb_per_s").asDouble() > 0, l);
            // GB/s must be the bytes moved over the median time
            double expect = j.get("bytes_per_float").asInt() * 300007.0 / (j.get("ms_median").asDouble() * 1e6);
            assertEquals(expect, j.get("gb_per_s").asDouble(), expect * 0.02 + 0.01, l);
        }
        for (String k : new String[] {"perturb SAM (save w0, w += e)", "perturb F-SAM (+ EMA update)",
                "sgdStep (restore + momentum + wd)", "adversarialStats (StableSAM norms)"}) {
            assertTrue(names.contains(k), k + " in " + names);
        }
        assertOneLineError(run("bench", "--kernels", "--kernel-floats", "0"), "--kernel-floats");
    }
}
