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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * The trainer under each MPI's real launcher ({@link MpiJobs}: Open MPI's mpirun, MPICH's mpiexec) with 2
 * ranks on loopback, against single-process runs: global
 * perturbations reproduce one process on the global batch; local ones follow the m-sharpness formula
 * mean_k grad L_k(w + rho g_k/||g_k||), evaluated here step by step.
 */
class DataParallelTrainingTest {
    static final int BATCH = 64, LOCAL = 32;
    static final float LR = 0.05f, RHO = 0.05f;

    @TempDir
    Path tmp;

    /** Runs {@code sam4j train ARGS} in JVMs: under {@code mpi}'s launcher with 2 ranks, or (null) as one plain process. */
    private String train(MpiJobs mpi, String name, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("train"));
        cmd.addAll(List.of(args));
        cmd.addAll(List.of("--threads", "1", "--batch", Integer.toString(BATCH), "--lr", Float.toString(LR),
                "--rho", Float.toString(RHO), "--dist", mpi != null ? "mpi" : "none", "--out", tmp.resolve(name).toString(),
                "--save", tmp.resolve(name + ".safetensors").toString()));
        return launch(mpi, name, cmd);
    }

    /** {@code sam4j ARGS} under {@code mpi}'s launcher on 2 ranks (null: one plain process); fails unless it exits 0. */
    private String launch(MpiJobs mpi, String name, List<String> args) throws Exception {
        List<String> cmd = new ArrayList<>();
        if (mpi != null) cmd.addAll(mpi.command(2, false));
        cmd.addAll(MpiJobs.java("512m"));
        cmd.add("io.sam4j.cli.Main");
        cmd.addAll(args);
        File log = tmp.resolve(name + ".log").toFile();
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log);
        MpiJobs.scrubLauncherEnvironment(pb.environment());
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

    @ParameterizedTest
    @EnumSource(MpiJobs.class)
    void globalPerturbationOnTwoRanksEqualsOneProcessOnTheGlobalBatch(MpiJobs mpi) throws Exception {
        mpi.assumeInstalled();
        String[] args = {"--model", "mlp", "--steps", "12", "--optimizer", "fsam", "--stable", "--perturbation", "global"};
        train(null, "single", args);
        String log = train(mpi, "ranks", args);
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
    @ParameterizedTest
    @EnumSource(MpiJobs.class)
    void localPerturbationFollowsTheMSharpnessFormula(MpiJobs mpi) throws Exception {
        mpi.assumeInstalled();
        Path init = tmp.resolve("init.safetensors");
        float wd = 5e-4f;
        try (Model m = Models.create("mlp", new int[] {1, 28, 28}, 10, 0f, new Context(new Parallel(1), KernelsProvider.scalar()));
             Arena arena = Arena.ofShared()) {
            m.initialize(0);
            StateDict.save(m.store(), init);
            train(mpi, "local", "--model", "mlp", "--steps", "1", "--optimizer", "sam", "--perturbation", "local",
                    "--init", init.toString(), "--schedule", "constant", "--weight-decay", Float.toString(wd), "--no-shuffle");
            train(null, "whole", "--model", "mlp", "--steps", "1", "--optimizer", "sam", "--init", init.toString(),
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
    @ParameterizedTest
    @EnumSource(MpiJobs.class)
    void multiRankResumeRestoresEveryRanksState(MpiJobs mpi) throws Exception {
        mpi.assumeInstalled();
        String[] common = {"--model", "mlp", "--optimizer", "fsam", "--perturbation", "local", "--schedule", "constant"};
        train(mpi, "whole", concat(common, "--epochs", "2"));
        train(mpi, "part", concat(common, "--epochs", "1"));
        Path config = tmp.resolve("part").resolve("config.json");
        Files.writeString(config, Files.readString(config).replace("\"epochs\" : 1", "\"epochs\" : 2"));
        String out = launch(mpi, "resume", List.of("train", "--resume", tmp.resolve("part").toString(), "--dist", "mpi"));
        assertTrue(out.contains("resumed from"), out);
        for (String t : new String[] {"fc1.weight", "fc3.bias"}) {
            org.junit.jupiter.api.Assertions.assertArrayEquals(weights("whole", t), weights("part", t), t);
        }
        assertTrue(SafeTensors.read(tmp.resolve("part").resolve("checkpoint.safetensors")).tensors()
                .containsKey("optimizer.fsam_ema.rank1.fc1.weight"), "rank 1's EMA is checkpointed");
    }

    /**
     * The all-reduce in small buckets started during backward (many Iallreduce calls on tails of the buffer)
     * ends with the same weights, bit for bit, as one blocking all-reduce after backward (2 ranks: each
     * element is the sum of the same two floats either way). Global perturbations: both SAM passes overlap.
     */
    @ParameterizedTest
    @EnumSource(MpiJobs.class)
    void overlappedAllReduceIsBitIdenticalToTheBlockingOne(MpiJobs mpi) throws Exception {
        mpi.assumeInstalled();
        String[] args = {"--model", "mlp", "--steps", "6", "--optimizer", "sam", "--perturbation", "global"};
        String log = train(mpi, "buckets", concat(args, "--allreduce-bucket-mb", "0.05"));
        assertTrue(log.contains("all-reduce in 0.05 MB buckets overlapped with backward"), log);
        train(mpi, "blocking", concat(args, "--allreduce-bucket-mb", "0"));
        for (String t : new String[] {"fc1.weight", "fc1.bias", "fc2.weight", "fc3.weight", "fc3.bias"}) {
            org.junit.jupiter.api.Assertions.assertArrayEquals(weights("blocking", t), weights("buckets", t), t);
        }
    }

    /**
     * Local perturbations: pass 2's all-reduce runs during its backward out of place (each rank's g_adv stays
     * in the gradient buffer for its statistics) and ends, bit for bit, where the blocking one does. LookSAM
     * k=2 alternates an overlapped SAM step, whose stored component comes from the rank's own g_adv, with a
     * blocking reuse step; clipping measures the average. Rank 0's per-step statistics (steps.csv: ||g_adv||,
     * cos(e, g_adv)) are its own either way.
     */
    @ParameterizedTest
    @EnumSource(MpiJobs.class)
    void overlappedLocalAllReduceIsBitIdenticalToTheBlockingOne(MpiJobs mpi) throws Exception {
        mpi.assumeInstalled();
        String[] args = {"--model", "mlp", "--steps", "6", "--optimizer", "looksam", "--looksam-k", "2",
                "--perturbation", "local", "--grad-clip", "0.5"};
        train(mpi, "buckets", concat(args, "--allreduce-bucket-mb", "0.05"));
        train(mpi, "blocking", concat(args, "--allreduce-bucket-mb", "0"));
        for (String t : new String[] {"fc1.weight", "fc1.bias", "fc2.weight", "fc3.weight", "fc3.bias"}) {
            org.junit.jupiter.api.Assertions.assertArrayEquals(weights("blocking", t), weights("buckets", t), t);
        }
        String steps = Files.readString(tmp.resolve("blocking").resolve("steps.csv"));
        assertEquals(steps, Files.readString(tmp.resolve("buckets").resolve("steps.csv")));
        assertTrue(steps.lines().count() == 7, "a header and 6 steps:\n" + steps);
    }

    /**
     * SyncBatchNorm: 2 ranks on the cnn (two BatchNorm layers) with --sync-bn and global perturbations end a
     * SAM step within 1e-5 of one process on the global batch, running statistics included; without --sync-bn
     * they do not (each rank normalises its half with its own statistics: ~5e-4 apart).
     */
    @ParameterizedTest
    @EnumSource(MpiJobs.class)
    void syncBatchNormOnTwoRanksEqualsOneProcessOnTheGlobalBatch(MpiJobs mpi) throws Exception {
        mpi.assumeInstalled();
        // One SAM step (both passes, the running statistics' update): the convolutions sum their weight gradients
        // over 64 images in one process and 32 per rank here, which leaves ~5e-7 after one step; later steps
        // amplify it through ReLU and max-pool decisions near ties (measured 4.8e-5 after 3 steps).
        String[] args = {"--model", "cnn", "--steps", "1", "--optimizer", "sam", "--perturbation", "global",
                "--no-augment", "--schedule", "constant"};
        train(null, "single", args);
        String log = train(mpi, "sync", concat(args, "--sync-bn"));
        assertTrue(log.contains("SyncBatchNorm"), log);
        train(mpi, "plain", args);
        double syncErr = 0, plainGap = 0;
        for (String t : new String[] {"conv1.weight", "bn1.weight", "bn1.running_mean", "bn2.running_var", "conv2.weight",
                "fc2.weight"}) {
            float[] a = weights("single", t), b = weights("sync", t), c = weights("plain", t);
            for (int i = 0; i < a.length; i++) {
                double scale = Math.max(1, Math.abs(a[i]));
                syncErr = Math.max(syncErr, Math.abs(a[i] - b[i]) / scale);
                plainGap = Math.max(plainGap, Math.abs(a[i] - c[i]) / scale);
            }
        }
        assertTrue(syncErr <= 1e-5, "--sync-bn on 2 ranks differs from one process by " + syncErr);
        assertTrue(plainGap > 10 * Math.max(syncErr, 1e-7), "per-rank statistics must differ from the global ones ("
                + plainGap + ")");
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
