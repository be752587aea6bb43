package io.sam4j.cli;

import io.sam4j.config.ConfigException;
import io.sam4j.data.DataException;
import io.sam4j.formats.FormatException;
import java.io.UncheckedIOException;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine;

/** The {@code ./sam4j} command line. Errors are one line on stderr and a non-zero exit. */
@Command(name = "sam4j", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "CPU-native Sharpness-Aware Minimization trainer for the JVM.",
        subcommands = {TrainCommand.class, SharpnessCommand.class, BenchCommand.class, ReportCommand.class, EvalCommand.class, CompareCommand.class,
                SweepCommand.class,
                PredictCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    public static void main(String[] args) {
        System.setProperty("java.awt.headless", "true"); // plots are drawn without a display
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
            c.getErr().println("sam4j: error: " + message(ex, c.getCommand()));
            if (System.getenv("SAM4J_DEBUG") != null) ex.printStackTrace(c.getErr());
            return ex instanceof IllegalArgumentException || ex instanceof DataException || ex instanceof FormatException ? 2 : 1;
        });
        return cl.execute(args);
    }

    /** The one-line message; a bad library setting is named by {@code command}'s flag for it. */
    static String message(Throwable ex, Object command) {
        if (ex instanceof ConfigException ce) return ce.render(field -> flag(command, field));
        if (ex instanceof UncheckedIOException u && u.getMessage() != null) return u.getMessage();
        String m = ex.getMessage();
        return m != null ? m : ex.getClass().getSimpleName();
    }

    /** The flag with which {@code command} sets the library field {@code field}: its own name, else --kebab-case. */
    static String flag(Object command, String field) {
        String own = command instanceof FlagNames f ? f.flagFor(field) : null;
        return own != null ? own : "--" + field.replaceAll("([a-z0-9])([A-Z])", "$1-$2").toLowerCase(Locale.ROOT);
    }

    /** A command whose flag for some library field is not {@code --} + the field in kebab-case. */
    interface FlagNames {
        /** The flag, or null for the default. */
        String flagFor(String field);
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"sam4j " + (v != null ? v : "dev") + " on Java " + Runtime.version()};
        }
    }
}
