package io.sam4j.data;

import io.sam4j.formats.AtomicFile;
import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.Deflater;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import java.util.zip.ZipException;

/**
 * Reads and writes IDX files (the MNIST / Fashion-MNIST container), raw or gzip-compressed.
 *
 * <p>Layout: bytes 0-1 are zero, byte 2 is the element type, byte 3 the number of dimensions d, then d
 * big-endian int32 sizes, then the payload in row-major order. Only element type {@code 0x08} (unsigned
 * byte) is supported; the other IDX types are rejected with a message naming them. Gzip is detected by the
 * magic bytes {@code 1f 8b}, not by the file name. Byte offsets in messages count bytes of the IDX stream
 * itself, i.e. after decompression for gzip files.
 */
public final class IdxReader {
    /** Element type code for unsigned bytes, the only one supported. */
    public static final int TYPE_UBYTE = 0x08;

    private static final int BUF = 1 << 16;
    private static final long MAX_PAYLOAD = Integer.MAX_VALUE - 16;

    private IdxReader() {}

    /** A decoded IDX file: its dimensions and the raw unsigned-byte payload (row-major). */
    public record IdxFile(int[] dims, byte[] data) {
        /** Number of elements, the product of {@link #dims()}. */
        public long elementCount() {
            long n = 1;
            for (int d : dims) n *= d;
            return n;
        }

        @Override
        public String toString() {
            return "IdxFile" + Arrays.toString(dims);
        }
    }

    /** Reads a raw or gzip IDX file. Every failure is a one-line {@link DataException} naming the file. */
    public static IdxFile read(Path file) {
        String name = file.toString();
        if (Files.isDirectory(file)) {
            throw new DataException(name + ": is a directory, expected an IDX file");
        }
        InputStream in;
        try {
            in = Files.newInputStream(file);
        } catch (NoSuchFileException e) {
            throw new DataException(name + ": no such file");
        } catch (AccessDeniedException e) {
            throw new DataException(name + ": permission denied");
        } catch (IOException e) {
            throw new DataException(name + ": cannot open: " + e.getMessage(), e);
        }
        try (in) {
            return read(in, name);
        } catch (IOException e) { // from close()
            throw new DataException(name + ": read error: " + e.getMessage(), e);
        }
    }

    /**
     * Reads a raw or gzip IDX stream; {@code name} is used only in error messages. The stream is read to
     * its end (trailing bytes are an error) but not closed.
     */
    public static IdxFile read(InputStream stream, String name) {
        boolean gzip = false;
        long offset = 0;
        try {
            BufferedInputStream b = new BufferedInputStream(stream, BUF);
            b.mark(2);
            int m0 = b.read(), m1 = b.read();
            b.reset();
            gzip = m0 == 0x1f && m1 == 0x8b;
            InputStream in = gzip ? new GZIPInputStream(b, BUF) : b;

            byte[] magic = new byte[4];
            int got = readFully(in, magic, 0, 4, gzip, 0);
            if (got < 4) {
                throw new DataException(name + ": truncated at byte offset " + got
                        + ", expected a 4-byte IDX magic number" + (got == 0 ? " (empty file)" : ""));
            }
            offset = 4;
            if (magic[0] != 0 || magic[1] != 0) {
                throw new DataException(String.format(
                        "%s: not an IDX file: magic number starts with %02x %02x at byte offset 0, expected 00 00",
                        name, magic[0] & 0xff, magic[1] & 0xff));
            }
            int type = magic[2] & 0xff;
            if (type != TYPE_UBYTE) {
                throw new DataException(String.format(
                        "%s: unsupported IDX element type 0x%02x (%s) at byte offset 2; only 0x08 (unsigned byte) is supported",
                        name, type, typeName(type)));
            }
            int nd = magic[3] & 0xff;
            if (nd == 0) {
                throw new DataException(name + ": IDX header declares 0 dimensions at byte offset 3");
            }
            byte[] dimBytes = new byte[4 * nd];
            got = readFully(in, dimBytes, 0, dimBytes.length, gzip, offset);
            if (got < dimBytes.length) {
                throw new DataException(name + ": truncated at byte offset " + (offset + got) + ", expected "
                        + dimBytes.length + " header bytes for " + nd + " dimension sizes");
            }
            int[] dims = new int[nd];
            long count = 1;
            for (int i = 0; i < nd; i++) {
                int p = 4 * i;
                int d = ((dimBytes[p] & 0xff) << 24) | ((dimBytes[p + 1] & 0xff) << 16)
                        | ((dimBytes[p + 2] & 0xff) << 8) | (dimBytes[p + 3] & 0xff);
                if (d <= 0) {
                    throw new DataException(name + ": dimension " + i + " has size " + Integer.toUnsignedLong(d)
                            + " at byte offset " + (offset + p) + ", expected a positive size <= 2^31-1");
                }
                dims[i] = d;
                count *= d;
                if (count > MAX_PAYLOAD) {
                    throw new DataException(name + ": dimensions " + Arrays.toString(Arrays.copyOf(dims, i + 1))
                            + "... describe more than " + MAX_PAYLOAD + " elements, too large to load");
                }
            }
            offset += dimBytes.length;
            long headerLen = offset;
            byte[] data = readPayload(in, (int) count, gzip, offset);
            got = data.length;
            if (got < count) {
                throw new DataException(name + ": truncated at byte offset " + (headerLen + got) + ", expected "
                        + count + " bytes of " + (nd >= 2 ? "pixel" : "label") + " data after the " + headerLen
                        + "-byte header for dims " + Arrays.toString(dims) + ", found " + got);
            }
            offset += got;
            int extra = in.read();
            if (extra != -1) {
                throw new DataException(name + ": unexpected trailing data at byte offset " + offset
                        + " (header and payload for dims " + Arrays.toString(dims) + " end there)");
            }
            return new IdxFile(dims, data);
        } catch (GzipEndsEarly e) {
            throw new DataException(name + ": gzip stream is truncated or corrupt at decompressed byte offset "
                    + e.offset + " (" + e.getMessage() + ")");
        } catch (ZipException e) {
            throw new DataException(name + ": corrupt gzip stream near decompressed byte offset " + offset + " ("
                    + e.getMessage() + ")");
        } catch (IOException e) {
            throw new DataException(name + ": read error near byte offset " + offset + ": " + e.getMessage(), e);
        }
    }

