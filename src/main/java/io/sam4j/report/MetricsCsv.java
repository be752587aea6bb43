package io.sam4j.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sam4j.formats.AtomicFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * {@code metrics.csv} beside {@code metrics.jsonl}: the same columns (every key, in order of first
 * appearance), one row per line, values exactly as the JSON wrote them; a key a line lacks is an empty cell.
 */
public final class MetricsCsv {
    private MetricsCsv() {}

    /** Writes {@code <run>/metrics.csv} from {@code <run>/metrics.jsonl} (atomically). */
    public static void write(Path runDir) {
        byte[] bytes = toCsv(RunFolder.jsonLines(runDir.resolve("metrics.jsonl"))).getBytes(StandardCharsets.UTF_8);
        AtomicFile.write(runDir.resolve("metrics.csv"), out -> out.write(bytes));
    }

    static String toCsv(List<ObjectNode> rows) {
        Set<String> cols = new LinkedHashSet<>();
        for (ObjectNode o : rows) {
            for (Iterator<String> it = o.fieldNames(); it.hasNext(); ) cols.add(it.next());
        }
        StringBuilder sb = new StringBuilder(String.join(",", cols)).append('\n');
        for (ObjectNode o : rows) {
            boolean first = true;
            for (String c : cols) {
                if (!first) sb.append(',');
                first = false;
                JsonNode v = o.get(c);
                if (v != null && !v.isNull()) sb.append(cell(v.isValueNode() ? v.asText() : v.toString()));
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    /** RFC 4180 quoting where a cell needs it. */
    private static String cell(String s) {
        if (s.indexOf(',') < 0 && s.indexOf('"') < 0 && s.indexOf('\n') < 0) return s;
        return '"' + s.replace("\"", "\"\"") + '"';
    }
}
