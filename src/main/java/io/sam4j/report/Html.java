package io.sam4j.report;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Base64;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A small HTML page builder for self-contained reports: inline CSS, images as data URIs, no script, no network.
 */
final class Html {
    private static final String CSS = """
            body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1360px}
            h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #ccc}
            table{border-collapse:collapse;font-size:13px;margin:4px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
            th{background:#f3f3f3}td.k,th.k{text-align:left}td{white-space:nowrap}td.k{white-space:normal}code,pre{font-family:'DejaVu Sans Mono',monospace;font-size:12px}
            pre{background:#f6f6f6;padding:8px;white-space:pre-wrap;word-break:break-all}
            .plots{display:flex;flex-wrap:wrap;gap:12px}.plots figure{margin:0;width:calc(50% - 8px);max-width:640px}.plots img{width:100%;border:1px solid #ddd}
            figcaption{font-size:12px;color:#666}.wide{overflow-x:auto;max-width:100%}.muted{color:#777;font-size:12px}
            """;

    private final StringBuilder sb = new StringBuilder(1 << 16);

    Html(String title) {
        sb.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>").append(esc(title))
                .append("</title><style>").append(CSS).append("</style></head><body>\n");
    }

    Html h1(String s) { return tag("h1", s); }

    Html h2(String s) { return tag("h2", s); }

    Html p(String s) { return tag("p", s); }

    Html muted(String s) {
        sb.append("<p class=\"muted\">").append(esc(s)).append("</p>\n");
        return this;
    }

    Html pre(String s) { return tag("pre", s); }

    private Html tag(String t, String s) {
        sb.append('<').append(t).append('>').append(esc(s)).append("</").append(t).append(">\n");
        return this;
    }

    /** A table with a header row; the first column left-aligned. */
    Html table(List<String> header, List<List<String>> rows) {
        sb.append("<div class=\"wide\"><table><tr>");
        for (int i = 0; i < header.size(); i++) sb.append(i == 0 ? "<th class=\"k\">" : "<th>").append(esc(header.get(i))).append("</th>");
        sb.append("</tr>\n");
        for (List<String> r : rows) {
            sb.append("<tr>");
            for (int i = 0; i < r.size(); i++) sb.append(i == 0 ? "<td class=\"k\">" : "<td>").append(esc(r.get(i))).append("</td>");
            sb.append("</tr>\n");
        }
        sb.append("</table></div>\n");
        return this;
    }

    /** A two-column key/value table. */
    Html keyValues(Map<String, String> kv) {
        sb.append("<table>");
        kv.forEach((k, v) -> sb.append("<tr><td class=\"k\">").append(esc(k)).append("</td><td class=\"k\"><code>")
                .append(esc(v)).append("</code></td></tr>\n"));
        sb.append("</table>\n");
        return this;
    }

    /** A JSON object's fields as key/value rows (nested values as compact JSON). */
    Html json(JsonNode o) {
        Map<String, String> kv = new java.util.LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = o.fields(); it.hasNext(); ) {
            var e = it.next();
            kv.put(e.getKey(), e.getValue().isValueNode() ? e.getValue().asText() : e.getValue().toString());
        }
        return keyValues(kv);
    }

    Html openPlots() {
        sb.append("<div class=\"plots\">\n");
        return this;
    }

    /** A PNG inlined as a data URI, with a caption. */
    Html image(byte[] png, String alt, String caption) {
        sb.append("<figure><img alt=\"").append(esc(alt)).append("\" src=\"data:image/png;base64,")
                .append(Base64.getEncoder().encodeToString(png)).append("\"><figcaption>").append(esc(caption))
                .append("</figcaption></figure>\n");
        return this;
    }

    Html closePlots() {
        sb.append("</div>\n");
        return this;
    }

    String finish() {
        return sb + "</body></html>\n";
    }

    static String esc(String s) {
        if (s == null) return "";
        StringBuilder o = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '<' -> o.append("&lt;");
                case '>' -> o.append("&gt;");
                case '&' -> o.append("&amp;");
                case '"' -> o.append("&quot;");
                default -> o.append(c);
            }
        }
        return o.toString();
    }

    /** A number for a table: 4 significant digits, integers as integers, blank for NaN. */
    static String num(double v) {
        if (!Double.isFinite(v)) return Double.isNaN(v) ? "" : String.valueOf(v);
        if (v == Math.rint(v) && Math.abs(v) < 1e15) return String.valueOf((long) v);
        return String.format(Locale.ROOT, "%.4g", v);
    }

    static String percent(double frac) {
        return Double.isFinite(frac) ? String.format(Locale.ROOT, "%.2f %%", 100 * frac) : "";
    }
}
