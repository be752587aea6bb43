package io.sam4j.sharpness;

import io.sam4j.data.Batcher;
import io.sam4j.data.DataSource;
import io.sam4j.data.Dataset;
import io.sam4j.data.Normalizer;
import io.sam4j.kernels.FlatOps;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import io.sam4j.nn.Context;
import io.sam4j.nn.Mode;
import io.sam4j.nn.Model;
import io.sam4j.nn.Models;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Locale;

/**
 * Timing harness (not a test; no assertions): lambda_max and trace of {@code mlp} on the first N
 * examples of the embedded Fashion-MNIST subset, after a short plain-SGD warm-up so the weights are
 * not at initialisation. Also prints v^T H v / ||v||^2 over a sweep of relative steps. Run after
 * {@code mvn -q -B -o test-compile}:
 *
 * <pre>java --add-modules jdk.incubator.vector -cp target/classes:target/test-classes:$(cat cp.txt) \
 *     io.sam4j.sharpness.SharpnessBench [threads] [examples] [sgdSteps] [batch] [traceSweepSamples]</pre>
 *
 * With {@code traceSweepSamples > 0} it also runs Hutchinson with that many probes (no early stop) at
 * several relative steps, to show how ReLU kinks make the per-probe values noisy.
 */
public final class SharpnessBench {
    public static void main(String[] args) {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : Runtime.getRuntime().availableProcessors();
        int examples = args.length > 1 ? Integer.parseInt(args[1]) : 1000;
        int sgdSteps = args.length > 2 ? Integer.parseInt(args[2]) : 300;
        int batch = args.length > 3 ? Integer.parseInt(args[3]) : 250;
        int sweepSamples = args.length > 4 ? Integer.parseInt(args[4]) : 0;
        Parallel.setCommonThreads(threads);
        DataSource.Split split = DataSource.loadEmbedded();
        Dataset train = split.train();
        Normalizer norm = Normalizer.fit(train);
        int[] in = {train.channels(), train.height(), train.width()};
        try (Model m = Models.create("mlp", in, train.numClasses(), 0f, new Context(Parallel.common(), KernelsProvider.get()));
             Arena arena = Arena.ofShared()) {
            m.initialize(0);
            FlatOps ops = new FlatOps(m.context().kernels(), m.context().parallel());
            long n = m.store().paramLength();
            // Warm-up training: plain SGD, lr 0.1, batch 128, shuffled.
            Batcher tb = new Batcher(train, norm, 128, 1, true);
            MemorySegment x = arena.allocate(tb.batchBytes(), 64);
            int[] y = new int[128];
            double l = Double.NaN;
            for (int s = 0; s < sgdSteps; s++) {
                tb.fill(s / tb.batchesPerEpoch(), s % tb.batchesPerEpoch(), x, y);
                l = m.lossAndGrad(x, y, 128, Mode.TRAIN);
                ops.axpy(-0.1f, m.store().grads(), m.store().params(), n);
            }
            System.out.printf(Locale.ROOT, "mlp: %,d parameters, %d SGD steps (last batch loss %.4f), %d threads, %s kernels%n",
                    m.store().paramCount(), sgdSteps, l, threads, m.context().kernels().name());

            Batcher seq = new Batcher(train, norm, 1, 0, false);
            List<ModelOracle.Batch> batches = ModelOracle.sequential(seq, 0, examples, batch, arena);
            try (ModelOracle oracle = new ModelOracle(m, batches);
                 HessianVectorProduct hvp = new HessianVectorProduct(m.store(), oracle, ops)) {
                for (int i = 0; i < 5; i++) oracle.lossAndGrad(); // JIT warm-up
                long t = System.nanoTime();
                int reps = 10;
                for (int i = 0; i < reps; i++) oracle.lossAndGrad();
                double perGrad = (System.nanoTime() - t) / 1e9 / reps;
                System.out.printf(Locale.ROOT, "one gradient over %d examples (batches of %d): %.1f ms%n", examples, batch, 1e3 * perGrad);

                t = System.nanoTime();
                PowerIteration.Eigenpair top = new PowerIteration(hvp).largest();
                double tl = (System.nanoTime() - t) / 1e9;
                System.out.printf(Locale.ROOT, "lambda_max %.5g in %d iterations (converged %b): %.2f s%n",
                        top.value(), top.iterations(), top.converged(), tl);
                t = System.nanoTime();
                Hutchinson.Estimate tr = new Hutchinson(hvp).seed(1).estimate();
                double tt = (System.nanoTime() - t) / 1e9;
                System.out.printf(Locale.ROOT, "trace %.5g +- %.3g (%d samples, converged %b, Tr/D %.4g): %.2f s%n",
                        tr.trace(), tr.stdError(), tr.samples(), tr.converged(), tr.tracePerParam(), tt);
                System.out.printf(Locale.ROOT, "lambda_max + trace: %.2f s (%d products, %.1f ms each)%n",
                        tl + tt, hvp.products(), 1e3 * (tl + tt) / hvp.products());

                double[] steps = {1e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1};
                MemorySegment scratch = hvp.newBuffer();
                double[] along = hvp.sweep(top.vector(), scratch, steps);
                MemorySegment rnd = hvp.newBuffer();
                RandomVectors.gaussian(m.store(), ops, rnd, new java.util.SplittableRandom(5));
                double[] random = hvp.sweep(rnd, scratch, steps);
                System.out.println("relative step  v1^T H v1   r^T H r / ||r||^2 (random r)");
                for (int i = 0; i < steps.length; i++) {
                    System.out.printf(Locale.ROOT, "  %7.0e   %12.6g   %12.6g%n", steps[i], along[i], random[i]);
                }
                if (sweepSamples > 0) {
                    // Reference: for a ReLU MLP the autograd Hessian's diagonal is the Gauss-Newton one (the
                    // network is linear in each single weight between kinks), so Tr(H) = Tr(GN) =
                    // (1/N) sum_e sum_c p_c(e) ||grad log p_c(e)||^2, from 10 single-example backward passes each.
                    long tg = System.nanoTime();
                    double gn = 0;
                    int[] lab = new int[1];
                    int classes = m.classes();
                    double[] p = new double[classes];
                    for (ModelOracle.Batch b : batches) {
                        for (int e = 0; e < b.n(); e++) {
                            MemorySegment xe = b.x().asSlice(4L * e * m.inputSize(), 4L * m.inputSize());
                            MemorySegment logits = m.logits(xe, 1, Mode.EVAL);
                            double mx = Double.NEGATIVE_INFINITY, z = 0;
                            for (int c = 0; c < classes; c++) mx = Math.max(mx, logits.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, c));
                            for (int c = 0; c < classes; c++) z += p[c] = Math.exp(logits.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, c) - mx);
                            for (int c = 0; c < classes; c++) {
                                lab[0] = c;
                                m.lossAndGrad(xe, lab, 1, Mode.EVAL);
                                gn += p[c] / z * ops.sumSquares(m.store().grads(), n);
                            }
                        }
                    }
                    gn /= examples;
                    System.out.printf(Locale.ROOT, "exact Gauss-Newton trace (= autograd Tr(H) for a ReLU MLP): %.5g (%.1f s)%n",
                            gn, (System.nanoTime() - tg) / 1e9);
                    for (double s : new double[] {1e-4, 1e-3, 1e-2, 3e-2}) {
                        hvp.relativeStep(s);
                        Hutchinson.Estimate e = new Hutchinson(hvp).tol(0).maxSamples(sweepSamples).seed(2).estimate();
                        System.out.printf(Locale.ROOT, "trace at relative step %.0e: %.5g +- %.3g (%d samples)%n",
                                s, e.trace(), e.stdError(), e.samples());
                    }
                }
            }
        }
    }
}
