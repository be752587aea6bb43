package io.sam4j.cli;

import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import picocli.CommandLine.Model.CommandSpec;

/** The command line a run was started with, shell-quoted where needed, for its report. */
final class CommandLines {
    private static final Pattern PLAIN = Pattern.compile("[A-Za-z0-9_./:=,@%+-]+");

    private CommandLines() {}

    static String of(CommandSpec spec) {
        List<String> args = spec.commandLine().getParseResult().originalArgs();
        return "./sam4j " + args.stream().map(CommandLines::quote).collect(Collectors.joining(" "));
    }

    static String quote(String a) {
        return PLAIN.matcher(a).matches() ? a : "'" + a.replace("'", "'\\''") + "'";
    }
}
