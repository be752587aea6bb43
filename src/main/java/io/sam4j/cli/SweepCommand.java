package io.sam4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.sam4j.distributed.SingleProcess;
import io.sam4j.formats.AtomicFile;
import io.sam4j.formats.Checkpoint;
import io.sam4j.kernels.FlatOps;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import io.sam4j.nn.ParameterStore;
import io.sam4j.report.Comparison;
import io.sam4j.train.Optimizers;
import io.sam4j.train.TrainConfig;
import io.sam4j.train.Trainer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "sweep", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train every cell of a grid over train flags, each into its own run folder under one sweep folder, "
                + "then write the comparison report (compare.html) there.",
                "Resumable: run the same command (or just --out DIR) again and finished cells are skipped, a cell killed "
                        + "mid-way continues from its last checkpoint.",
                "Example: ./sam4j sweep --grid optimizer=sgd,sam --grid seed=0,1 -- --model mlp --epochs 2"})
final class SweepCommand implements Callable<Integer> {
    static final String FILE = "sweep.json", RESULT = "result.json";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    @Option(names = "--grid", paramLabel = "FLAG=V1,V2", description = "A train flag (without --) and its values; repeat for "
            + "more axes. Switches take true/false.")
    List<String> grid = new ArrayList<>();

    @Option(names = "--out", paramLabel = "DIR", description = "Sweep folder (default: runs/sweep-<time>); an existing one "
            + "is resumed.")
    Path out;

    @Parameters(paramLabel = "TRAIN-FLAGS", description = "Flags every cell trains with, after --.")
    List<String> trainArgs = new ArrayList<>();

    /** What sweep.json records: enough to resume with no flags but --out. */
    record Plan(Map<String, List<String>> grid, List<String> trainArgs) {}

    /** One cell: its folder name, its train flags and its parsed configuration. */
    record Cell(String name, List<String> args, TrainCommand command, TrainConfig config) {}

