package io.sam4j.distributed;

import static io.sam4j.TestUtil.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sam4j.data.Batcher;
import io.sam4j.data.DataSource;
import io.sam4j.data.Normalizer;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import io.sam4j.nn.Context;
import io.sam4j.nn.Mode;
import io.sam4j.nn.Model;
import io.sam4j.nn.Models;
import io.sam4j.formats.SafeTensors;
import io.sam4j.formats.StateDict;
import java.io.File;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The trainer under real {@code mpirun -np 2} on loopback, against single-process runs: global
 * perturbations reproduce one process on the global batch; local ones follow the m-sharpness formula
 * mean_k grad L_k(w + rho g_k/||g_k||), evaluated here step by step.
 */
class DataParallelTrainingTest {
    static final int BATCH = 64, LOCAL = 32;
    static final float LR = 0.05f, RHO = 0.05f;

    @TempDir
    Path tmp;

    static Path mpirun;

    @BeforeAll
    static void findMpirun() {
        mpirun = MpiLoopbackTest.onPath("mpirun");
        Assumptions.assumeTrue(mpirun != null, "mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev)");
    }

    /** Runs {@code sam4j train ARGS} in JVMs: under mpirun with 2 ranks, or as one plain process. */
    private String train(boolean mpi, String name, String... args) throws Exception {
        List<String> cmd = new ArrayList<>();
        if (mpi) cmd.addAll(List.of(mpirun.toString(), "--allow-run-as-root", "--oversubscribe", "-np", "2", "--bind-to", "none",
                "--mca", "btl", "self,vader"));
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of("--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx512m",
                "-cp", System.getProperty("java.class.path"), "io.sam4j.cli.Main", "train"));
        cmd.addAll(List.of(args));
        cmd.addAll(List.of("--threads", "1", "--batch", Integer.toString(BATCH), "--lr", Float.toString(LR),
                "--rho", Float.toString(RHO), "--dist", mpi ? "mpi" : "none", "--out", tmp.resolve(name).toString(),
                "--save", tmp.resolve(name + ".safetensors").toString()));
        File log = tmp.resolve(name + ".log").toFile();
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log);
        MpiLoopbackTest.scrubLauncherEnvironment(pb.environment());
        Process p = pb.start();
        boolean done = p.waitFor(180, TimeUnit.SECONDS);
        if (!done) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        String out = Files.readString(log.toPath(), StandardCharsets.UTF_8);
        assertTrue(done && p.exitValue() == 0, name + " failed:\n" + out);
        return out;
    }

    private float[] weights(String name, String tensor) {
        return SafeTensors.read(tmp.resolve(name + ".safetensors")).tensors().get(tensor).values();
    }

    @Test
    void globalPerturbationOnTwoRanksEqualsOneProcessOnTheGlobalBatch() throws Exception {
        String[] args = {"--model", "mlp", "--steps", "12", "--optimizer", "fsam", "--stable", "--perturbation", "global"};
        train(false, "single", args);
        String log = train(true, "ranks", args);
        assertTrue(log.contains("2 ranks x batch 32"), log);
        for (String t : new String[] {"fc1.weight", "fc2.bias", "fc3.weight"}) {
            float[] a = weights("single", t), b = weights("ranks", t);
            double maxDiff = 0, maxAbs = 0;
            for (int i = 0; i < a.length; i++) {
                maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
                maxAbs = Math.max(maxAbs, Math.abs(a[i]));
            }
            assertTrue(maxDiff <= 1e-5 * Math.max(1, maxAbs), t + ": 2 ranks differ from one process by " + maxDiff);
        }
    }

    /** One local SAM step: w1 = w0 - lr * (mean_k g_adv_k + wd*w0), g_adv_k at w0 + rho*g_k/||g_k|| on rank k's half. */
    @Test
    void localPerturbationFollowsTheMSharpnessFormula() throws Exception {
        Path init = tmp.resolve("init.safetensors");
        float wd = 5e-4f;
        try (Model m = Models.create("mlp", new int[] {1, 28, 28}, 10, 0f, new Context(new Parallel(1), KernelsProvider.scalar()));
             Arena arena = Arena.ofShared()) {
            m.initialize(0);
            StateDict.save(m.store(), init);
            train(true, "local", "--model", "mlp", "--steps", "1", "--optimizer", "sam", "--perturbation", "local",
                    "--init", init.toString(), "--schedule", "constant", "--weight-decay", Float.toString(wd), "--no-shuffle");
            train(false, "whole", "--model", "mlp", "--steps", "1", "--optimizer", "sam", "--init", init.toString(),
                    "--schedule", "constant", "--weight-decay", Float.toString(wd), "--no-shuffle");

            // The same first batch the trainer saw (--no-shuffle: examples 0..63), split in two halves.
            DataSource.Split split = DataSource.load(null);
            Batcher b = new Batcher(split.train(), Normalizer.fit(split.train()), BATCH, 0, false);
            MemorySegment x = arena.allocate(4L * BATCH * 784, 64);
            int[] labels = new int[BATCH];
            b.fill(0, 0, x, labels);
            var store = m.store();
            long n = store.paramLength();
            float[] w0 = io.sam4j.TestUtil.toArray(store.params(), n);
            double[] gAdvMean = new double[(int) n];
            for (int k = 0; k < 2; k++) {
                MemorySegment xk = x.asSlice(4L * k * LOCAL * 784, 4L * LOCAL * 784);
                int[] lk = java.util.Arrays.copyOfRange(labels, k * LOCAL, (k + 1) * LOCAL);
                MemorySegment.copy(w0, 0, store.params(), java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, (int) n);
                m.lossAndGrad(xk, lk, LOCAL, Mode.TRAIN);
                double norm = 0;
                for (long i = 0; i < n; i++) norm += (double) get(store.grads(), i) * get(store.grads(), i);
                double s = RHO / (Math.sqrt(norm) + 1e-12);
                for (long i = 0; i < n; i++) store.params().setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i,
                        (float) (w0[(int) i] + s * get(store.grads(), i)));
                m.lossAndGrad(xk, lk, LOCAL, Mode.TRAIN_FROZEN_STATS);
                for (long i = 0; i < n; i++) gAdvMean[(int) i] += get(store.grads(), i) / 2.0;
            }
            var fc1 = store.tensor("fc1.weight");
            float[] got = weights("local", "fc1.weight"), whole = weights("whole", "fc1.weight");
            double maxErr = 0, maxGap = 0;
            for (int i = 0; i < got.length; i++) {
                int j = (int) fc1.offset() + i;
                double expected = w0[j] - LR * (gAdvMean[j] + wd * w0[j]);
                maxErr = Math.max(maxErr, Math.abs(got[i] - expected));
                maxGap = Math.max(maxGap, Math.abs(got[i] - whole[i]));
            }
            assertTrue(maxErr < 2e-6, "local SAM step differs from the formula by " + maxErr);
            assertTrue(maxGap > 100 * maxErr, "local perturbations must differ from one process on the global batch ("
                    + maxGap + ")");
        }
    }

    /**
     * --resume on 2 ranks with F-SAM's per-rank EMAs (local perturbations): a run stopped after epoch 1 and
     * resumed to epoch 2 ends with the same weights, bit for bit, as a 2-epoch run (constant lr, so the
     * schedule does not depend on the planned length).
     */
    @Test
    void multiRankResumeRestoresEveryRanksState() throws Exception {
        String[] common = {"--model", "mlp", "--optimizer", "fsam", "--perturbation", "local", "--schedule", "constant"};
        train(true, "whole", concat(common, "--epochs", "2"));
        train(true, "part", concat(common, "--epochs", "1"));
        Path config = tmp.resolve("part").resolve("config.json");
        Files.writeString(config, Files.readString(config).replace("\"epochs\" : 1", "\"epochs\" : 2"));
        List<String> resume = new ArrayList<>(List.of(mpirun.toString(), "--allow-run-as-root", "--oversubscribe", "-np", "2",
                "--bind-to", "none", "--mca", "btl", "self,vader",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-Xmx512m", "-cp", System.getProperty("java.class.path"),
                "io.sam4j.cli.Main", "train", "--resume", tmp.resolve("part").toString(), "--dist", "mpi"));
        File log = tmp.resolve("resume.log").toFile();
        ProcessBuilder pb = new ProcessBuilder(resume).redirectErrorStream(true).redirectOutput(log);
        MpiLoopbackTest.scrubLauncherEnvironment(pb.environment());
        Process p = pb.start();
        boolean done = p.waitFor(180, TimeUnit.SECONDS);
        if (!done) p.destroyForcibly();
        String out = Files.readString(log.toPath(), StandardCharsets.UTF_8);
        assertTrue(done && p.exitValue() == 0, "resume failed:\n" + out);
        assertTrue(out.contains("resumed from"), out);
        for (String t : new String[] {"fc1.weight", "fc3.bias"}) {
            org.junit.jupiter.api.Assertions.assertArrayEquals(weights("whole", t), weights("part", t), t);
        }
        assertTrue(SafeTensors.read(tmp.resolve("part").resolve("checkpoint.safetensors")).tensors()
                .containsKey("optimizer.fsam_ema.rank1.fc1.weight"), "rank 1's EMA is checkpointed");
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
