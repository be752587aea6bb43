package io.sam4j.data;

import io.sam4j.formats.AtomicFile;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * Reads and writes the binary versions of CIFAR-10 and CIFAR-100 ({@code cifar-10-binary.tar.gz},
 * {@code cifar-100-binary.tar.gz}; the Python pickle versions are not supported).
 *
 * <p>A file is a plain sequence of fixed-size records without header. A CIFAR-10 record is 1 label byte
 * (0..9) followed by 3072 pixel bytes; a CIFAR-100 record is a coarse label byte (0..19), a fine label byte
 * (0..99) and the 3072 pixel bytes; sam4j uses the fine label. The pixels are the 1024 red, then the 1024
 * green, then the 1024 blue values of a 32x32 image, each plane row-major: exactly the CHW layout of
 * {@link Dataset}, so they are copied unchanged.
 *
 * <p>Validation, with one-line {@link DataException}s naming the file: the file size must be a positive
 * multiple of the record size (otherwise the message gives the byte offset of the incomplete record), and
 * every label must be in range (the message gives the record index, its byte offset and the value).
 */
public final class CifarReader {
    public static final int CHANNELS = 3, HEIGHT = 32, WIDTH = 32;
    /** Pixel bytes per image, {@code 3*32*32}. */
    public static final int IMAGE_BYTES = CHANNELS * HEIGHT * WIDTH;
    /** CIFAR-100's coarse labels (superclasses) are 0..19. */
    public static final int CIFAR100_COARSE_CLASSES = 20;

    private static final int CHUNK_RECORDS = 512;
    private static final long MAX_PIXELS = Integer.MAX_VALUE - 16;

    private CifarReader() {}

    /** The two binary formats, with the file names of their distributions. */
    public enum Kind {
        CIFAR10("CIFAR-10", 1, 10, "cifar-10-batches-bin",
                List.of("data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                        "data_batch_5.bin"),
                List.of("test_batch.bin")),
        CIFAR100("CIFAR-100", 2, 100, "cifar-100-binary", List.of("train.bin"), List.of("test.bin"));

        private final String display;
        private final int labelBytes, numClasses;
        private final String subfolder;
        private final List<String> trainFiles, testFiles;

        Kind(String display, int labelBytes, int numClasses, String subfolder, List<String> trainFiles,
             List<String> testFiles) {
            this.display = display;
            this.labelBytes = labelBytes;
            this.numClasses = numClasses;
            this.subfolder = subfolder;
            this.trainFiles = trainFiles;
            this.testFiles = testFiles;
        }

        /** "CIFAR-10" or "CIFAR-100". */
        public String displayName() { return display; }

        /** Label bytes before the pixels: 1 (CIFAR-10) or 2 (coarse, fine: CIFAR-100). */
        public int labelBytes() { return labelBytes; }

        /** Bytes per record: 3073 or 3074. */
        public int recordBytes() { return labelBytes + IMAGE_BYTES; }

        /** Classes of the label sam4j uses: 10, or CIFAR-100's 100 fine classes. */
        public int numClasses() { return numClasses; }

        /** The folder the official archive extracts to: {@code cifar-10-batches-bin} or {@code cifar-100-binary}. */
        public String subfolder() { return subfolder; }

        /** Training files, in the order their records are concatenated. */
        public List<String> trainFiles() { return trainFiles; }

        /** Test files. */
        public List<String> testFiles() { return testFiles; }

        /** A human list of the files, e.g. {@code data_batch_1.bin .. data_batch_5.bin and test_batch.bin}. */
        public String describeFiles() {
            String train = trainFiles.size() == 1 ? trainFiles.getFirst()
                    : trainFiles.getFirst() + " .. " + trainFiles.getLast();
            return train + " and " + String.join(", ", testFiles);
        }
    }

    /** Reads one file as a data set. */
    public static Dataset read(Kind kind, Path file, String name) {
        return read(kind, List.of(file), name);
    }

    /**
     * Reads the records of all {@code files}, concatenated in the given order, as one data set of
     * {@code 3x32x32} images with {@link Kind#numClasses()} classes.
     *
     * @throws DataException one line naming the offending file
     */
    public static Dataset read(Kind kind, List<Path> files, String name) {
        Objects.requireNonNull(kind);
        int rec = kind.recordBytes();
        long[] counts = new long[files.size()];
        long total = 0;
        for (int f = 0; f < files.size(); f++) {
            Path file = files.get(f);
            long size = size(file);
            if (size == 0) {
                throw new DataException(file + ": empty file, expected " + kind.displayName() + " records of "
                        + rec + " bytes");
            }
            if (size % rec != 0) {
                long full = size / rec;
                throw new DataException(file + ": truncated at byte offset " + full * rec + ": record " + full
                        + " has only " + size % rec + " of " + rec + " bytes (the file size " + size
                        + " is not a multiple of the " + rec + "-byte " + kind.displayName() + " record)");
            }
            counts[f] = size / rec;
            total += counts[f];
        }
        if (total * IMAGE_BYTES > MAX_PIXELS) {
            throw new DataException(files.getFirst() + ": " + total + " " + kind.displayName()
                    + " records are too many to load into one array");
        }
        int n = (int) total;
        byte[] pixels = new byte[n * IMAGE_BYTES];
        int[] labels = new int[n];
        int next = 0;
        for (int f = 0; f < files.size(); f++) {
            readFile(kind, files.get(f), counts[f], pixels, labels, next);
            next += (int) counts[f];
        }
        return Dataset.of(name, CHANNELS, HEIGHT, WIDTH, kind.numClasses(), pixels, labels);
    }

