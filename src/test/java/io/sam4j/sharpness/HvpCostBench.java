package io.sam4j.sharpness;

import io.sam4j.data.Batcher;
import io.sam4j.data.DataSource;
import io.sam4j.data.Dataset;
import io.sam4j.data.Normalizer;
import io.sam4j.kernels.FlatOps;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import io.sam4j.nn.Context;
import io.sam4j.nn.Model;
import io.sam4j.nn.Models;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Timing main (not a test): what one exact Hessian-vector product costs against a gradient evaluation, a
 * finite-difference product and a Gauss-Newton product, measured side by side in one JVM (rounds
 * interleaved, median of each), on the first N training examples in batches of B, BatchNorm in eval mode.
 *
 * <pre>java ... io.sam4j.sharpness.HvpCostBench MODEL [DATA_DIR|embedded] [examples=1000] [batch=1000] [rounds=5] [threads]</pre>
 */
public final class HvpCostBench {
    public static void main(String[] args) {
        String model = args.length > 0 ? args[0] : "mlp";
        String data = args.length > 1 ? args[1] : "embedded";
        int examples = args.length > 2 ? Integer.parseInt(args[2]) : 1000;
        int batch = args.length > 3 ? Integer.parseInt(args[3]) : 1000;
        int rounds = args.length > 4 ? Integer.parseInt(args[4]) : 5;
        if (args.length > 5) Parallel.setCommonThreads(Integer.parseInt(args[5]));
        DataSource.Split split = data.equals("embedded") ? DataSource.loadEmbedded() : DataSource.load(Path.of(data));
        Dataset train = split.train();
        Normalizer norm = Normalizer.fit(train);
        int[] in = {train.channels(), train.height(), train.width()};
        try (Model m = Models.create(model, in, train.numClasses(), 0f, new Context(Parallel.common(), KernelsProvider.get(),
                io.sam4j.conv.ConvBackends.create("auto", Parallel.common(), System.err)));
             Arena arena = Arena.ofShared()) {
            m.initialize(0);
            List<ModelOracle.Batch> batches = ModelOracle.sequential(new Batcher(train, norm, 1, 0, false), 0, examples, batch, arena);
            FlatOps ops = new FlatOps(m.context().kernels(), m.context().parallel());
            try (ModelOracle oracle = new ModelOracle(m, batches);
                 ExactHessianVectorProduct exact = new ExactHessianVectorProduct(oracle, false);
                 ExactHessianVectorProduct gn = new ExactHessianVectorProduct(oracle, true);
                 HessianVectorProduct fd = new HessianVectorProduct(m.store(), oracle, ops)) {
                MemorySegment v = exact.newBuffer(), out = exact.newBuffer();
                RandomVectors.rademacher(m.store(), ops, v, new SplittableRandom(1));
                String[] names = {"gradient", "exact Hv", "fd Hv", "Gauss-Newton Gv"};
                Runnable[] work = {oracle::lossAndGrad, () -> exact.apply(v, out), () -> fd.apply(v, out), () -> gn.apply(v, out)};
                double[][] t = new double[names.length][rounds];
                for (Runnable w : work) w.run(); // warm-up
                for (int r = 0; r < rounds; r++) {
                    for (int k = 0; k < work.length; k++) {
                        long t0 = System.nanoTime();
                        work[k].run();
                        t[k][r] = (System.nanoTime() - t0) / 1e9;
                    }
                }
                double grad = median(t[0]);
                System.out.printf(Locale.ROOT, "%s, %d examples in batches of %d, %d rounds, %d threads, %s%n", model, examples, batch, rounds,
                        Parallel.common().threads(), m.usesConvolutions() ? "convolutions " + m.context().convBackend().name() : "no convolutions");
                for (int k = 0; k < names.length; k++) {
                    System.out.printf(Locale.ROOT, "  %-16s median %.3f s  = %.2f gradient evaluations%n", names[k], median(t[k]), median(t[k]) / grad);
                }
            }
        }
    }

    private static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
