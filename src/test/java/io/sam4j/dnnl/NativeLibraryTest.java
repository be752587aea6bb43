package io.sam4j.dnnl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NativeLibraryTest {
    @BeforeAll
    static void bundled() {
        assumeTrue(NativeLibraryTest.class.getResource("/org/bytedeco/dnnl/linux-x86_64/libdnnl.so.3") != null,
                "the dnnl jar is not on the test class path");
    }

    @Test
    void artifactVersionMatchesTheJarOnTheClassPath() {
        URL url = NativeLibraryTest.class.getResource("/org/bytedeco/dnnl/linux-x86_64/libdnnl.so.3");
        assertNotNull(url);
        assertTrue(url.toString().contains("dnnl-" + NativeLibrary.ARTIFACT_VERSION + "-linux-x86_64.jar"),
                "NativeLibrary.ARTIFACT_VERSION out of step with pom.xml: " + url);
    }

    @Test
    void extractsOnceAtomicallyAndRepairsABrokenCopy(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("dnnl-x");
        assertTrue(NativeLibrary.extract(dir), "first call extracts");
        Path gomp = dir.resolve(NativeLibrary.LIBGOMP), dnnl = dir.resolve(NativeLibrary.LIBDNNL);
        assertTrue(Files.size(dnnl) > 50_000_000, "libdnnl.so.3 size " + Files.size(dnnl));
        assertTrue(Files.size(gomp) > 100_000);
        assertTrue(Files.readString(dir.resolve(NativeLibrary.MANIFEST)).contains(NativeLibrary.LIBDNNL + " " + Files.size(dnnl)));
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(List.of(dir), s.toList(), "temporary folders left behind");
        }

        FileTime stamp = Files.getLastModifiedTime(dnnl);
        assertFalse(NativeLibrary.extract(dir), "an intact copy is reused");
        assertEquals(stamp, Files.getLastModifiedTime(dnnl));

        long gompSize = Files.size(gomp);
        try (RandomAccessFile f = new RandomAccessFile(gomp.toFile(), "rw")) {
            f.setLength(1000); // a truncated copy, e.g. a full disk
        }
        assertFalse(NativeLibrary.isIntact(dir));
        assertTrue(NativeLibrary.extract(dir), "a broken copy is replaced");
        assertEquals(gompSize, Files.size(gomp));
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(List.of(dir), s.toList(), "stale folders left behind");
        }

        Files.delete(dir.resolve(NativeLibrary.MANIFEST)); // an interrupted extraction never got this far
        assertTrue(NativeLibrary.extract(dir));
    }

    @Test
    void failuresNameThePathAndTheReason(@TempDir Path tmp) throws IOException {
        Path missing = tmp.resolve("nowhere/libdnnl.so.3");
        assertFailure(missing, "no such file");

        Path text = Files.writeString(tmp.resolve("libdnnl.so.3"), "not a library");
        assertFailure(text, "not an ELF shared library");

        byte[] header = new byte[64];
        header[0] = 0x7f;
        header[1] = 'E';
        header[2] = 'L';
        header[3] = 'F';
        header[4] = 2; // 64-bit
        header[5] = 1; // little-endian
        header[18] = (byte) 183; // EM_AARCH64
        Path arm = Files.write(tmp.resolve("arm-libdnnl.so.3"), header);
        assertFailure(arm, "built for aarch64");

        // A real x86-64 library that is not oneDNN: dlopen works, the symbol check does not.
        Path dir = tmp.resolve("x");
        NativeLibrary.extract(dir);
        assertFailure(dir.resolve(NativeLibrary.LIBGOMP), "missing symbols dnnl_");
    }

    private static void assertFailure(Path path, String reason) {
        NativeLibrary.LoadFailure f = assertThrows(NativeLibrary.LoadFailure.class, () -> NativeLibrary.open(path, "test"));
        assertTrue(f.getMessage().startsWith(path.toString()), f.getMessage());
        assertTrue(f.getMessage().contains(reason), f.getMessage());
    }

    /** Prints what a program falling back to Java would print; run in a child JVM below. */
    public static final class Probe {
        public static void main(String[] args) {
            System.out.println(OneDnnConvBackend.tryCreate(1).isPresent() + " "
                    + OneDnnConvBackend.unavailableReason().orElse("-"));
        }
    }

    @Test
    void badOverridePathGivesOneClearLine(@TempDir Path tmp) throws Exception {
        Path bad = tmp.resolve("no-such/libdnnl.so.3");
        String viaProperty = probe(List.of("-D" + NativeLibrary.PROPERTY + "=" + bad), Map.of());
        assertEquals("false oneDNN unavailable: " + bad + " (-Dsam4j.dnnl.library): no such file", viaProperty);

        String viaEnv = probe(List.of(), Map.of(NativeLibrary.ENV, bad.toString()));
        assertEquals("false oneDNN unavailable: " + bad + " ($SAM4J_DNNL_LIBRARY): no such file", viaEnv);

        // A folder holding a good library works as an override too.
        Path good = tmp.resolve("good");
        NativeLibrary.extract(good);
        assertEquals("true -", probe(List.of("-D" + NativeLibrary.PROPERTY + "=" + good), Map.of()));
    }

    private static String probe(List<String> flags, Map<String, String> env) throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command().orElseThrow();
        List<String> cmd = new java.util.ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED"));
        cmd.addAll(flags);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Probe.class.getName()));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().remove(NativeLibrary.ENV);
        pb.environment().putAll(env);
        Process p = pb.start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "child JVM timed out");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertEquals(0, p.exitValue(), out);
        return out;
    }
}
