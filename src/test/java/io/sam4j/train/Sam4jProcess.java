package io.sam4j.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The CLI in a child JVM (the test's own java and class path), for signals and kill -9. */
final class Sam4jProcess {
    private Sam4jProcess() {}

    static Process start(Path log, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"), "io.sam4j.cli.Main"));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    /** Runs to the end; the exit status. */
    static int run(Path log, String... args) throws IOException, InterruptedException {
        return start(log, args).waitFor();
    }
}
