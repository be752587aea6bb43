package io.sam4j.train;

import io.sam4j.formats.Checkpoint;
import io.sam4j.config.ConfigException;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The output side of a run, checked before any data is loaded: the run folder ({@code --out}, or the one
 * {@code --resume} names) and the {@code --save} file. Every check is a one-line
 * {@link ConfigException} naming the setting (the CLI prints its flag); the folder itself is created only by {@link #create()},
 * once the run is about to start, and {@link #discardIfUnused()} removes what a run that never took a step
 * left there.
 */
public final class RunFolder {
    /** The files a run writes into its folder. */
    static final List<String> RUN_FILES = List.of("config.json", "metrics.jsonl", "sharpness.jsonl", Checkpoint.FILE,
            Trainer.FINAL_WEIGHTS, "best.safetensors", "best.json", "report.html", "metrics.csv", "steps.csv", Trainer.DIVERGED);

    private final Path dir;
    private final boolean resume;
    private final boolean overwrite;
    private final List<Path> createdDirs = new ArrayList<>();
    private boolean created;

    private RunFolder(Path dir, boolean resume, boolean overwrite) {
        this.dir = dir;
        this.resume = resume;
        this.overwrite = overwrite;
    }

    /**
     * Checks the outputs of {@code c}: the run folder {@code c.out} (a fresh default name when null) and
     * {@code c.save}. A new run refuses a non-empty folder unless {@code overwrite}; a resumed one needs its
     * folder. Nothing is created.
     */
    public static RunFolder check(TrainConfig c, boolean resume, boolean overwrite) {
        Path dir = c.out != null ? c.out : defaultDir(c);
        String flag = resume ? "{resume}" : "{out}";
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new ConfigException(flag + " " + dir + ": exists and is not a folder");
        }
        if (resume) {
            if (!Files.isDirectory(dir)) throw new ConfigException("{resume} " + dir + ": no such run folder");
            probeWritable(flag + " " + dir, dir);
        } else {
            if (!overwrite && !isEmpty(dir)) {
                throw new ConfigException("{out} " + dir + ": not empty (a previous run?); continue it with --resume "
                        + dir + ", or replace it with --overwrite");
            }
            Path existing = nearestExisting(dir);
            if (!Files.isDirectory(existing)) {
                throw new ConfigException("{out} " + dir + ": cannot create it, " + existing + " is not a folder");
            }
            probeWritable("{out} " + dir, existing);
        }
        if (c.save != null) checkOutputFile("save", c.save);
        return new RunFolder(dir, resume, overwrite);
    }

    /** An output file path for the setting {@code field}: not a folder, in an existing folder we can create files in. */
    public static void checkOutputFile(String field, Path file) {
        String flag = "{" + field + "}";
        if (Files.isDirectory(file)) throw new ConfigException(flag + " " + file + ": is a folder, expected a file name");
        Path parent = file.toAbsolutePath().getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            throw new ConfigException(flag + " " + file + ": folder " + parent + " does not exist");
        }
        probeWritable(flag + " " + file, parent);
    }

    public Path dir() {
        return dir;
    }

    /** Creates the folder (and missing parents); with --overwrite, removes the previous run's files. */
    public void create() {
        try {
            Path existing = nearestExisting(dir);
            for (Path p = dir; p != null && !p.equals(existing); p = p.getParent()) createdDirs.addFirst(p);
            Files.createDirectories(dir);
            if (overwrite && !resume) {
                for (String f : RUN_FILES) Files.deleteIfExists(dir.resolve(f));
            }
            if (resume) Files.deleteIfExists(dir.resolve(Trainer.DIVERGED)); // going on: a new divergence is recorded anew
            // A process killed while writing leaves its temporary file (see AtomicFile); the real file is intact.
            try (DirectoryStream<Path> stale = Files.newDirectoryStream(dir, RunFolder::isStaleTemporary)) {
                for (Path t : stale) Files.deleteIfExists(t);
            }
            created = true;
        } catch (IOException e) {
            throw new ConfigException("{out} " + dir + ": cannot create it: " + reason(e));
        }
    }

    /**
     * For a new run that fails before its first step: removes the files it wrote and the folders it created,
     * so that a run that never started leaves nothing behind. A resumed run's folder is never touched.
     */
    public void discardIfUnused() {
        if (!created || resume) return;
        try {
            for (String f : RUN_FILES) Files.deleteIfExists(dir.resolve(f));
            for (Path p : createdDirs.reversed()) {
                if (isEmpty(p)) Files.deleteIfExists(p);
            }
        } catch (IOException ignored) {
            // best effort: the error being reported matters more
        }
    }

    private static Path defaultDir(TrainConfig c) {
        String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        String opt = c.optimizer + (c.stable ? "-stable" : "") + (c.adaptive ? "-adaptive" : "");
        Path dir = Path.of("runs", stamp + "-" + c.model + "-" + opt);
        for (int i = 2; Files.exists(dir); i++) dir = Path.of("runs", stamp + "-" + c.model + "-" + opt + "-" + i);
        return dir;
    }

    /** No files in it but, perhaps, the temporary files of a run killed while writing (see {@link #isStaleTemporary}). */
    private static boolean isEmpty(Path dir) {
        if (!Files.isDirectory(dir)) return true;
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, f -> !isStaleTemporary(f))) {
            return !s.iterator().hasNext();
        } catch (IOException e) {
            return false;
        }
    }

    /** {@code .<run file>.<random>.tmp}: what AtomicFile leaves when the process dies in the middle of a write. */
    private static boolean isStaleTemporary(Path f) {
        String n = f.getFileName().toString();
        return n.endsWith(".tmp") && RUN_FILES.stream().anyMatch(r -> n.startsWith("." + r + "."));
    }

    private static Path nearestExisting(Path p) {
        Path a = p.toAbsolutePath();
        while (a != null && !Files.exists(a)) a = a.getParent();
        return a == null ? Path.of("/") : a;
    }

    /** Creates and deletes a hidden file in {@code dir}: the only sure test that we can write there. */
    private static void probeWritable(String what, Path dir) {
        Path probe = dir.resolve(".sam4j-probe-" + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 1));
        try {
            Files.createFile(probe);
            Files.delete(probe);
        } catch (IOException e) {
            throw new ConfigException(what + ": cannot write in " + dir + ": " + reason(e));
        }
    }

    static String reason(IOException e) {
        String r = e.getClass().getSimpleName().replace("Exception", "");
        String m = e.getMessage();
        if (e instanceof java.nio.file.FileSystemException f && f.getReason() != null) return f.getReason();
        return switch (r) {
            case "AccessDenied" -> "permission denied";
            case "NoSuchFile" -> "no such file or folder";
            case "FileAlreadyExists" -> "a file of that name exists";
            default -> m != null ? m : r;
        };
    }
}
