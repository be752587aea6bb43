package io.sam4j.nn;

import io.sam4j.conv.ConvBackend;
import io.sam4j.dnnl.OneDnnConvBackend;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;

/**
 * A/B of the fused BatchNorm + ReLU on a whole model in one JVM (not a test, not JMH): the model built fused and
 * unfused ({@link Models#resnet18(int, int, boolean)}, {@link Models#cnn(int, boolean)}), one training forward +
 * backward ({@link Model#lossAndGrad}, TRAIN, shared gradient buffers as in training) on each in turn, A B A B, so
 * that a noisy neighbour hits both alike; prints the medians, their ratio and the median of the per-round ratios. Run after {@code mvn test-compile}:
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp target/classes:target/test-classes:$(cat target/cp.txt)
 * io.sam4j.nn.BnReluFusionBench [model=resnet18|cnn] [steps=8] [batch=128] [threads=2]
 */
public final class BnReluFusionBench {
    public static void main(String[] args) {
        String model = args.length > 0 ? args[0] : "resnet18";
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 8;
        int batch = args.length > 2 ? Integer.parseInt(args[2]) : 128;
        int threads = args.length > 3 ? Integer.parseInt(args[3]) : 2;
        int[] input = {1, 28, 28};
        try (Parallel par = new Parallel(threads); Arena a = Arena.ofShared()) {
            Model[] models = new Model[2]; // 0: unfused, 1: fused
            for (int f = 0; f < 2; f++) {
                boolean fused = f == 1;
                ConvBackend backend = OneDnnConvBackend.tryCreate(threads).map(b -> (ConvBackend) b).orElse(null);
                Context ctx = backend == null ? new Context(par, KernelsProvider.get()) : new Context(par, KernelsProvider.get(), backend);
                ctx.allowBlocked(true).shareGradientBuffers(true);
                Sequential net = model.equals("cnn") ? Models.cnn(10, fused) : Models.resnet18(10, 64, fused);
                models[f] = new Model(model, net, input, 10, 0f, ctx);
                models[f].initialize(1);
            }
            Random r = new Random(0);
            long len = (long) batch * models[0].inputSize();
            MemorySegment x = a.allocate(4 * len, 64);
            for (long i = 0; i < len; i++) x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
            int[] labels = r.ints(batch, 0, 10).toArray();
            Context c = models[0].context();
            System.out.println(model + " batch " + batch + ", " + threads + " threads, " + c.kernels().name() + " kernels, "
                    + c.convBackend().name() + ", layout " + (models[0].blocked() ? "nChw" + c.lanes() + "c" : "NCHW"));
            double[][] ms = new double[2][steps];
            for (int s = -3; s < steps; s++) { // three warm-up rounds
                for (int f = 0; f < 2; f++) {
                    long t = System.nanoTime();
                    models[f].lossAndGrad(x, labels, batch, Mode.TRAIN);
                    if (s >= 0) ms[f][s] = (System.nanoTime() - t) / 1e6;
                }
            }
            double unfused = median(ms[0]), fused = median(ms[1]);
            double[] ratios = new double[steps]; // per round: the two steps ran back to back, under the same load
            for (int s = 0; s < steps; s++) ratios[s] = ms[1][s] / ms[0][s];
            System.out.printf("forward+backward median ms: unfused %.1f, fused %.1f, ratio of medians %.3f, median of per-round ratios %.3f%n",
                    unfused, fused, fused / unfused, median(ratios));
            System.out.println("unfused " + Arrays.toString(round(ms[0])) + "\nfused   " + Arrays.toString(round(ms[1])));
            for (Model m : models) m.close();
        }
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static long[] round(double[] v) {
        return Arrays.stream(v).mapToLong(Math::round).toArray();
    }
}
