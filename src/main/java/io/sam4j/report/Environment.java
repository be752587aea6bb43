package io.sam4j.report;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sam4j.formats.AtomicFile;
import io.sam4j.train.RunListener;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.time.temporal.ChronoUnit;
import java.util.Arrays;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * Where a run ran, captured when it starts (a report regenerated later, elsewhere, must not describe the
 * wrong machine): {@code <run>/environment.json} with the command line, JDK, OS, CPU model and its SIMD
 * flags, cores, the kernels, the convolution backend (oneDNN version and ISA when loaded) and MPI ranks.
 */
public final class Environment {
    public static final String FILE = "environment.json";

    private Environment() {}

    /** The environment of this process for a run that starts as {@code s}; {@code command} may be null. */
    public static ObjectNode capture(RunListener.Start s, String command) {
        ObjectNode o = RunFolder.JSON.createObjectNode();
        if (command != null) o.put("command", command);
        o.put("started", OffsetDateTime.now().truncatedTo(ChronoUnit.SECONDS).toString());
        if (s.step() > 0) o.put("resumed_at_step", s.step());
        o.put("sam4j", Optional.ofNullable(Environment.class.getPackage().getImplementationVersion()).orElse("dev"));
        o.put("jdk", System.getProperty("java.vm.name") + " " + Runtime.version() + " (" + System.getProperty("java.vendor") + ")");
        o.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"));
        o.put("cpu", cpuModel());
        o.put("cpu_flags", simdFlags());
        o.put("cores", Runtime.getRuntime().availableProcessors());
        o.put("kernels", s.kernels());
        o.put("convolutions", s.convolutions());
        o.put("mpi_ranks", s.ranks());
        o.put("max_heap_mib", Runtime.getRuntime().maxMemory() >> 20);
        return o;
    }

    /** Writes environment.json into the run folder (atomically). */
    public static void write(Path runDir, ObjectNode env) {
        try {
            byte[] bytes = RunFolder.JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(env);
            AtomicFile.write(runDir.resolve(FILE), out -> out.write(bytes));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot write " + runDir.resolve(FILE) + ": " + e.getMessage(), e);
        }
    }

    private static String cpuinfo(String key) {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith(key))
                    .map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElse("");
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }

    static String cpuModel() {
        String m = cpuinfo("model name");
        return m.isEmpty() ? System.getProperty("os.arch") : m;
    }

    /** The SIMD flags that matter to sam4j's kernels and oneDNN (SSE4, AVX, FMA, AVX-512, AMX, VNNI, BF16). */
    static String simdFlags() {
        return Arrays.stream(cpuinfo("flags").split(" "))
                .filter(f -> f.startsWith("avx") || f.startsWith("amx") || f.equals("fma") || f.startsWith("sse4")
                        || f.equals("f16c") || f.startsWith("neon") || f.startsWith("sve"))
                .collect(Collectors.joining(" "));
    }
}