    /**
     * Writes an unsigned-byte IDX file ({@code gzip} selects compression) atomically via {@link AtomicFile}:
     * the bytes go to a temporary file in the same directory which is then renamed over {@code file}.
     */
    public static void write(Path file, int[] dims, byte[] data, boolean gzip) {
        if (dims.length == 0 || dims.length > 255) {
            throw new IllegalArgumentException("IDX needs 1..255 dimensions, got " + dims.length);
        }
        long count = 1;
        for (int d : dims) {
            if (d <= 0) throw new IllegalArgumentException("non-positive dimension in " + Arrays.toString(dims));
            count *= d;
        }
        if (count != data.length) {
            throw new IllegalArgumentException("dims " + Arrays.toString(dims) + " describe " + count
                    + " elements but data has " + data.length);
        }
        byte[] header = new byte[4 + 4 * dims.length];
        header[2] = TYPE_UBYTE;
        header[3] = (byte) dims.length;
        for (int i = 0; i < dims.length; i++) {
            int d = dims[i], p = 4 + 4 * i;
            header[p] = (byte) (d >>> 24);
            header[p + 1] = (byte) (d >>> 16);
            header[p + 2] = (byte) (d >>> 8);
            header[p + 3] = (byte) d;
        }
        AtomicFile.write(file, out -> {
            if (gzip) {
                try (GZIPOutputStream z = new BestGzip(out)) {
                    z.write(header);
                    z.write(data);
                }
            } else {
                out.write(header);
                out.write(data);
            }
        });
    }

    // ---- helpers -------------------------------------------------------------------------------------

    /** Gzip at the highest compression level (deterministic output for a given zlib). */
    private static final class BestGzip extends GZIPOutputStream {
        BestGzip(OutputStream out) throws IOException {
            super(out, BUF);
            def.setLevel(Deflater.BEST_COMPRESSION);
        }
    }

    private static final class GzipEndsEarly extends IOException {
        private static final long serialVersionUID = 1L;
        final long offset;

        GzipEndsEarly(long offset, String msg) {
            super(msg);
            this.offset = offset;
        }
    }

    /**
     * Reads up to {@code count} bytes, growing the array as the data arrives: a 16-byte header that declares
     * 2 GB of payload costs what the file holds, not 2 GB. Returns fewer bytes only at the end of the stream.
     */
    private static byte[] readPayload(InputStream in, int count, boolean gzip, long base) throws IOException {
        byte[] buf = new byte[Math.min(count, 1 << 20)];
        int got = 0;
        while (true) {
            int r = readFully(in, buf, got, buf.length - got, gzip, base + got);
            got += r;
            if (got < buf.length || got == count) return got == buf.length ? buf : Arrays.copyOf(buf, got);
            buf = Arrays.copyOf(buf, (int) Math.min(count, 2L * buf.length));
        }
    }

    /** Reads up to len bytes; returns the number read (less than len only at end of stream). */
    private static int readFully(InputStream in, byte[] buf, int off, int len, boolean gzip, long base)
            throws IOException {
        int n = 0;
        while (n < len) {
            int r;
            try {
                r = in.read(buf, off + n, len - n);
            } catch (EOFException e) {
                if (gzip) throw new GzipEndsEarly(base + n, e.getMessage());
                throw e;
            }
            if (r < 0) break;
            n += r;
        }
        return n;
    }

    private static String typeName(int type) {
        return switch (type) {
            case 0x08 -> "unsigned byte";
            case 0x09 -> "signed byte";
            case 0x0B -> "int16";
            case 0x0C -> "int32";
            case 0x0D -> "float32";
            case 0x0E -> "float64";
            default -> "unknown";
        };
    }
}
