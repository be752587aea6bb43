package io.sam4j.cli;

import io.sam4j.train.Trainer;
import java.io.UncheckedIOException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code ./sam4j} command line. Errors are one line on stderr and a non-zero exit. */
@Command(name = "sam4j", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "CPU-native Sharpness-Aware Minimization trainer for the JVM.",
        subcommands = {TrainCommand.class, SharpnessCommand.class, BenchCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    /** True in the real sam4j process (not when tests call {@link #execute}): only then are signal handlers installed. */
    static volatile boolean standalone;

    public static void main(String[] args) {
        standalone = true;
        System.exit(execute(args));
    }

    /** Runs the CLI and returns the exit code (tests call this). */
    public static int execute(String... args) {
        CommandLine cl = new CommandLine(new Main());
        cl.setParameterExceptionHandler((ex, a) -> {
            CommandLine c = ex.getCommandLine();
            c.getErr().println(c.getCommandName().equals("sam4j") ? "sam4j: " + ex.getMessage()
                    : "sam4j " + c.getCommandName() + ": " + ex.getMessage() + " (see --help)");
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, c, parseResult) -> {
            if (ex instanceof Trainer.Stopped stopped) { // SIGTERM/SIGINT: checkpointed, not an error
                c.getErr().println("sam4j: " + stopped.getMessage());
                return stopped.exitCode();
            }
            c.getErr().println("sam4j: error: " + message(ex));
            if (System.getenv("SAM4J_DEBUG") != null) ex.printStackTrace(c.getErr());
            return exitCode(ex);
        });
        return cl.execute(args);
    }

    /**
     * 2 for a usage or input error (a bad flag, file or folder, found before training started), 1 for a failure
     * of the run itself (divergence, a write that failed during training, anything unexpected).
     */
    static int exitCode(Throwable ex) {
        if (ex instanceof Trainer.TrainingFailure) return 1;
        return ex instanceof IllegalArgumentException || ex instanceof io.sam4j.data.DataException
                || ex instanceof io.sam4j.formats.FormatException ? 2 : 1;
    }

    static String message(Throwable ex) {
        if (ex instanceof UncheckedIOException u && u.getMessage() != null) return u.getMessage();
        String m = ex.getMessage();
        return m != null ? m : ex.getClass().getSimpleName();
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"sam4j " + version() + " on Java " + Runtime.version()};
        }
    }

    /** The Maven project version, from the filtered io/sam4j/version.properties ("dev" if absent). */
    public static String version() {
        try (java.io.InputStream in = Main.class.getResourceAsStream("/io/sam4j/version.properties")) {
            if (in == null) return "dev";
            java.util.Properties p = new java.util.Properties();
            p.load(in);
            return p.getProperty("version", "dev");
        } catch (java.io.IOException e) {
            return "dev";
        }
    }
}