    private static long size(Path file) {
        if (Files.isDirectory(file)) {
            throw new DataException(file + ": is a directory, expected a CIFAR binary file");
        }
        try {
            return Files.size(file);
        } catch (NoSuchFileException e) {
            throw new DataException(file + ": no such file");
        } catch (AccessDeniedException e) {
            throw new DataException(file + ": permission denied");
        } catch (IOException e) {
            throw new DataException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    private static void readFile(Kind kind, Path file, long count, byte[] pixels, int[] labels, int first) {
        int rec = kind.recordBytes(), lb = kind.labelBytes();
        byte[] buf = new byte[CHUNK_RECORDS * rec];
        long done = 0;
        try (InputStream in = Files.newInputStream(file)) {
            while (done < count) {
                int want = (int) Math.min(CHUNK_RECORDS, count - done);
                int got = in.readNBytes(buf, 0, want * rec);
                if (got < want * rec) { // the file shrank after we sized it
                    long off = done * rec + got;
                    throw new DataException(file + ": truncated at byte offset " + (off - off % rec) + ": record "
                            + (off / rec) + " is incomplete (the file ended while reading)");
                }
                for (int r = 0; r < want; r++) {
                    long index = done + r;
                    int p = r * rec;
                    if (lb == 2) {
                        int coarse = buf[p] & 0xff;
                        if (coarse >= CIFAR100_COARSE_CLASSES) {
                            throw badLabel(file, "coarse label", index, index * rec, coarse, CIFAR100_COARSE_CLASSES);
                        }
                    }
                    int label = buf[p + lb - 1] & 0xff;
                    if (label >= kind.numClasses()) {
                        throw badLabel(file, lb == 2 ? "fine label" : "label", index, index * rec + lb - 1, label,
                                kind.numClasses());
                    }
                    int dst = first + (int) index;
                    labels[dst] = label;
                    System.arraycopy(buf, p + lb, pixels, dst * IMAGE_BYTES, IMAGE_BYTES);
                }
                done += want;
            }
        } catch (NoSuchFileException e) {
            throw new DataException(file + ": no such file");
        } catch (AccessDeniedException e) {
            throw new DataException(file + ": permission denied");
        } catch (IOException e) {
            throw new DataException(file + ": read error near byte offset " + done * rec + ": " + e.getMessage(), e);
        }
    }

    private static DataException badLabel(Path file, String what, long record, long offset, int value, int classes) {
        return new DataException(file + ": " + what + " of record " + record + " (byte offset " + offset + ") is "
                + value + ", expected 0.." + (classes - 1));
    }

    /**
     * Writes {@code labels.length} records in the official layout, atomically via {@link AtomicFile}.
     * {@code pixels} holds {@code 3*32*32} CHW bytes per image. For CIFAR-100, {@code coarseOrNull} gives the
     * coarse labels (null writes 0); for CIFAR-10 it must be null.
     *
     * @throws IllegalArgumentException if the sizes disagree or a label is out of range
     */
    public static void write(Kind kind, Path file, byte[] pixels, int[] labels, int[] coarseOrNull) {
        int n = labels.length;
        if ((long) n * IMAGE_BYTES != pixels.length) {
            throw new IllegalArgumentException(n + " labels need " + (long) n * IMAGE_BYTES + " pixel bytes, got "
                    + pixels.length);
        }
        if (coarseOrNull != null && (kind != Kind.CIFAR100 || coarseOrNull.length != n)) {
            throw new IllegalArgumentException("coarse labels are for CIFAR-100 only, one per image");
        }
        int rec = kind.recordBytes(), lb = kind.labelBytes();
        byte[] out = new byte[Math.multiplyExact(n, rec)];
        for (int i = 0; i < n; i++) {
            if (labels[i] < 0 || labels[i] >= kind.numClasses()) {
                throw new IllegalArgumentException("label " + labels[i] + " at index " + i + " is outside 0.."
                        + (kind.numClasses() - 1));
            }
            int coarse = coarseOrNull == null ? 0 : coarseOrNull[i];
            if (coarse < 0 || coarse >= CIFAR100_COARSE_CLASSES) {
                throw new IllegalArgumentException("coarse label " + coarse + " at index " + i + " is outside 0..19");
            }
            int p = i * rec;
            if (lb == 2) out[p] = (byte) coarse;
            out[p + lb - 1] = (byte) labels[i];
            System.arraycopy(pixels, i * IMAGE_BYTES, out, p + lb, IMAGE_BYTES);
        }
        AtomicFile.write(file, o -> o.write(out));
    }
}
