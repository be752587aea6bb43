package io.sam4j.formats;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class SafeTensorsTest {
    @TempDir
    Path dir;

    /** A file image: 8-byte LE length, header padded with spaces to a multiple of 8, then data. */
    static byte[] file(String json, byte[] data) {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8;
        ByteBuffer b = ByteBuffer.allocate(8 + padded + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(padded).put(h);
        for (int i = h.length; i < padded; i++) b.put((byte) ' ');
        b.put(data);
        return b.array();
    }

    static byte[] floatsLE(float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) b.putFloat(f);
        return b.array();
    }

    @Test
    void byteExactLayoutOfTinyFile() throws IOException {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", "pt");
        List<SafeTensors.Entry> entries = List.of(
                SafeTensors.Entry.of("w", new float[] {1f, -2f, 0.5f, 3.25f, 0f, -0f}, 2, 3),
                SafeTensors.Entry.of("b", new float[] {7f}, 1));
        Path f = dir.resolve("tiny.safetensors");
        SafeTensors.write(f, entries, meta);

        String json = "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[24,28]}}";
        assertEquals(143, json.length()); // padded to 144 with one space
        ByteArrayOutputStream exp = new ByteArrayOutputStream();
        exp.writeBytes(new byte[] {(byte) 144, 0, 0, 0, 0, 0, 0, 0});
        exp.writeBytes(json.getBytes(StandardCharsets.US_ASCII));
        exp.writeBytes(new byte[] {' '});
        exp.writeBytes(floatsLE(1f, -2f, 0.5f, 3.25f, 0f, -0f, 7f));
        byte[] expected = exp.toByteArray();
        assertEquals(8 + 144 + 28, expected.length);
        assertArrayEquals(expected, Files.readAllBytes(f));
        // float 1.0 little-endian is 00 00 80 3f
        assertArrayEquals(new byte[] {0, 0, (byte) 0x80, 0x3f}, Arrays.copyOfRange(expected, 152, 156));

        SafeTensors.Loaded l = SafeTensors.read(f);
        assertEquals(meta, l.metadata());
        assertEquals(List.of("w", "b"), List.copyOf(l.tensors().keySet()));
        assertArrayEquals(new long[] {2, 3}, l.tensor("w").shape());
        assertEquals("F32", l.tensor("w").dtype());
        assertArrayEquals(new float[] {1f, -2f, 0.5f, 3.25f, 0f, -0f}, l.tensor("w").values());
        assertArrayEquals(new float[] {7f}, l.tensor("b").values());
    }

    @Test
    void roundTripNativeSegmentsScalarsAndEmpties() {
        Random r = new Random(5);
        try (Arena a = Arena.ofConfined()) {
            int n = 300_000; // larger than the write chunk
            MemorySegment big = a.allocate(4L * n);
            float[] want = new float[n];
            for (int i = 0; i < n; i++) {
                want[i] = (float) r.nextGaussian();
                big.setAtIndex(ValueLayout.JAVA_FLOAT, i, want[i]);
            }
            List<SafeTensors.Entry> entries = List.of(
                    new SafeTensors.Entry("layer.0.weight", new long[] {600, 500}, big),
                    SafeTensors.Entry.of("scalar", new float[] {Float.NaN}),
                    SafeTensors.Entry.of("empty", new float[0], 0, 4),
                    SafeTensors.Entry.of("ünïcode name", new float[] {Float.NEGATIVE_INFINITY}, 1));
            Path f = dir.resolve("m.safetensors");
            SafeTensors.write(f, entries, null);
            SafeTensors.Loaded l = SafeTensors.read(f);
            assertTrue(l.metadata().isEmpty());
            assertEquals(List.of("layer.0.weight", "scalar", "empty", "ünïcode name"), List.copyOf(l.tensors().keySet()));
            assertArrayEquals(want, l.tensor("layer.0.weight").values());
            assertArrayEquals(new long[0], l.tensor("scalar").shape());
            assertTrue(Float.isNaN(l.tensor("scalar").values()[0]));
            assertEquals(0, l.tensor("empty").values().length);
            assertArrayEquals(new long[] {0, 4}, l.tensor("empty").shape());
            assertEquals(Float.NEGATIVE_INFINITY, l.tensor("ünïcode name").values()[0]);
            // overwrite in place; still no temp files
            SafeTensors.write(f, List.of(SafeTensors.Entry.of("x", new float[] {1})), Map.of("k", "v"));
            assertEquals(Map.of("k", "v"), SafeTensors.read(f).metadata());
        }
        assertEquals(List.of("m.safetensors"), listDir());
    }

    @Test
    void entryValidation() {
        assertThrows(IllegalArgumentException.class, () -> SafeTensors.Entry.of("x", new float[5], 2, 3));
        assertThrows(IllegalArgumentException.class, () -> SafeTensors.Entry.of("__metadata__", new float[1], 1));
        assertThrows(IllegalArgumentException.class, () -> SafeTensors.Entry.of("", new float[1], 1));
        List<SafeTensors.Entry> dup = List.of(SafeTensors.Entry.of("a", new float[1], 1),
                SafeTensors.Entry.of("a", new float[1], 1));
        assertThrows(IllegalArgumentException.class, () -> SafeTensors.write(dir.resolve("d"), dup, null));
    }

    @Test
    void readsOtherFloatDtypes() throws IOException {
        ByteBuffer d = ByteBuffer.allocate(8 + 4 + 4).order(ByteOrder.LITTLE_ENDIAN);
        d.putDouble(-1.5);
        d.putShort(Float.floatToFloat16(0.333f)).putShort(Float.floatToFloat16(-2f));
        d.putShort((short) (Float.floatToIntBits(3.5f) >>> 16)).putShort((short) (Float.floatToIntBits(-0.125f) >>> 16));
        String json = "{\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                + "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[8,12]},"
                + "\"bf\":{\"dtype\":\"BF16\",\"shape\":[2,1],\"data_offsets\":[12,16]}}";
        Path f = dir.resolve("mixed.safetensors");
        Files.write(f, file(json, d.array()));
        SafeTensors.Loaded l = SafeTensors.read(f);
        assertArrayEquals(new float[] {-1.5f}, l.tensor("d").values());
        assertEquals("F16", l.tensor("h").dtype());
        assertArrayEquals(new float[] {Float.float16ToFloat(Float.floatToFloat16(0.333f)), -2f}, l.tensor("h").values());
        assertArrayEquals(new float[] {3.5f, -0.125f}, l.tensor("bf").values());
    }

    @Test
    void integerDtypesAreReadExactly() throws IOException {
        Path f = dir.resolve("ints.safetensors");
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(8 + 4 + 2 + 1 + 1 + 2).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.putLong(1L << 40).putInt(-7).putShort((short) -300).put((byte) -2).put((byte) 200).put((byte) 1).put((byte) 0);
        Files.write(f, file("{\"a\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[8,12]},"
                + "\"c\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[12,14]},"
                + "\"d\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[14,15]},"
                + "\"e\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[15,16]},"
                + "\"f\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[16,18]}}", b.array()));
        SafeTensors.Loaded l = SafeTensors.read(f);
        assertArrayEquals(new long[] {1L << 40}, l.tensor("a").integers());
        assertArrayEquals(new float[] {(float) (1L << 40)}, l.tensor("a").values());
        assertArrayEquals(new long[] {-7}, l.tensor("b").integers());
        assertArrayEquals(new long[] {-300}, l.tensor("c").integers());
        assertArrayEquals(new long[] {-2}, l.tensor("d").integers());
        assertArrayEquals(new long[] {200}, l.tensor("e").integers());
        assertArrayEquals(new long[] {1, 0}, l.tensor("f").integers());

        Path bad = dir.resolve("bool.safetensors");
        Files.write(bad, file("{\"f\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[0,1]}}", new byte[] {2}));
        assertEquals(bad + ": tensor 'f' (BOOL) has byte 2 at element 0, expected 0 or 1",
                assertThrows(FormatException.class, () -> SafeTensors.read(bad)).getMessage());
    }

    @Test
    void unsupportedDtypeNamesTensor() throws IOException {
        Path f = dir.resolve("u16.safetensors");
        Files.write(f, file("{\"steps\":{\"dtype\":\"U16\",\"shape\":[1],\"data_offsets\":[0,2]}}", new byte[2]));
        FormatException e = assertThrows(FormatException.class, () -> SafeTensors.read(f));
        assertEquals(f + ": tensor 'steps' has unsupported dtype U16 (supported: F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL)",
                e.getMessage());
        Path g = dir.resolve("weird.safetensors");
        Files.write(g, file("{\"t\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,1]}}", new byte[1]));
        e = assertThrows(FormatException.class, () -> SafeTensors.read(g));
        assertEquals(g + ": tensor 't': unknown dtype \"Q4\"", e.getMessage());
    }

    /** The metadata is written with sorted keys: the same content in any map order gives the same bytes. */
    @Test
    void metadataOrderDoesNotChangeTheBytes() throws IOException {
        Map<String, String> a = new LinkedHashMap<>(), b = new LinkedHashMap<>();
        a.put("step", "5");
        a.put("optimizer.steps", "5");
        a.put("format", "pt");
        b.put("format", "pt");
        b.put("optimizer.steps", "5");
        b.put("step", "5");
        long[] count = {42};
        List<SafeTensors.Entry> e = List.of(SafeTensors.Entry.of("w", new float[] {1, 2}, 2),
                SafeTensors.Entry.int64("n", new long[0], java.lang.foreign.MemorySegment.ofArray(count)));
        SafeTensors.write(dir.resolve("a"), e, a);
        SafeTensors.write(dir.resolve("b"), e, b);
        assertArrayEquals(Files.readAllBytes(dir.resolve("a")), Files.readAllBytes(dir.resolve("b")));
        assertEquals("I64", SafeTensors.read(dir.resolve("a")).tensor("n").dtype());
        assertArrayEquals(new long[] {42}, SafeTensors.read(dir.resolve("a")).tensor("n").integers());
    }

    @Test
    void truncatedAndCorruptFiles() throws IOException {
        Path good = dir.resolve("good.safetensors");
        SafeTensors.write(good, List.of(SafeTensors.Entry.of("w", new float[] {1, 2, 3, 4}, 4)), Map.of("a", "b"));
        byte[] bytes = Files.readAllBytes(good);

        // cut inside the data section
        String m = readError("cut-data", Arrays.copyOf(bytes, bytes.length - 3));
        assertTrue(m.contains("truncated") && m.contains("'w'"), m);
        // cut inside the header
        m = readError("cut-header", Arrays.copyOf(bytes, 20));
        assertTrue(m.contains(": truncated: header length"), m);
        // shorter than the length prefix
        m = readError("tiny", new byte[] {1, 2, 3});
        assertTrue(m.contains(": truncated: 3 bytes"), m);
        // absurd header length
        byte[] huge = bytes.clone();
        huge[7] = 0x40;
        m = readError("huge", huge);
        assertTrue(m.contains("header length") && m.contains("not plausible"), m);
        // extra bytes after the last tensor
        m = readError("trailing", Arrays.copyOf(bytes, bytes.length + 4));
        assertTrue(m.contains("data section has 20 bytes but the tensors cover 16"), m);
        // broken JSON
        m = readError("json", file("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],", new byte[16]));
        assertTrue(m.contains("header is not valid JSON"), m);
        m = readError("notjson", file("hello world", new byte[0]));
        assertTrue(m.contains("does not start with '{'"), m);
        // duplicate keys
        m = readError("dup", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]));
        assertTrue(m.contains("not valid JSON") && m.contains("Duplicate"), m);
        // shape inconsistent with offsets
        m = readError("shape", file("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", new byte[16]));
        assertTrue(m.contains("tensor 'w': shape [3] x F32 is 12 bytes but data_offsets [0,16] span 16"), m);
        // offsets past the end
        m = readError("past", file("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", new byte[8]));
        assertTrue(m.contains("truncated") && m.contains("'w'"), m);
        // gap between tensors
        m = readError("gap", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8]));
        assertTrue(m.contains("leave a gap"), m);
        // metadata must be strings
        m = readError("meta", file("{\"__metadata__\":{\"n\":3}}", new byte[0]));
        assertTrue(m.contains("value for 'n' is not a string"), m);
        // missing file
        Path nope = dir.resolve("nope.safetensors");
        assertEquals(nope + ": no such file", assertThrows(FormatException.class, () -> SafeTensors.read(nope)).getMessage());
    }

    private String readError(String name, byte[] content) throws IOException {
        Path f = dir.resolve(name);
        Files.write(f, content);
        FormatException e = assertThrows(FormatException.class, () -> SafeTensors.read(f));
        String m = e.getMessage();
        assertTrue(m.startsWith(f + ": "), m);
        assertFalse(m.contains("\n"), m);
        return m;
    }

    @Test
    void failedWriteLeavesOldFileAndNoTemp() throws IOException {
        Path f = dir.resolve("ckpt.safetensors");
        SafeTensors.write(f, List.of(SafeTensors.Entry.of("w", new float[] {1, 2}, 2)), null);
        byte[] before = Files.readAllBytes(f);
        MemorySegment dead;
        try (Arena a = Arena.ofConfined()) {
            dead = a.allocate(8);
        }
        List<SafeTensors.Entry> bad = List.of(SafeTensors.Entry.of("w", new float[] {3, 4}, 2),
                new SafeTensors.Entry("v", new long[] {2}, dead));
        assertThrows(IllegalStateException.class, () -> SafeTensors.write(f, bad, null)); // closed arena
        assertArrayEquals(before, Files.readAllBytes(f));
        assertEquals(List.of("ckpt.safetensors"), listDir());

        Path missingDir = dir.resolve("no/such/dir/x.safetensors");
        FormatException e = assertThrows(FormatException.class,
                () -> SafeTensors.write(missingDir, List.of(SafeTensors.Entry.of("w", new float[1], 1)), null));
        assertTrue(e.getMessage().startsWith(missingDir + ": cannot write"), e.getMessage());
    }

    private List<String> listDir() {
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }
}
