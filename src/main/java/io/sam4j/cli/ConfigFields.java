package io.sam4j.cli;

import java.util.Map;

/** The config.json field each train flag sets (null for flags that are not part of a run's settings). */
final class ConfigFields {
    private ConfigFields() {}

    private static final Map<String, String> SPECIAL = Map.of(
            "--no-shuffle", "shuffle",
            "--no-augment", "augment");

    static String of(String flag) {
        if (SPECIAL.containsKey(flag)) return SPECIAL.get(flag);
        if (flag.equals("--out") || flag.equals("--overwrite")) return null;
        StringBuilder b = new StringBuilder();
        boolean upper = false;
        for (char ch : flag.substring(2).toCharArray()) {
            if (ch == '-') {
                upper = true;
            } else {
                b.append(upper ? Character.toUpperCase(ch) : ch);
                upper = false;
            }
        }
        return b.toString();
    }
}
