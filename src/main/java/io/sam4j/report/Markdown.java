package io.sam4j.report;

import java.util.List;

/** GitHub-flavoured Markdown tables, for files that documentation pastes as they are. */
final class Markdown {
    private Markdown() {}

    /** A table: the first column left-aligned, the others right-aligned; '|' in cells escaped. */
    static String table(List<String> header, List<List<String>> rows) {
        StringBuilder b = new StringBuilder();
        row(b, header);
        b.append("|");
        for (int i = 0; i < header.size(); i++) b.append(i == 0 ? " --- |" : " ---: |");
        b.append('\n');
        for (List<String> r : rows) row(b, r);
        return b.toString();
    }

    private static void row(StringBuilder b, List<String> cells) {
        b.append('|');
        for (String c : cells) b.append(' ').append(c.replace("|", "\\|").replace("\n", " ")).append(" |");
        b.append('\n');
    }
}
