package io.sam4j.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.*;

class IdxReaderTest {
    @TempDir
    Path dir;

    static byte[] randomBytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** Hand-built IDX bytes: header for dims, then payload. */
    static byte[] idx(int type, int[] dims, byte[] payload) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        o.write(0);
        o.write(0);
        o.write(type);
        o.write(dims.length);
        for (int d : dims) {
            o.write(d >>> 24);
            o.write(d >>> 16);
            o.write(d >>> 8);
            o.write(d);
        }
        o.writeBytes(payload);
        return o.toByteArray();
    }

    static byte[] gzip(byte[] b) throws IOException {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        try (GZIPOutputStream z = new GZIPOutputStream(o)) {
            z.write(b);
        }
        return o.toByteArray();
    }

    @Test
    void roundTripRaw() throws IOException {
        int[] dims = {3, 4, 5};
        byte[] data = randomBytes(60, 1);
        Path f = dir.resolve("x-idx3-ubyte");
        IdxReader.write(f, dims, data, false);
        byte[] onDisk = Files.readAllBytes(f);
        assertArrayEquals(idx(0x08, dims, data), onDisk, "raw layout");
        IdxReader.IdxFile r = IdxReader.read(f);
        assertArrayEquals(dims, r.dims());
        assertArrayEquals(data, r.data());
        assertEquals(60, r.elementCount());
    }

    @Test
    void roundTripGzipDetectedByMagicNotName() throws IOException {
        int[] dims = {7};
        byte[] data = randomBytes(7, 2);
        Path f = dir.resolve("labels-without-suffix");
        IdxReader.write(f, dims, data, true);
        byte[] onDisk = Files.readAllBytes(f);
        assertEquals(0x1f, onDisk[0] & 0xff);
        assertEquals(0x8b, onDisk[1] & 0xff);
        IdxReader.IdxFile r = IdxReader.read(f);
        assertArrayEquals(dims, r.dims());
        assertArrayEquals(data, r.data());

        // and a raw file named .gz is read as raw
        Path g = dir.resolve("raw.gz");
        IdxReader.write(g, dims, data, false);
        assertArrayEquals(data, IdxReader.read(g).data());
    }

    @Test
    void readFromStream() throws IOException {
        byte[] data = randomBytes(6, 3);
        byte[] raw = idx(0x08, new int[] {2, 3}, data);
        assertArrayEquals(data, IdxReader.read(new ByteArrayInputStream(raw), "mem").data());
        assertArrayEquals(data, IdxReader.read(new ByteArrayInputStream(gzip(raw)), "mem.gz").data());
    }

    @Test
    void truncatedPayloadNamesFileAndOffset() throws IOException {
        byte[] full = idx(0x08, new int[] {10, 28, 28}, new byte[10 * 784]);
        Path f = dir.resolve("cut-images-idx3-ubyte");
        Files.write(f, Arrays.copyOf(full, 16 + 1000));
        DataException e = assertThrows(DataException.class, () -> IdxReader.read(f));
        assertTrue(e.getMessage().startsWith(f.toString() + ": truncated at byte offset 1016"), e.getMessage());
        assertTrue(e.getMessage().contains("expected 7840 bytes of pixel data"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void truncatedGzipNamesFile() throws IOException {
        byte[] gz = gzip(idx(0x08, new int[] {100, 28, 28}, randomBytes(78400, 4)));
        Path f = dir.resolve("cut.gz");
        Files.write(f, Arrays.copyOf(gz, gz.length / 2));
        DataException e = assertThrows(DataException.class, () -> IdxReader.read(f));
        assertTrue(e.getMessage().startsWith(f.toString() + ": "), e.getMessage());
        assertTrue(e.getMessage().contains("byte offset"), e.getMessage());
    }

    @Test
    void truncatedHeader() throws IOException {
        Path f = dir.resolve("hdr");
        Files.write(f, Arrays.copyOf(idx(0x08, new int[] {5, 5, 5}, new byte[125]), 9));
        DataException e = assertThrows(DataException.class, () -> IdxReader.read(f));
        assertTrue(e.getMessage().startsWith(f + ": truncated at byte offset 9"), e.getMessage());

        Path empty = dir.resolve("empty");
        Files.write(empty, new byte[0]);
        e = assertThrows(DataException.class, () -> IdxReader.read(empty));
        assertTrue(e.getMessage().contains("empty file"), e.getMessage());
    }

    @Test
    void badMagic() throws IOException {
        byte[] b = idx(0x08, new int[] {2}, new byte[2]);
        b[1] = 0x42;
        Path f = dir.resolve("bad-magic");
        Files.write(f, b);
        DataException e = assertThrows(DataException.class, () -> IdxReader.read(f));
        assertTrue(e.getMessage().startsWith(f + ": not an IDX file"), e.getMessage());

        Path g = dir.resolve("float-type");
        Files.write(g, idx(0x0D, new int[] {2}, new byte[8]));
        e = assertThrows(DataException.class, () -> IdxReader.read(g));
        assertTrue(e.getMessage().startsWith(g + ": unsupported IDX element type 0x0d (float32)"), e.getMessage());
    }

    @Test
    void badDims() throws IOException {
        Path f = dir.resolve("zero-dims");
        Files.write(f, idx(0x08, new int[0], new byte[0]));
        assertTrue(assertThrows(DataException.class, () -> IdxReader.read(f)).getMessage().contains("0 dimensions"));

        Path g = dir.resolve("zero-size");
        Files.write(g, idx(0x08, new int[] {3, 0}, new byte[0]));
        DataException e = assertThrows(DataException.class, () -> IdxReader.read(g));
        assertTrue(e.getMessage().startsWith(g + ": dimension 1 has size 0 at byte offset 8"), e.getMessage());

        Path h = dir.resolve("negative");
        Files.write(h, idx(0x08, new int[] {-1}, new byte[0]));
        assertTrue(assertThrows(DataException.class, () -> IdxReader.read(h)).getMessage().contains("dimension 0"));
    }

    @Test
    void trailingGarbage() throws IOException {
        byte[] b = idx(0x08, new int[] {4}, new byte[4]);
        Path f = dir.resolve("trailing");
        Files.write(f, Arrays.copyOf(b, b.length + 3));
        DataException e = assertThrows(DataException.class, () -> IdxReader.read(f));
        assertTrue(e.getMessage().startsWith(f + ": unexpected trailing data at byte offset 12"), e.getMessage());
    }

    @Test
    void missingFileAndDirectory() {
        Path f = dir.resolve("nope");
        assertEquals(f + ": no such file", assertThrows(DataException.class, () -> IdxReader.read(f)).getMessage());
        assertTrue(assertThrows(DataException.class, () -> IdxReader.read(dir)).getMessage().contains("directory"));
    }

    @Test
    void writeValidatesAndLeavesNoTempFile() throws IOException {
        assertThrows(IllegalArgumentException.class,
                () -> IdxReader.write(dir.resolve("w"), new int[] {2, 2}, new byte[3], false));
        IdxReader.write(dir.resolve("w"), new int[] {2, 2}, new byte[4], true);
        try (var s = Files.list(dir)) {
            assertEquals(java.util.List.of("w"), s.map(p -> p.getFileName().toString()).toList());
        }
    }
}
