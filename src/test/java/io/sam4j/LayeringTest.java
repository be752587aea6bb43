package io.sam4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The package rules of src/main: every package has a package-info.java whose "May import:" line lists the
 * sam4j packages its sources may name, and no source names another (in an import or a fully-qualified name;
 * comments and string literals, such as a class loaded by name, do not count).
 */
class LayeringTest {
    private static final Path MAIN = Path.of("src/main/java/io/sam4j");
    private static final Pattern MAY_IMPORT = Pattern.compile("<b>May import:</b>\\s*([^.]*)\\.");
    private static final Pattern REFERENCE = Pattern.compile("\\bio\\.sam4j\\.([a-z][a-z0-9_]*)\\.");

    /** Package name to the packages it may name, from each package-info.java. */
    static Map<String, Set<String>> rules() throws IOException {
        Map<String, Set<String>> rules = new TreeMap<>();
        try (Stream<Path> dirs = Files.list(MAIN)) {
            for (Path dir : dirs.filter(Files::isDirectory).sorted().toList()) {
                String pkg = dir.getFileName().toString();
                Path info = dir.resolve("package-info.java");
                if (!Files.isRegularFile(info)) fail("io.sam4j." + pkg + " has no package-info.java stating what it may import");
                Matcher m = MAY_IMPORT.matcher(Files.readString(info));
                if (!m.find()) fail(info + ": no \"<b>May import:</b> a, b.\" line");
                Set<String> allowed = new TreeSet<>();
                for (String p : m.group(1).split(",")) {
                    String name = p.trim();
                    if (!name.isEmpty() && !name.equals("nothing")) allowed.add(name);
                }
                rules.put(pkg, allowed);
            }
        }
        return rules;
    }

    /** Source without comments and string/char literals (a text block counts as a string). */
    static String code(String src) {
        StringBuilder out = new StringBuilder(src.length());
        int i = 0, n = src.length();
        while (i < n) {
            if (src.startsWith("//", i)) {
                int e = src.indexOf('\n', i);
                i = e < 0 ? n : e;
            } else if (src.startsWith("/*", i)) {
                int e = src.indexOf("*/", i + 2);
                i = e < 0 ? n : e + 2;
                out.append(' ');
            } else if (src.startsWith("\"\"\"", i)) {
                int e = src.indexOf("\"\"\"", i + 3);
                i = e < 0 ? n : e + 3;
                out.append("\"\"");
            } else if (src.charAt(i) == '"' || src.charAt(i) == '\'') {
                char q = src.charAt(i++);
                while (i < n && src.charAt(i) != q) i += src.charAt(i) == '\\' ? 2 : 1;
                i++;
                out.append(q).append(q);
            } else {
                out.append(src.charAt(i++));
            }
        }
        return out.toString();
    }

    @Test
    void noPackageNamesOneItMustNot() throws IOException {
        Map<String, Set<String>> rules = rules();
        List<String> violations = new ArrayList<>();
        for (Map.Entry<String, Set<String>> r : rules.entrySet()) {
            String pkg = r.getKey();
            for (String p : r.getValue()) {
                if (!rules.containsKey(p)) violations.add("io.sam4j." + pkg + "'s package-info allows unknown package " + p);
            }
            try (Stream<Path> files = Files.walk(MAIN.resolve(pkg))) {
                for (Path f : files.filter(p -> p.toString().endsWith(".java")).sorted().toList()) {
                    Matcher m = REFERENCE.matcher(code(Files.readString(f)));
                    Set<String> named = new TreeSet<>();
                    while (m.find()) named.add(m.group(1));
                    for (String used : named) {
                        if (!used.equals(pkg) && !r.getValue().contains(used)) {
                            violations.add(MAIN.relativize(f) + " names io.sam4j." + used + " (io.sam4j." + pkg + " may import: "
                                    + (r.getValue().isEmpty() ? "nothing" : String.join(", ", r.getValue())) + ")");
                        }
                    }
                }
            }
        }
        assertEquals(List.of(), violations, "package rules (see each package-info.java)");
    }

    /** The rules admit no cycle, so the packages stay a layering. */
    @Test
    void theRulesHaveNoCycle() throws IOException {
        Map<String, Set<String>> rules = rules();
        for (String start : rules.keySet()) {
            List<String> stack = new ArrayList<>(rules.get(start));
            Set<String> seen = new TreeSet<>();
            while (!stack.isEmpty()) {
                String p = stack.removeLast();
                if (p.equals(start)) fail("io.sam4j." + start + " may import itself through its own rules");
                if (seen.add(p) && rules.containsKey(p)) stack.addAll(rules.get(p));
            }
        }
    }

    /** The checker itself: what counts as naming a package, and what does not. */
    @Test
    void commentsAndStringsDoNotCount() {
        String src = """
                import io.sam4j.nn.Model; // io.sam4j.cli.Main
                /* io.sam4j.train.Trainer */ String s = "io.sam4j.dnnl.OneDnnConvBackend"; char c = '"';
                Object o = io.sam4j.formats.SafeTensors.read(null);
                """;
        Matcher m = REFERENCE.matcher(code(src));
        Set<String> named = new TreeSet<>();
        while (m.find()) named.add(m.group(1));
        assertEquals(Set.of("nn", "formats"), named);
        assertTrue(MAY_IMPORT.matcher("* <p><b>May import:</b> kernels, conv. (Enforced").find());
    }
}
