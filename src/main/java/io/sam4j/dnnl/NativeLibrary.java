package io.sam4j.dnnl;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Finds and opens libdnnl.so.3 once per process.
 *
 * <p>In order: the path in {@code -Dsam4j.dnnl.library} or {@code $SAM4J_DNNL_LIBRARY} (a libdnnl.so.3 file or
 * a folder holding one; when set, nothing else is tried); else libdnnl.so.3 and libgomp.so.1 from the
 * {@code org.bytedeco:dnnl} jar on the class path, extracted once into a per-user cache folder keyed by version
 * ({@code ${XDG_CACHE_HOME:-~/.cache}/sam4j/native/dnnl-3.13-1.5.14-linux-x86_64/}); if that folder cannot be
 * written, a fresh private temporary folder, deleted once the library is mapped. libdnnl's RUNPATH
 * {@code $ORIGIN/} makes it pick up the libgomp next to it. Nothing is ever downloaded.
 *
 * <p>Failure is remembered and reported as a {@link DnnlUnavailableException} whose one-line message names
 * every path tried and why it failed (no such file, not an ELF library, wrong architecture, dlopen error,
 * missing symbol, wrong oneDNN major version).
 */
@SuppressWarnings("restricted") // native access is the point; the JVM flag enables it
public final class NativeLibrary {
    /** Version of the org.bytedeco:dnnl artifact in pom.xml (oneDNN 3.13 + JavaCPP presets 1.5.14). */
    public static final String ARTIFACT_VERSION = "3.13-1.5.14";
    public static final String PROPERTY = "sam4j.dnnl.library";
    public static final String ENV = "SAM4J_DNNL_LIBRARY";
    static final String PLATFORM = "linux-x86_64";
    static final String LIBDNNL = "libdnnl.so.3";
    static final String LIBGOMP = "libgomp.so.1";
    static final String MANIFEST = "sam4j-manifest.txt";
    private static final String RESOURCE_DIR = "/org/bytedeco/dnnl/" + PLATFORM + "/";
    /** libgomp first: it is what libdnnl needs when it is opened. */
    private static final List<String> BUNDLED = List.of(LIBGOMP, LIBDNNL);

    private NativeLibrary() {}

    /** An opened library: its symbols, the file, and where that file came from. */
    public record Loaded(SymbolLookup lookup, Path path, String origin, Dnnl.Version version) {}

    private static final class Holder {
        static final Object RESULT = loadOrFailure();
    }

    /** The opened library, loading it on first call; throws the (remembered) failure otherwise. */
    public static Loaded get() {
        if (Holder.RESULT instanceof DnnlUnavailableException e) throw new DnnlUnavailableException(e.getMessage(), e);
        return (Loaded) Holder.RESULT;
    }

    private static Object loadOrFailure() {
        try {
            return load();
        } catch (DnnlUnavailableException e) {
            return e;
        }
    }

    private static Loaded load() {
        String origin = "-D" + PROPERTY;
        String override = System.getProperty(PROPERTY);
        if (override == null || override.isBlank()) {
            origin = "$" + ENV;
            override = System.getenv(ENV);
        }
        if (override != null && !override.isBlank()) {
            Path p = Path.of(override.trim()).toAbsolutePath();
            if (Files.isDirectory(p)) p = p.resolve(LIBDNNL);
            try {
                return open(p, origin);
            } catch (LoadFailure f) {
                throw new DnnlUnavailableException("oneDNN unavailable: " + f.getMessage());
            }
        }
        String arch = System.getProperty("os.arch"), os = System.getProperty("os.name");
        if (!os.toLowerCase(Locale.ROOT).startsWith("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            throw new DnnlUnavailableException("oneDNN unavailable: the bundled library is for " + PLATFORM + ", this is "
                    + os + "/" + arch + " (point -D" + PROPERTY + " or $" + ENV + " at a libdnnl.so.3 for it)");
        }
        if (NativeLibrary.class.getResource(RESOURCE_DIR + LIBDNNL) == null) {
            throw new DnnlUnavailableException("oneDNN unavailable: " + RESOURCE_DIR.substring(1) + LIBDNNL
                    + " is not on the class path (add org.bytedeco:dnnl:" + ARTIFACT_VERSION + ":" + PLATFORM
                    + " or set -D" + PROPERTY + ")");
        }
        List<String> tried = new ArrayList<>();
        Path cacheDir = cacheRoot().resolve("sam4j/native/dnnl-" + ARTIFACT_VERSION + "-" + PLATFORM);
        try {
            extract(cacheDir);
            return open(cacheDir.resolve(LIBDNNL), "extracted from the class path");
        } catch (IOException | RuntimeException | LoadFailure e) {
            tried.add(e instanceof LoadFailure ? e.getMessage() : cacheDir + ": " + e);
        }
        // A read-only or full home: a private folder of our own, never reused (another user could plant one).
        Path tmp = null;
        try {
            tmp = Files.createTempDirectory("sam4j-dnnl-");
            Path dir = tmp.resolve("lib");
            extract(dir);
            return open(dir.resolve(LIBDNNL), "extracted to a temporary folder");
        } catch (IOException | RuntimeException | LoadFailure e) {
            tried.add(e instanceof LoadFailure ? e.getMessage() : (tmp == null ? "temporary folder" : tmp) + ": " + e);
        } finally {
            if (tmp != null) deleteTree(tmp); // Linux keeps mapped libraries alive after unlinking
        }
        throw new DnnlUnavailableException("oneDNN unavailable: " + String.join("; ", tried));
    }

