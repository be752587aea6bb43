package io.sam4j.formats;

import java.io.BufferedOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Replaces a file all at once: the content goes to {@code .<name>.<random>.tmp} in the same directory
 * (created with the default permissions, like any new file), is flushed and fsynced, and is then renamed
 * over the target (an atomic rename where the file system supports it). Readers see either the old file or
 * the complete new one; on any failure the temporary file is deleted and the old file is left untouched.
 */
public final class AtomicFile {
    private AtomicFile() {}

    /** Produces the file's content. Closing the stream it is given is allowed and harmless. */
    @FunctionalInterface
    public interface Content {
        void writeTo(OutputStream out) throws IOException;
    }

    /**
     * Writes {@code file} atomically.
     *
     * @throws FormatException one line naming the file if anything fails
     */
    public static void write(Path file, Content content) {
        Path abs = file.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new FormatException(file + ": cannot write, directory " + dir + " does not exist");
        }
        Path tmp = null;
        try {
            FileChannel ch = null;
            for (int attempt = 0; ch == null; attempt++) {
                tmp = dir.resolve("." + abs.getFileName() + "."
                        + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 1) + ".tmp");
                try {
                    ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                } catch (FileAlreadyExistsException e) {
                    tmp = null;
                    if (attempt > 100) throw e;
                }
            }
            try (FileChannel c = ch; OutputStream os = new BufferedOutputStream(Channels.newOutputStream(c), 1 << 16)) {
                content.writeTo(new FilterOutputStream(os) {
                    @Override
                    public void write(byte[] b, int off, int len) throws IOException {
                        out.write(b, off, len);
                    }

                    @Override
                    public void close() throws IOException {
                        flush(); // keep the channel open for force() below
                    }
                });
                os.flush();
                c.force(true);
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
        } catch (NoSuchFileException e) {
            throw new FormatException(file + ": cannot write, " + e.getFile() + " does not exist");
        } catch (IOException e) {
            throw new FormatException(file + ": write failed: " + e, e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // best effort; nothing else to do
                }
            }
        }
    }
}