    @Override
    public Integer call() {
        Path dir = out != null ? out : Path.of("runs", "sweep-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        Plan plan = plan(dir);
        List<Cell> cells = cells(plan, dir); // every cell's flags are checked before anything is written
        writePlan(dir, plan);
        List<Path> done = new ArrayList<>();
        List<String> diverged = new ArrayList<>();
        for (int i = 0; i < cells.size(); i++) {
            Cell c = cells.get(i);
            Path cellDir = dir.resolve(c.name());
            System.out.printf("== cell %d/%d: %s%n", i + 1, cells.size(), c.name());
            if (Files.isRegularFile(cellDir.resolve(RESULT))) {
                System.out.println("finished before, skipped");
            } else if (Files.isRegularFile(cellDir.resolve(Trainer.DIVERGED))) {
                System.out.println("diverged before, skipped");
            } else {
                train(c, cellDir);
            }
            if (Files.isRegularFile(cellDir.resolve(Trainer.DIVERGED))) diverged.add(c.name());
            done.add(cellDir);
        }
        if (!diverged.isEmpty()) System.out.println(diverged.size() + " of " + cells.size() + " cells diverged: " + String.join(", ", diverged));
        System.out.println("comparison: " + Comparison.write(done, dir));
        return 0;
    }

    /** The grid and train flags: from the command line, or from the sweep folder's sweep.json when resuming. */
    private Plan plan(Path dir) {
        Plan given = new Plan(parseGrid(grid), List.copyOf(trainArgs));
        Path f = dir.resolve(FILE);
        if (!Files.isRegularFile(f)) {
            if (given.grid().isEmpty()) throw new IllegalArgumentException("--grid: give at least one, e.g. --grid optimizer=sgd,sam");
            return given;
        }
        Plan stored;
        try {
            stored = JSON.readValue(f.toFile(), Plan.class);
        } catch (IOException e) {
            throw new IllegalArgumentException(f + ": cannot read: " + e.getMessage().lines().findFirst().orElse(""));
        }
        if (given.grid().isEmpty() && given.trainArgs().isEmpty()) return stored;
        if (!given.equals(stored)) {
            throw new IllegalArgumentException("--out: " + dir + " holds another sweep (" + FILE + " has grid " + stored.grid()
                    + " and flags " + stored.trainArgs() + "); resume it with the same flags or just --out, or use another folder");
        }
        return stored;
    }

    static Map<String, List<String>> parseGrid(List<String> grid) {
        Map<String, List<String>> g = new LinkedHashMap<>();
        for (String axis : grid) {
            int eq = axis.indexOf('=');
            String flag = eq < 0 ? "" : axis.substring(0, eq).replaceFirst("^--", "");
            List<String> values = eq < 0 ? List.of() : List.of(axis.substring(eq + 1).split(",", -1));
            if (flag.isEmpty() || values.isEmpty() || values.contains("")) {
                throw new IllegalArgumentException("--grid: '" + axis + "' is not FLAG=V1,V2,...");
            }
            if (flag.equals("out") || flag.equals("resume")) throw new IllegalArgumentException("--grid: the sweep sets --" + flag + " itself");
            if (g.put(flag, values) != null) throw new IllegalArgumentException("--grid: " + flag + " given twice");
        }
        return g;
    }

    /** Every combination, the first axis varying slowest; each parsed as train flags now. */
    private static List<Cell> cells(Plan plan, Path dir) {
        for (String a : plan.trainArgs()) {
            if (a.equals("--out") || a.startsWith("--out=") || a.equals("--resume") || a.startsWith("--resume=")) {
                throw new IllegalArgumentException("sweep: " + a + " is set per cell by the sweep; give --out before --");
            }
        }
        List<List<String[]>> combos = new ArrayList<>(List.of(List.of()));
        for (var axis : plan.grid().entrySet()) {
            List<List<String[]>> next = new ArrayList<>();
            for (List<String[]> c : combos) {
                for (String v : axis.getValue()) {
                    List<String[]> l = new ArrayList<>(c);
                    l.add(new String[] {axis.getKey(), v});
                    next.add(l);
                }
            }
            combos = next;
        }
        List<Cell> cells = new ArrayList<>();
        for (List<String[]> combo : combos) cells.add(cell(combo, plan.trainArgs(), dir));
        return cells;
    }

    private static Cell cell(List<String[]> combo, List<String> trainArgs, Path dir) {
        List<String> names = new ArrayList<>(), args = new ArrayList<>(trainArgs);
        TrainCommand probe = new TrainCommand();
        CommandLine cl = new CommandLine(probe);
        for (String[] kv : combo) {
            OptionSpec o = cl.getCommandSpec().findOption("--" + kv[0]);
            if (o == null) throw new IllegalArgumentException("--grid: train has no flag --" + kv[0]);
            names.add(kv[0] + "-" + kv[1].replaceAll("[^A-Za-z0-9._-]", "_"));
            if (o.arity().max() > 0) {
                args.add("--" + kv[0]);
                args.add(kv[1]);
            } else if (kv[1].equals("true")) {
                args.add("--" + kv[0]);
            } else if (!kv[1].equals("false")) {
                throw new IllegalArgumentException("--grid: --" + kv[0] + " is a switch; its values are true and false, got '" + kv[1] + "'");
            }
        }
        String name = String.join("_", names);
        args.add("--out");
        args.add(dir.resolve(name).toString());
        try {
            cl.parseArgs(args.toArray(String[]::new));
        } catch (CommandLine.ParameterException e) {
            throw new IllegalArgumentException("sweep cell " + name + ": " + e.getMessage());
        }
        TrainConfig c = probe.config(SingleProcess.INSTANCE);
        check(name, c);
        return new Cell(name, args, probe, c);
    }

    /** What training would reject at its start: the settings, and the optimizer built on a one-weight model. */
    private static void check(String cell, TrainConfig c) {
        c.validate();
        ParameterStore.Builder b = ParameterStore.builder();
        b.param("weight", 1);
        try (ParameterStore store = b.build()) {
            Optimizers.create(c, store, new FlatOps(KernelsProvider.get(), Parallel.common()));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("sweep cell " + cell + ": " + e.getMessage());
        }
    }

    private static void writePlan(Path dir, Plan plan) {
        try {
            Files.createDirectories(dir);
            byte[] bytes = JSON.writeValueAsBytes(plan);
            AtomicFile.write(dir.resolve(FILE), o -> o.write(bytes));
        } catch (IOException e) {
            throw new UncheckedIOException("--out: cannot write " + dir.resolve(FILE) + ": " + e.getMessage(), e);
        }
    }

    /**
     * Trains one cell (continuing from its checkpoint if a killed sweep left one) and marks it finished. A cell that
     * diverges is a result, not the end of the sweep (lr grids go too far on purpose): its folder keeps the trainer's
     * diverged.json, which the comparison reports and a resumed sweep skips.
     */
    private static void train(Cell c, Path cellDir) {
        String command = "./sam4j train " + String.join(" ", c.args().stream().map(CommandLines::quote).toList());
        boolean started = Files.isRegularFile(cellDir.resolve("config.json")) && Files.isRegularFile(Checkpoint.path(cellDir));
        // A cell killed before its first checkpoint left files in its own folder: it starts over there.
        Trainer t = started ? new Trainer(Trainer.readConfig(cellDir), System.out).resume() : new Trainer(c.config(), System.out).overwrite(true);
        Trainer.Result r;
        try {
            r = c.command().withReports(t, command).run();
        } catch (Trainer.TrainingFailure e) {
            if (!Files.isRegularFile(cellDir.resolve(Trainer.DIVERGED))) throw e;
            System.out.println("cell " + c.name() + ": " + e.getMessage());
            return;
        }
        try {
            byte[] bytes = JSON.writeValueAsBytes(r);
            AtomicFile.write(cellDir.resolve(RESULT), o -> o.write(bytes));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + cellDir.resolve(RESULT) + ": " + e.getMessage(), e);
        }
    }
}