    private static Path cacheRoot() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank() && Path.of(xdg).isAbsolute()) return Path.of(xdg);
        return Path.of(System.getProperty("user.home"), ".cache");
    }

    /** Why a candidate path did not load; the message starts with the path. */
    static final class LoadFailure extends Exception {
        private static final long serialVersionUID = 1L;

        LoadFailure(Path path, String origin, String reason) {
            super(path + " (" + origin + "): " + reason);
        }
    }

    /**
     * Opens one candidate file: checks it is an ELF shared library for this CPU (dlopen's own errors are
     * terse), that every bound symbol resolves, and that it is oneDNN 3.x.
     */
    static Loaded open(Path path, String origin) throws LoadFailure {
        if (!Files.isRegularFile(path)) throw new LoadFailure(path, origin, "no such file");
        String elfProblem = elfProblem(path);
        if (elfProblem != null) throw new LoadFailure(path, origin, elfProblem);
        SymbolLookup lookup;
        try {
            lookup = SymbolLookup.libraryLookup(path, Arena.global());
        } catch (IllegalArgumentException | IllegalCallerException e) {
            throw new LoadFailure(path, origin, "cannot be opened (" + e.getMessage()
                    + "; missing dependency? try ldd on it)");
        }
        List<String> missing = Dnnl.Functions.ALL.keySet().stream().filter(s -> lookup.find(s).isEmpty()).sorted().toList();
        if (!missing.isEmpty()) {
            String names = String.join(", ", missing.subList(0, Math.min(3, missing.size())))
                    + (missing.size() > 3 ? " and " + (missing.size() - 3) + " more" : "");
            throw new LoadFailure(path, origin, "missing symbol" + (missing.size() > 1 ? "s " : " ") + names
                    + " (not oneDNN 3.x built with OpenMP?)");
        }
        Dnnl.Version v = version(lookup);
        if (v.major() != 3) throw new LoadFailure(path, origin, "oneDNN " + v + " found, the binding needs 3.x");
        return new Loaded(lookup, path, origin, v);
    }

    /** dnnl_version() called directly: Dnnl itself must not be initialised before the library checks out. */
    private static Dnnl.Version version(SymbolLookup lookup) {
        try {
            MemorySegment v = ((MemorySegment) Linker.nativeLinker()
                    .downcallHandle(lookup.findOrThrow("dnnl_version"), FunctionDescriptor.of(ADDRESS))
                    .invokeExact()).reinterpret(32);
            MemorySegment hash = v.get(ADDRESS, 16);
            return new Dnnl.Version(v.get(JAVA_INT, 0), v.get(JAVA_INT, 4), v.get(JAVA_INT, 8),
                    hash.equals(MemorySegment.NULL) ? "" : hash.reinterpret(256).getString(0), v.get(JAVA_INT, 24));
        } catch (Throwable t) {
            throw new IllegalStateException("dnnl_version failed", t);
        }
    }

    /** Null when the ELF header fits this JVM (64-bit, little-endian, this machine); else what is wrong. */
    static String elfProblem(Path path) {
        byte[] h = new byte[20];
        try (InputStream in = Files.newInputStream(path)) {
            if (in.readNBytes(h, 0, h.length) < h.length) return "not an ELF shared library (too short)";
        } catch (IOException e) {
            return "cannot be read (" + e + ")";
        }
        if (h[0] != 0x7f || h[1] != 'E' || h[2] != 'L' || h[3] != 'F') return "not an ELF shared library";
        if (h[4] != 2) return "a 32-bit ELF library, this JVM is 64-bit";
        if (h[5] != 1) return "a big-endian ELF library";
        int machine = (h[18] & 0xff) | (h[19] & 0xff) << 8;
        int expected = switch (System.getProperty("os.arch")) {
            case "amd64", "x86_64" -> 62;
            case "aarch64" -> 183;
            case "riscv64" -> 243;
            case "ppc64le" -> 21;
            default -> -1; // unknown here: let dlopen decide
        };
        if (expected >= 0 && machine != expected) {
            return "built for " + machineName(machine) + ", this JVM runs on " + System.getProperty("os.arch");
        }
        return null;
    }

    private static String machineName(int machine) {
        return switch (machine) {
            case 62 -> "x86-64";
            case 183 -> "aarch64";
            case 243 -> "riscv64";
            case 21 -> "ppc64";
            case 3 -> "i386";
            default -> "ELF machine " + machine;
        };
    }

    /**
     * Makes {@code dir} hold intact copies of the bundled libraries: reused when its manifest exists and
     * every file has the size of its class-path resource; else extracted into a temporary sibling and renamed
     * into place, so other processes see either nothing or a complete folder. Returns true if it extracted.
     */
    static boolean extract(Path dir) throws IOException {
        if (isIntact(dir)) return false;
        Path parent = dir.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path tmp = Files.createTempDirectory(parent, dir.getFileName() + ".tmp-");
        try {
            StringBuilder manifest = new StringBuilder("# org.bytedeco:dnnl:" + ARTIFACT_VERSION + ":" + PLATFORM
                    + " extracted by sam4j: name, bytes, sha-256\n");
            for (String name : BUNDLED) {
                MessageDigest sha = sha256();
                long bytes;
                try (InputStream in = resource(name).openStream();
                        OutputStream out = new DigestOutputStream(Files.newOutputStream(tmp.resolve(name)), sha)) {
                    bytes = in.transferTo(out);
                }
                manifest.append(name).append(' ').append(bytes).append(' ')
                        .append(HexFormat.of().formatHex(sha.digest())).append('\n');
            }
            Files.writeString(tmp.resolve(MANIFEST), manifest); // written last: its presence marks completion
            try {
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException inTheWay) {
                if (isIntact(dir)) return false; // another process finished first
                Path stale = parent.resolve(dir.getFileName() + ".stale-" + ProcessHandle.current().pid());
                Files.move(dir, stale, StandardCopyOption.ATOMIC_MOVE);
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
                deleteTree(stale);
            }
            return true;
        } finally {
            deleteTree(tmp);
        }
    }

    static boolean isIntact(Path dir) {
        try {
            List<String> lines = Files.readAllLines(dir.resolve(MANIFEST), StandardCharsets.UTF_8);
            int found = 0;
            for (String line : lines) {
                if (line.startsWith("#") || line.isBlank()) continue;
                String[] f = line.split(" ");
                long size = Long.parseLong(f[1]);
                if (!BUNDLED.contains(f[0]) || Files.size(dir.resolve(f[0])) != size
                        || resource(f[0]).openConnection().getContentLengthLong() != size) {
                    return false;
                }
                found++;
            }
            return found == BUNDLED.size();
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    private static URL resource(String name) throws NoSuchFileException {
        URL url = NativeLibrary.class.getResource(RESOURCE_DIR + name);
        if (url == null) throw new NoSuchFileException(RESOURCE_DIR.substring(1) + name + " (class path)");
        return url;
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void deleteTree(Path root) {
        if (!Files.exists(root)) return;
        try (Stream<Path> s = Files.walk(root)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // best effort: a leftover temporary folder is harmless
        }
    }
}
