package io.sam4j.formats;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Reads and writes the <a href="https://github.com/huggingface/safetensors">safetensors</a> format.
 *
 * <p>File layout: an unsigned little-endian 64-bit header length n; n bytes of UTF-8 JSON
 * {@code {"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
 * ...}} (the metadata entry optional), padded with spaces to a multiple of 8 like the reference
 * implementation; then the data section, in which {@code [begin, end)} are byte offsets. Tensor data is
 * little-endian and row-major; the tensors must tile the data section exactly (no gaps, no overlap, nothing
 * after the last one), as the reference reader requires.
 *
 * <p>{@link #write} emits compact JSON: {@code __metadata__} first (omitted when the map is null or empty)
 * with its keys sorted, then the tensors in list order with {@code dtype}, {@code shape}, {@code data_offsets}
 * in that order, data laid out in the same order. (The reference writer sorts tensors by dtype then name; any
 * order is valid.) Sorted metadata makes the bytes a function of the content: identical state, identical file.
 * Data is written as {@code F32}, or {@code I64} for {@link Entry#int64 int64 entries}.
 *
 * <p>{@link #read} accepts F32, F64, F16 and BF16 (converted to float) and I64, I32, I16, I8, U8 and BOOL
 * (kept exactly in {@link Tensor#integers()}, and converted to float as well); other dtypes are reported by
 * name. Every failure is a one-line {@link FormatException} starting with the file name.
 */
public final class SafeTensors {
    /** The reference implementation's header limit (100 MB). */
    public static final long MAX_HEADER_BYTES = 100_000_000L;
    public static final String METADATA_KEY = "__metadata__";

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64_LE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32_NATIVE = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfLong I64_NATIVE = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final int CHUNK = 1 << 18;

    private SafeTensors() {}

    /**
     * A tensor to write.
     *
     * @param name  unique, non-empty, not {@code __metadata__}
     * @param dtype {@code F32} or {@code I64}
     * @param shape dimensions, each {@code >= 0}; {@code []} is a scalar
     * @param data  the elements in native byte order, exactly {@code 4 * prod(shape)} bytes for F32 and
     *              {@code 8 * prod(shape)} for I64 (any segment kind)
     */
    public record Entry(String name, String dtype, long[] shape, MemorySegment data) {
        public Entry {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(dtype, "dtype");
            Objects.requireNonNull(shape, "shape");
            Objects.requireNonNull(data, "data");
            if (name.isEmpty() || name.equals(METADATA_KEY)) {
                throw new IllegalArgumentException("invalid tensor name '" + name + "'");
            }
            if (!dtype.equals("F32") && !dtype.equals("I64")) {
                throw new IllegalArgumentException("tensor '" + name + "': cannot write dtype " + dtype + " (F32 or I64)");
            }
            long n = elementCount(shape, name);
            int es = elementSize(dtype);
            if (data.byteSize() != es * n) {
                throw new IllegalArgumentException("tensor '" + name + "' of shape " + Arrays.toString(shape)
                        + " needs " + es * n + " bytes of " + dtype + " data, segment has " + data.byteSize());
            }
        }

        /** A float32 tensor. */
        public Entry(String name, long[] shape, MemorySegment data) {
            this(name, "F32", shape, data);
        }

        /** An int64 tensor (native-order longs). */
        public static Entry int64(String name, long[] shape, MemorySegment data) {
            return new Entry(name, "I64", shape, data);
        }

        /** Wraps a float array (no copy). */
        public static Entry of(String name, float[] values, long... shape) {
            return new Entry(name, shape, MemorySegment.ofArray(values));
        }
    }

    /**
     * A tensor read from a file, converted to float.
     *
     * @param dtype    the dtype stored in the file (F32, F64, F16, BF16, I64, I32, I16, I8, U8 or BOOL)
     * @param shape    its dimensions
     * @param values   {@code prod(shape)} values, row-major
     * @param integers for integer and BOOL dtypes the exact values (BOOL as 0/1), else null
     */
    public record Tensor(String dtype, long[] shape, float[] values, long[] integers) {
        public Tensor(String dtype, long[] shape, float[] values) {
            this(dtype, shape, values, null);
        }

        public long elementCount() {
            return values.length;
        }

        public boolean isInteger() {
            return integers != null;
        }
    }

    /** A file's string metadata and its tensors, both in file order; maps are unmodifiable. */
    public record Loaded(Map<String, String> metadata, Map<String, Tensor> tensors) {
        /** The tensor called {@code name}, or a FormatException naming it. */
        public Tensor tensor(String name) {
            Tensor t = tensors.get(name);
            if (t == null) throw new FormatException("no tensor named '" + name + "' (have " + tensors.keySet() + ")");
            return t;
        }
    }

    // ---- writing -----------------------------------------------------------------------------------------

    /**
     * Writes {@code entries} (as F32) and {@code metadata} (may be null) to {@code file} via
     * {@link AtomicFile}: the bytes go to a temporary file in the same directory, which is synced and then
     * renamed over {@code file}, so readers never see a half-written file and a failed write leaves any
     * previous file intact.
     */
    public static void write(Path file, List<Entry> entries, Map<String, String> metadata) {
        byte[] header = headerBytes(entries, metadata);
        AtomicFile.write(file, out -> {
            byte[] len = new byte[8];
            MemorySegment.ofArray(len).set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0,
                    header.length);
            out.write(len);
            out.write(header);
            byte[] buf = new byte[CHUNK];
            MemorySegment stage = MemorySegment.ofArray(buf);
            for (Entry e : entries) {
                boolean f32 = e.dtype().equals("F32");
                int es = f32 ? 4 : 8;
                long n = e.data().byteSize() / es, done = 0;
                while (done < n) {
                    int k = (int) Math.min(n - done, CHUNK / es);
                    if (f32) MemorySegment.copy(e.data(), F32_NATIVE, done * 4, stage, F32_LE, 0, k);
                    else MemorySegment.copy(e.data(), I64_NATIVE, done * 8, stage, I64_LE, 0, k);
                    out.write(buf, 0, es * k);
                    done += k;
                }
            }
        });
    }

    /** The padded JSON header {@link #write} emits for these entries (without the 8-byte length). */
    static byte[] headerBytes(List<Entry> entries, Map<String, String> metadata) {
        ObjectNode root = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode m = root.putObject(METADATA_KEY);
            new java.util.TreeMap<>(metadata).forEach((k, v) -> m.put(Objects.requireNonNull(k, "metadata key"),
                    Objects.requireNonNull(v, () -> "metadata value for " + k)));
        }
        Set<String> seen = new HashSet<>();
        long offset = 0;
        for (Entry e : entries) {
            if (!seen.add(e.name())) throw new IllegalArgumentException("duplicate tensor name '" + e.name() + "'");
            ObjectNode t = root.putObject(e.name());
            t.put("dtype", e.dtype());
            ArrayNode shape = t.putArray("shape");
            for (long d : e.shape()) shape.add(d);
            long end = offset + e.data().byteSize();
            t.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json;
        try {
            json = JSON.writeValueAsBytes(root);
        } catch (JsonProcessingException ex) {
            throw new IllegalStateException("cannot serialise safetensors header", ex);
        }
        int padded = (json.length + 7) & ~7;
        byte[] out = Arrays.copyOf(json, padded);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    private static void writeAll(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }

    // ---- reading -----------------------------------------------------------------------------------------

    /** Reads a safetensors file fully into memory, converting every tensor to float. */
    public static Loaded read(Path file) {
        if (Files.isDirectory(file)) throw new FormatException(file + ": is a directory, expected a safetensors file");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
            long size = ch.size();
            if (size < 8) {
                throw new FormatException(file + ": truncated: " + size + " bytes, a safetensors file starts with an "
                        + "8-byte header length");
            }
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            return parse(seg, file.toString());
        } catch (NoSuchFileException e) {
            throw new FormatException(file + ": no such file");
        } catch (AccessDeniedException e) {
            throw new FormatException(file + ": permission denied");
        } catch (IOException e) {
            throw new FormatException(file + ": read error: " + e.getMessage(), e);
        }
    }

    /** Parses a whole safetensors image held in memory; {@code name} is used in messages. */
    public static Loaded read(byte[] bytes, String name) {
        return parse(MemorySegment.ofArray(bytes), name);
    }

    private record Info(String name, String dtype, long[] shape, long begin, long end) {}

    private static Loaded parse(MemorySegment seg, String file) {
        long size = seg.byteSize();
        if (size < 8) {
            throw new FormatException(file + ": truncated: " + size + " bytes, a safetensors file starts with an "
                    + "8-byte header length");
        }
        long n = seg.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (n < 2 || n > MAX_HEADER_BYTES) {
            throw new FormatException(file + ": header length " + Long.toUnsignedString(n) + " at byte offset 0 is "
                    + "not plausible (expected 2.." + MAX_HEADER_BYTES + "); not a safetensors file?");
        }
        if (8 + n > size) {
            throw new FormatException(file + ": truncated: header length " + n + " needs " + (8 + n)
                    + " bytes but the file has " + size);
        }
        byte[] hb = seg.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE);
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(hb)).toString();
        } catch (CharacterCodingException e) {
            throw new FormatException(file + ": header (bytes 8.." + (8 + n) + ") is not valid UTF-8");
        }
        if (!text.startsWith("{")) {
            throw new FormatException(file + ": header at byte offset 8 does not start with '{'; not a safetensors file?");
        }
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new FormatException(file + ": header is not valid JSON: " + oneLine(e.getOriginalMessage())
                    + " (header line " + lineCol(e) + ")");
        }
        if (root == null || !root.isObject()) {
            throw new FormatException(file + ": header is not a JSON object");
        }
        long dataStart = 8 + n, dataLen = size - dataStart;

        Map<String, String> metadata = new LinkedHashMap<>();
        List<Info> infos = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            String key = f.getKey();
            JsonNode v = f.getValue();
            if (key.equals(METADATA_KEY)) {
                if (!v.isObject()) throw new FormatException(file + ": " + METADATA_KEY + " is not a JSON object");
                for (Iterator<Map.Entry<String, JsonNode>> m = v.fields(); m.hasNext(); ) {
                    Map.Entry<String, JsonNode> kv = m.next();
                    if (!kv.getValue().isTextual()) {
                        throw new FormatException(file + ": " + METADATA_KEY + " value for '" + kv.getKey()
                                + "' is not a string");
                    }
                    metadata.put(kv.getKey(), kv.getValue().textValue());
                }
                continue;
            }
            infos.add(info(file, key, v));
        }

        // Offsets must tile [0, dataLen) exactly, as the reference reader requires.
        List<Info> byOffset = new ArrayList<>(infos);
        byOffset.sort((a, b) -> a.begin != b.begin ? Long.compare(a.begin, b.begin) : Long.compare(a.end, b.end));
        long expect = 0;
        for (Info t : byOffset) {
            if (t.begin != expect) {
                throw new FormatException(file + ": tensor '" + t.name + "' data_offsets [" + t.begin + ", " + t.end
                        + "] " + (t.begin > expect ? "leave a gap after" : "overlap") + " data byte " + expect);
            }
            if (t.end > dataLen) {
                throw new FormatException(file + ": truncated: tensor '" + t.name + "' data_offsets [" + t.begin
                        + ", " + t.end + "] end past the " + dataLen + "-byte data section (file byte offset "
                        + (dataStart + t.end) + " > file size " + size + ")");
            }
            expect = t.end;
        }
        if (expect != dataLen) {
            throw new FormatException(file + ": data section has " + dataLen + " bytes but the tensors cover "
                    + expect + " (trailing bytes from file offset " + (dataStart + expect) + ")");
        }

        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Info t : infos) {
            tensors.put(t.name, tensor(seg, dataStart + t.begin, t, file));
        }
        return new Loaded(Collections.unmodifiableMap(metadata), Collections.unmodifiableMap(tensors));
    }

    private static Info info(String file, String name, JsonNode v) {
        String where = file + ": tensor '" + name + "'";
        if (!v.isObject()) throw new FormatException(where + ": entry is not a JSON object");
        JsonNode dt = v.get("dtype"), sh = v.get("shape"), off = v.get("data_offsets");
        if (dt == null || !dt.isTextual()) throw new FormatException(where + ": missing or non-string \"dtype\"");
        if (sh == null || !sh.isArray()) throw new FormatException(where + ": missing or non-array \"shape\"");
        if (off == null || !off.isArray() || off.size() != 2) {
            throw new FormatException(where + ": \"data_offsets\" must be an array [begin, end]");
        }
        long[] shape = new long[sh.size()];
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.canConvertToExactIntegral() || !d.canConvertToLong() || d.asLong() < 0) {
                throw new FormatException(where + ": shape " + sh + " has an invalid dimension " + d);
            }
            shape[i] = d.asLong();
        }
        long[] be = new long[2];
        for (int i = 0; i < 2; i++) {
            JsonNode d = off.get(i);
            if (!d.canConvertToExactIntegral() || !d.canConvertToLong() || d.asLong() < 0) {
                throw new FormatException(where + ": data_offsets " + off + " are not non-negative integers");
            }
            be[i] = d.asLong();
        }
        if (be[1] < be[0]) throw new FormatException(where + ": data_offsets " + off + " end before they begin");
        String dtype = dt.textValue();
        int es = elementSize(dtype);
        if (es < 0) throw new FormatException(where + ": unknown dtype \"" + dtype + "\"");
        long count;
        try {
            count = elementCount(shape, name);
            if (Math.multiplyHigh(count, es) != 0 || count * es < 0) throw new ArithmeticException();
        } catch (IllegalArgumentException | ArithmeticException ex) {
            throw new FormatException(where + ": shape " + Arrays.toString(shape) + " is too large");
        }
        if (count * es != be[1] - be[0]) {
            throw new FormatException(where + ": shape " + Arrays.toString(shape) + " x " + dtype + " is " + count * es
                    + " bytes but data_offsets " + off + " span " + (be[1] - be[0]));
        }
        return new Info(name, dtype, shape, be[0], be[1]);
    }

    private static Tensor tensor(MemorySegment seg, long pos, Info t, String file) {
        long count = (t.end - t.begin) / Math.max(1, elementSize(t.dtype));
        if (!isFloatType(t.dtype) && !isIntegerType(t.dtype)) {
            throw new FormatException(file + ": tensor '" + t.name + "' has unsupported dtype " + t.dtype
                    + " (supported: F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
        }
        if (count > Integer.MAX_VALUE - 16) {
            throw new FormatException(file + ": tensor '" + t.name + "' has " + count + " elements, too many for a float[]");
        }
        int c = (int) count;
        float[] out = new float[c];
        if (isIntegerType(t.dtype)) {
            long[] ints = integers(seg, pos, t, c, file);
            for (int i = 0; i < c; i++) out[i] = ints[i];
            return new Tensor(t.dtype, t.shape, out, ints);
        }
        switch (t.dtype) {
            case "F32" -> MemorySegment.copy(seg, F32_LE, pos, out, 0, c);
            case "F64" -> {
                for (int i = 0; i < c; i++) out[i] = (float) seg.get(F64_LE, pos + 8L * i);
            }
            case "F16" -> {
                for (int i = 0; i < c; i++) out[i] = Float.float16ToFloat(seg.get(I16_LE, pos + 2L * i));
            }
            case "BF16" -> {
                for (int i = 0; i < c; i++) out[i] = Float.intBitsToFloat((seg.get(I16_LE, pos + 2L * i) & 0xffff) << 16);
            }
            default -> throw new AssertionError(t.dtype);
        }
        return new Tensor(t.dtype, t.shape, out);
    }

    private static long[] integers(MemorySegment seg, long pos, Info t, int c, String file) {
        long[] v = new long[c];
        switch (t.dtype) {
            case "I64" -> MemorySegment.copy(seg, I64_LE, pos, v, 0, c);
            case "I32" -> {
                for (int i = 0; i < c; i++) v[i] = seg.get(I32_LE, pos + 4L * i);
            }
            case "I16" -> {
                for (int i = 0; i < c; i++) v[i] = seg.get(I16_LE, pos + 2L * i);
            }
            case "I8" -> {
                for (int i = 0; i < c; i++) v[i] = seg.get(ValueLayout.JAVA_BYTE, pos + i);
            }
            case "U8" -> {
                for (int i = 0; i < c; i++) v[i] = seg.get(ValueLayout.JAVA_BYTE, pos + i) & 0xff;
            }
            case "BOOL" -> {
                for (int i = 0; i < c; i++) {
                    byte b = seg.get(ValueLayout.JAVA_BYTE, pos + i);
                    if (b != 0 && b != 1) {
                        throw new FormatException(file + ": tensor '" + t.name + "' (BOOL) has byte " + (b & 0xff)
                                + " at element " + i + ", expected 0 or 1");
                    }
                    v[i] = b;
                }
            }
            default -> throw new AssertionError(t.dtype);
        }
        return v;
    }

    private static boolean isFloatType(String dtype) {
        return switch (dtype) {
            case "F32", "F64", "F16", "BF16" -> true;
            default -> false;
        };
    }

    private static boolean isIntegerType(String dtype) {
        return switch (dtype) {
            case "I64", "I32", "I16", "I8", "U8", "BOOL" -> true;
            default -> false;
        };
    }

    /** Bytes per element of a safetensors dtype, -1 if unknown (sub-byte types are treated as unknown). */
    private static int elementSize(String dtype) {
        return switch (dtype) {
            case "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0" -> 1;
            case "I16", "U16", "F16", "BF16" -> 2;
            case "I32", "U32", "F32" -> 4;
            case "I64", "U64", "F64", "C64" -> 8;
            default -> -1;
        };
    }

    private static long elementCount(long[] shape, String name) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw new IllegalArgumentException("tensor '" + name + "' has negative dimension in "
                    + Arrays.toString(shape));
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    private static String oneLine(String s) {
        if (s == null) return "parse error";
        return s.replaceAll("\\s+", " ").trim();
    }

    private static String lineCol(JsonProcessingException e) {
        var loc = e.getLocation();
        return loc == null ? "?" : loc.getLineNr() + ", column " + loc.getColumnNr();
    }
}
