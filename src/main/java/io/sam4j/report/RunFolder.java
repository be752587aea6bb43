package io.sam4j.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * What a run folder holds, read back for reports: config.json, metrics.jsonl (one row per epoch),
 * steps.csv (one row per optimizer step, when the run logged it), sharpness.jsonl and environment.json.
 * Missing optional files read as empty; a malformed one is a one-line error naming it.
 */
public final class RunFolder {
    static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final ObjectNode config;
    private final Table epochs;
    private final Table steps;
    private final List<ObjectNode> sharpness;
    private final ObjectNode environment;

    private RunFolder(Path dir, ObjectNode config, Table epochs, Table steps, List<ObjectNode> sharpness, ObjectNode environment) {
        this.dir = dir;
        this.config = config;
        this.epochs = epochs;
        this.steps = steps;
        this.sharpness = sharpness;
        this.environment = environment;
    }

    /** Reads a run folder; it must at least hold config.json. */
    public static RunFolder read(Path dir) {
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            throw new IllegalArgumentException(dir + " is not a run folder (no config.json)");
        }
        ObjectNode config = readObject(dir.resolve("config.json"));
        Path env = dir.resolve(Environment.FILE);
        return new RunFolder(dir, config, Table.fromJsonLines(jsonLines(dir.resolve("metrics.jsonl"))),
                StepLog.read(dir.resolve(StepLog.FILE)), jsonLines(dir.resolve("sharpness.jsonl")),
                Files.isRegularFile(env) ? readObject(env) : JSON.createObjectNode());
    }

    public Path dir() { return dir; }

    public ObjectNode config() { return config; }

    /** One row per epoch (metrics.jsonl). */
    public Table epochs() { return epochs; }

    /** One row per optimizer step (steps.csv); empty when the run did not log steps. */
    public Table steps() { return steps; }

    public List<ObjectNode> sharpness() { return sharpness; }

    /** environment.json as the run wrote it at its start; empty if absent. */
    public ObjectNode environment() { return environment; }

    /** The run's name: its folder's name. */
    public String name() {
        Path f = dir.toAbsolutePath().normalize().getFileName();
        return f == null ? dir.toString() : f.toString();
    }

    /** The last epoch's value of a metric, NaN if none. */
    public double last(String column) {
        double[] v = epochs.column(column);
        return v.length == 0 ? Double.NaN : v[v.length - 1];
    }

    static ObjectNode readObject(Path f) {
        try {
            JsonNode n = JSON.readTree(f.toFile());
            if (!(n instanceof ObjectNode o)) throw new IllegalArgumentException(f + ": not a JSON object");
            return o;
        } catch (IOException e) {
            throw new IllegalArgumentException(f + ": cannot read: " + e.getMessage().lines().findFirst().orElse(""));
        }
    }

    /** The JSON objects of a .jsonl file, one per non-blank line; none if the file does not exist. */
    static List<ObjectNode> jsonLines(Path f) {
        List<ObjectNode> rows = new ArrayList<>();
        if (!Files.isRegularFile(f)) return rows;
        try {
            int n = 0;
            for (String line : Files.readAllLines(f, StandardCharsets.UTF_8)) {
                n++;
                if (line.isBlank()) continue;
                if (!(JSON.readTree(line) instanceof ObjectNode o)) throw new IllegalArgumentException(f + ": line " + n + " is not a JSON object");
                rows.add(o);
            }
            return rows;
        } catch (IOException e) {
            throw new IllegalArgumentException(f + ": cannot read: " + e.getMessage().lines().findFirst().orElse(""));
        }
    }

    /** Named numeric columns over rows; a value a row lacks is NaN. */
    public record Table(List<String> columns, List<double[]> rows) {
        public static Table fromJsonLines(List<ObjectNode> objects) {
            Set<String> cols = new LinkedHashSet<>();
            for (ObjectNode o : objects) {
                for (Iterator<String> it = o.fieldNames(); it.hasNext(); ) {
                    String k = it.next();
                    if (o.get(k).isNumber()) cols.add(k);
                }
            }
            List<String> names = List.copyOf(cols);
            List<double[]> rows = new ArrayList<>();
            for (ObjectNode o : objects) {
                double[] r = new double[names.size()];
                for (int i = 0; i < r.length; i++) {
                    JsonNode v = o.get(names.get(i));
                    r[i] = v != null && v.isNumber() ? v.asDouble() : Double.NaN;
                }
                rows.add(r);
            }
            return new Table(names, rows);
        }

        public boolean has(String column) {
            return columns.contains(column);
        }

        /** The column's values, row by row; empty if there is no such column. */
        public double[] column(String name) {
            int i = columns.indexOf(name);
            if (i < 0) return new double[0];
            double[] v = new double[rows.size()];
            for (int r = 0; r < v.length; r++) v[r] = rows.get(r)[i];
            return v;
        }

        /** True when the column exists and has at least one finite value. */
        public boolean hasValues(String name) {
            for (double v : column(name)) if (Double.isFinite(v)) return true;
            return false;
        }

        public int size() {
            return rows.size();
        }
    }
}
