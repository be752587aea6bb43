package io.sam4j.cli;

import io.sam4j.conv.Precision;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sam4j.config.ConfigException;
import io.sam4j.distributed.Communicator;
import io.sam4j.distributed.Communicators;
import io.sam4j.kernels.FlatOps;
import io.sam4j.kernels.KernelBandwidth;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import io.sam4j.nn.LayerTimes;
import io.sam4j.nn.Models;
import io.sam4j.optim.StepStats;
import io.sam4j.train.BatchStep;
import io.sam4j.train.RunSetup;
import io.sam4j.train.Optimizers;
import io.sam4j.train.TrainConfig;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Times whole optimizer steps on synthetic data, with the settings and the JSON line of the PyTorch
 * reference script that {@code bench/compare} runs beside it (SGD lr 0.05, momentum 0.9, wd 5e-4; rho 0.05;
 * F-SAM sigma 1, lambda 0.6; see bench/README.md), so the two programs' lines join on (model, opt, batch, threads).
 */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Time optimizer steps on synthetic data; one JSON line per configuration.")
final class BenchCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "NAME", description = "Model: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).",
            completionCandidates = TrainCommand.ModelNames.class, defaultValue = "mlp")
    String model;

    @Option(names = {"--optimizer", "--opts"}, paramLabel = "O", split = ",",
            description = "Any name of train --optimizer (sgd, adamw, sam, usam, asam, fsam, stablesam, gsam, looksam, aesam, "
                    + "rst, esam), or a comma list (default: sgd,sam,fsam,stablesam). --stable, --adaptive and --friendly apply to "
                    + "the SAM-family names in the list.",
            defaultValue = "sgd,sam,fsam,stablesam")
    List<String> opts;

    @Mixin
    SamFamilyOptions sam = new SamFamilyOptions();

    @Option(names = "--batch", paramLabel = "B", description = "Batch size (default: ${DEFAULT-VALUE}).", defaultValue = "128")
    int batch;

    @Option(names = "--threads", paramLabel = "T", description = "Threads (default: ${DEFAULT-VALUE}).", defaultValue = "2")
    int threads;

    @Option(names = "--steps", paramLabel = "N", description = "Timed steps (default: ${DEFAULT-VALUE}).", defaultValue = "20")
    int steps;

    @Option(names = "--warmup", paramLabel = "W", description = "Untimed steps first (default: ${DEFAULT-VALUE}).", defaultValue = "3")
    int warmup;

    @Option(names = "--warmup-seconds", paramLabel = "S", description = "Keep warming up (JIT) at least this long "
            + "(default: ${DEFAULT-VALUE}; C2 reaches the vector kernels only after ~10 s).", defaultValue = "12")
    double warmupSeconds;

    @Option(names = "--backend", paramLabel = "B", description = "onednn, java or auto (default: ${DEFAULT-VALUE}).",
            defaultValue = "auto")
    String backend;

    @Option(names = "--precision", paramLabel = "P", description = "Convolutions and linear layers in fp32, or bf16 mixed precision "
            + "(oneDNN on a CPU with bf16; weights, gradients and optimizer stay fp32) (default: ${DEFAULT-VALUE}).",
            defaultValue = "fp32")
    String precision;

    @Option(names = "--input", paramLabel = "CxHxW", description = "Input shape (default: ${DEFAULT-VALUE}).", defaultValue = "1x28x28")
    String input;

    @Option(names = "--dist", paramLabel = "D", description = "auto (MPI under mpirun), mpi or none (default: ${DEFAULT-VALUE}). "
            + "Under MPI --batch is the global batch, each optimizer also runs without communication, and the line adds "
            + "the exposed communication time (step time with it minus without) and the time waited in the all-reduce.",
            defaultValue = "auto")
    String dist;

    @Option(names = "--mpi-library", paramLabel = "PATH", description = "The MPI library to load (a path or soname such "
            + "as libmpich.so.12); default: the library of the MPI whose launcher started the process.")
    String mpiLibrary;

    @Option(names = "--allreduce-bucket-mb", paramLabel = "MB", description = "Under MPI: gradient all-reduce buckets "
            + "overlapped with backward, as in train; 0: one blocking all-reduce (default: ${DEFAULT-VALUE}).",
            defaultValue = "25")
    double allreduceBucketMb;

    @Option(names = "--perturbation", paramLabel = "P", description = "Under MPI, as in train: local or global "
            + "(default: ${DEFAULT-VALUE}). Global overlaps both SAM passes' all-reduces with backward; local overlaps the "
            + "second pass's (out of place) except where a per-rank factor rescales it first (StableSAM, GSAM) and for ESAM.",
            defaultValue = "local")
    String perturbation;

    @Option(names = "--rounds", paramLabel = "R", description = "Repeat the whole list of optimizers R times, interleaved, "
            + "and report medians over all rounds: ratios between optimizers then see the same machine noise "
            + "(default: ${DEFAULT-VALUE}).", defaultValue = "1")
    int rounds;

    @Option(names = "--layer-times", description = "Also time each layer's forward and backward over the timed steps: a "
            + "table per optimizer on stderr (ms per step, share of the mean step) and \"layer_ms\" in the JSON line "
            + "(layer name -> [forward, backward] ms per step).")
    boolean layerTimes;

    @Option(names = "--kernels", description = "Instead of model steps: GB/s of each fused optimizer pass over one flat "
            + "buffer beside a triad (a = b + s*c) measured in the same run; one JSON line per pass.")
    boolean kernels;

    @Option(names = "--kernel-floats", paramLabel = "N", description = "Buffer size for --kernels (default: ${DEFAULT-VALUE}, "
            + "ResNet-18's parameter count).", defaultValue = "11173962")
    long kernelFloats;

    @Override
    public Integer call() throws Exception {
        if (rounds < 1) throw new IllegalArgumentException("--rounds must be >= 1, got " + rounds);
        if (threads < 1) throw new IllegalArgumentException("--threads must be >= 1, got " + threads);
        if (kernels) {
            runKernels();
            return 0;
        }
        Communicator comm = Communicators.detect(dist, mpiLibrary);
        try {
            comm.runGuarded(() -> run(comm));
        } finally {
            comm.close();
        }
        return 0;
    }

    private void run(Communicator comm) throws IOException {
        int ranks = comm.size();
        if (batch % ranks != 0) throw new IllegalArgumentException("--batch " + batch + " does not divide among " + ranks + " ranks");
        if (batch < 1) throw new IllegalArgumentException("--batch must be >= 1, got " + batch);
        if (steps < 1) throw new IllegalArgumentException("--steps must be >= 1, got " + steps);
        if (warmup < 0) throw new IllegalArgumentException("--warmup must be >= 0, got " + warmup);
        if (!Models.NAMES.contains(model)) {
            throw new IllegalArgumentException("--model: unknown '" + model + "' (known: " + String.join(", ", Models.NAMES) + ")");
        }
        if (!perturbation.equals("local") && !perturbation.equals("global")) {
            throw new IllegalArgumentException("--perturbation: unknown '" + perturbation + "' (known: local, global)");
        }
        int[] shape = inputShape();
        for (String opt : opts) benchConfig(opt); // unknown names and undefined combinations fail before any model is built
        // Under MPI every optimizer runs twice per round: with the all-reduce, and without any communication
        // (each rank steps on its own gradient), so that their difference is the communication left exposed.
        int variants = ranks > 1 ? 2 : 1;
        int n = opts.size() * variants;
        double[][] ms = new double[n][steps * rounds];
        long[] reduceNanos = new long[n];
        int[] samSteps = new int[n];
        double[] gradEvals = new double[n];
        Timed[] last = new Timed[n];
        LayerTimes[] times = new LayerTimes[n]; // per optimizer, over all rounds (fresh models, same layer names)
        if (layerTimes) Arrays.setAll(times, i -> new LayerTimes());
        // Rounds interleave the optimizers (sgd, sam, fsam, ... then again), so a noisy neighbour hits all alike.
        for (int round = 0; round < rounds; round++) {
            for (int i = 0; i < n; i++) {
                last[i] = time(comm, opts.get(i / variants), shape, round == 0, i % variants == 0 && ranks > 1, times[i]);
                System.arraycopy(last[i].ms(), 0, ms[i], round * steps, steps);
                reduceNanos[i] += last[i].reduceNanos();
                samSteps[i] += last[i].samSteps();
                gradEvals[i] += last[i].gradEvals();
            }
        }
        ObjectMapper json = new ObjectMapper();
        for (int i = 0; i < n; i += variants) {
            ObjectNode line = jsonLine(json, opts.get(i / variants), last[i], ms[i], reduceNanos[i], samSteps[i], gradEvals[i], ranks);
            if (ranks > 1) {
                double alone = median(ms[i + 1]), with = median(ms[i]);
                line.put("ms_step_median_no_comm", round(alone, 2));
                line.put("exposed_comm_ms", round(with - alone, 2));
            }
            if (times[i] != null) addLayerTimes(line, times[i], ms[i], label(opts.get(i / variants)), comm.isRoot());
            if (comm.isRoot()) System.out.println(json.writeValueAsString(line));
        }
    }

    private int[] inputShape() {
        int[] shape;
        try {
            shape = Arrays.stream(input.split("x")).mapToInt(Integer::parseInt).toArray();
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--input: expected CxHxW, got " + input);
        }
        if (shape.length != 3) throw new IllegalArgumentException("--input: expected CxHxW, got " + input);
        return shape;
    }

    /** One optimizer's timed steps on a fresh model. */
    private record Timed(String impl, String layout, long params, double[] ms, long reduceNanos, int samSteps, double gradEvals) {}

    /**
     * {@code communicate}: gradients all-reduced (buckets overlapped with backward per --allreduce-bucket-mb);
     * otherwise every rank steps alone on its own gradient.
     */
    private Timed time(Communicator comm, String opt, int[] shape, boolean firstRound, boolean communicate, LayerTimes times) {
        int local = batch / comm.size();
        TrainConfig config = benchConfig(opt);
        try (RunSetup run = new RunSetup(config, shape, 10, System.err); Arena arena = Arena.ofShared()) {
            run.setTotalSteps(BENCH_TOTAL_STEPS);
            if (communicate) run.distribute(comm, perturbation.equals("global"));
            Random r = new Random(comm.rank());
            long len = local * run.model().inputSize();
            MemorySegment x = arena.allocate(4 * len, 64);
            for (long i = 0; i < len; i++) x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
            int[] labels = r.ints(local, 0, 10).toArray();
            BatchStep batchStep = BatchStep.of(config, run, x, labels, local);
            // The JIT needs a few seconds before the Vector-API loops are compiled: warm up by count and, in
            // the first round, by time (under MPI rank 0's clock decides, so every rank takes the same steps).
            long warmEnd = System.nanoTime() + (long) (firstRound ? warmupSeconds * 1e9 : 0);
            for (int i = 0; ; i++) {
                double more = comm.isRoot() && (i < warmup || System.nanoTime() < warmEnd) ? 1 : 0;
                if (comm.size() > 1) more = comm.allReduceSum(more);
                if (more == 0) break;
                batchStep.step(0.05f);
            }
            run.resetReduceNanos();
            run.context().timeLayers(times); // null: not timing
            double[] ms = new double[steps];
            int samSteps = 0;
            double gradEvals = 0;
            for (int i = 0; i < steps; i++) {
                if (comm.size() > 1) comm.barrier(); // every rank starts the step together, with or without communication
                long t = System.nanoTime();
                StepStats s = batchStep.step(0.05f);
                ms[i] = (System.nanoTime() - t) / 1e6;
                if (s.sharpnessStep()) samSteps++;
                gradEvals += s.gradEvaluations();
            }
            String impl = "sam4j-" + run.context().kernels().name() + "-" + run.context().convBackend().name();
            return new Timed(impl, run.layout(), run.store().paramCount(), ms, run.reduceNanos(), samSteps, gradEvals);
        }
    }

    /** AE-SAM's threshold and RST's schedule follow t/T: bench steps sit at the start of a 1000-step run. */
    private static final long BENCH_TOTAL_STEPS = 1000;

    /**
     * The reference script's settings (SGD lr 0.05, momentum 0.9, wd 5e-4, rho 0.05, F-SAM lambda 0.6) with the
     * SAM-family flags given; --stable, --adaptive and --friendly only on the names that take them.
     */
    private TrainConfig benchConfig(String opt) {
        TrainConfig c = new TrainConfig();
        c.model = model;
        c.batch = batch;
        c.threads = threads;
        c.backend = backend;
        c.precision = Precision.parse("--precision", precision);
        c.allreduceBucketMb = allreduceBucketMb;
        c.perturbation = perturbation;
        c.lambda = 0.6f;
        sam.applyTo(c);
        c.optimizer = opt;
        boolean plain = opt.equals("sgd") || opt.equals("adamw");
        if (plain) c.stable = c.adaptive = false;
        if (!opt.matches("gsam|looksam|aesam|rst|esam")) c.friendly = false;
        // --m and --accumulate apply where train defines them (a list may mix sgd with sam --m 16), as above.
        if (plain || opt.matches("looksam|aesam|rst|esam")) c.m = 0;
        if (opt.equals("esam")) c.accumulate = 1;
        c = Optimizers.resolveAlias(c);
        if (!Optimizers.NAMES.contains(c.optimizer)) throw ConfigException.unknown("optimizer", opt, Optimizers.acceptedNames());
        if (!plain) Optimizers.samConfig(c, BENCH_TOTAL_STEPS); // refuses undefined combinations now
        c.validateMicroBatches(); // not validate(): bench's reference settings (lambda 0.6) apply to some names only
        return c;
    }

    /** The JSON line's name: the optimizer plus the flags that changed it, e.g. "gsam+adaptive". */
    private String label(String opt) {
        TrainConfig c = benchConfig(opt);
        String l = opt;
        if (c.stable && !opt.equals(Optimizers.STABLESAM)) l += "+stable";
        if (c.adaptive) l += "+adaptive";
        if (c.friendly) l += "+friendly";
        if (c.m > 0) l += "+m" + c.m;
        if (c.accumulate > 1) l += "+accumulate" + c.accumulate;
        return l;
    }

    private ObjectNode jsonLine(ObjectMapper json, String opt, Timed timed, double[] allMs, long reduceNanos, int samSteps,
                                double gradEvals, int ranks) {
        double[] t = allMs.clone();
        Arrays.sort(t);
        int k = t.length;
        double median = k % 2 == 1 ? t[k / 2] : (t[k / 2 - 1] + t[k / 2]) / 2;
        double sum = 0;
        for (double v : t) sum += v;
        ObjectNode line = json.createObjectNode();
        line.put("impl", timed.impl());
        line.put("model", model);
        line.put("layout", timed.layout());
        line.put("precision", Precision.parse("--precision", precision).flagValue());
        line.put("opt", label(opt));
        line.put("batch", batch);
        line.put("threads", threads);
        line.put("params", timed.params());
        line.put("ms_step_median", round(median, 2));
        line.put("ms_step_min", round(t[0], 2));
        // LookSAM, AE-SAM and RST mix one- and two-pass steps: their median lands on a one-pass step, their mean is
        // the cost per step that matters.
        line.put("ms_step_mean", round(sum / k, 2));
        if (benchConfig(opt).optimizer.matches("looksam|aesam|rst")) line.put("sam_fraction", round((double) samSteps / k, 3));
        line.put("grad_evals", round(gradEvals / k, 3)); // per step, as the optimizer counts them (ESAM ~1.8)
        line.put("peak_rss_mb", peakRssMb());
        if (rounds > 1) line.put("rounds", rounds);
        if (ranks > 1) {
            line.put("ranks", ranks);
            line.put("perturbation", perturbation);
            line.put("allreduce_bucket_mb", allreduceBucketMb);
            line.put("reduce_wait_ms_per_step", round(reduceNanos / 1e6 / k, 2));
            line.put("reduce_wait_fraction", round(reduceNanos / 1e6 / sum, 3));
        }
        return line;
    }

    /**
     * Adds {@code layer_ms} (name -> [forward, backward] ms per timed step) to the JSON line and, on the root rank, prints
     * the table to stderr: each layer's share of the mean step, and what no layer accounts for (loss, optimizer passes,
     * input copy, communication).
     */
    private void addLayerTimes(ObjectNode line, LayerTimes times, double[] stepMs, String opt, boolean print) {
        double stepsTimed = stepMs.length, meanStep = Arrays.stream(stepMs).sum() / stepsTimed;
        ObjectNode layers = line.putObject("layer_ms");
        StringBuilder table = new StringBuilder(String.format("%s %s, %s: ms per step over %d timed steps (mean step %.2f ms)%n",
                model, opt, line.get("layout").asText(), stepMs.length, meanStep));
        table.append(String.format("  %-22s %-14s %10s %10s %7s%n", "layer", "kind", "forward", "backward", "share"));
        for (LayerTimes.Entry e : times.entries()) {
            double f = e.forwardNanos() / 1e6 / stepsTimed, b = e.backwardNanos() / 1e6 / stepsTimed;
            layers.putArray(e.name()).add(round(f, 3)).add(round(b, 3));
            table.append(String.format("  %-22s %-14s %10.3f %10.3f %6.1f%%%n", e.name(), e.kind(), f, b, 100 * (f + b) / meanStep));
        }
        double outside = meanStep - times.totalNanos() / 1e6 / stepsTimed;
        table.append(String.format("  %-22s %-14s %21.3f %6.1f%%%n", "(outside the layers)", "", outside, 100 * outside / meanStep));
        if (print) System.err.print(table);
    }

    private void runKernels() throws IOException {
        if (kernelFloats < 1) throw new IllegalArgumentException("--kernel-floats must be >= 1, got " + kernelFloats);
        int reps = Math.max(steps, 5) * rounds;
        Parallel.setCommonThreads(threads);
        FlatOps ops = new FlatOps(KernelsProvider.get(), Parallel.common());
        ObjectMapper json = new ObjectMapper();
        for (KernelBandwidth.Result r : KernelBandwidth.measure(ops, kernelFloats, reps, warmupSeconds)) {
            ObjectNode line = json.createObjectNode();
            line.put("impl", "sam4j-" + ops.kernels().name());
            line.put("kernel", r.kernel());
            line.put("floats", r.floats());
            line.put("threads", threads);
            line.put("bytes_per_float", r.bytesPerFloat());
            line.put("ms_median", round(r.msMedian(), 3));
            line.put("ms_min", round(r.msMin(), 3));
            line.put("gb_per_s", round(r.gbPerSecond(), 2));
            line.put("triad_gb_per_s", round(r.triadGbPerSecond(), 2));
            line.put("fraction_of_triad", round(r.fractionOfTriad(), 3));
            System.out.println(json.writeValueAsString(line));
        }
    }

    private static double median(double[] values) {
        double[] t = values.clone();
        Arrays.sort(t);
        int k = t.length;
        return k % 2 == 1 ? t[k / 2] : (t[k / 2 - 1] + t[k / 2]) / 2;
    }

    private static double round(double v, int digits) {
        double f = Math.pow(10, digits);
        return Math.round(v * f) / f;
    }

    /** VmHWM from /proc (Linux); -1 elsewhere. */
    static long peakRssMb() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (l.startsWith("VmHWM:")) return Long.parseLong(l.replaceAll("\\D", "")) / 1024;
            }
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        return -1;
    }
}
