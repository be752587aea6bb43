package io.sam4j.fuzz;

import io.sam4j.kernels.FlatOps;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import io.sam4j.nn.BatchNorm2d;
import io.sam4j.nn.Context;
import io.sam4j.nn.Conv2d;
import io.sam4j.nn.Flatten;
import io.sam4j.nn.Linear;
import io.sam4j.nn.Model;
import io.sam4j.nn.Sequential;
import io.sam4j.optim.Optimizer;
import io.sam4j.formats.Checkpoint;
import io.sam4j.train.Optimizers;
import io.sam4j.train.TrainConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Scratch files for the file-based parsers, and the small model the checkpoint fuzzer loads into. */
final class FuzzFiles {
    private FuzzFiles() {}

    /** A fresh path in a temporary folder deleted when the JVM exits (a folder if the name has no dot). */
    static Path scratch(String name) {
        try {
            Path dir = Files.createTempDirectory("sam4j-fuzz");
            dir.toFile().deleteOnExit();
            Path p = dir.resolve(name);
            if (!name.contains(".")) Files.createDirectories(p);
            p.toFile().deleteOnExit();
            return p;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** conv 1->2 + BatchNorm (an int64 counter) + linear 32->3, F-SAM over SGD: momentum and EMA buffers. */
    static final class TinyRun {
        static final TinyRun INSTANCE = new TinyRun();
        final Model model;
        final Optimizer opt;

        private TinyRun() {
            Sequential net = new Sequential().add("conv1", new Conv2d(2, 3, 1, 1, false)).add("bn1", new BatchNorm2d(2))
                    .add(null, new Flatten()).add("fc", new Linear(3));
            Context ctx = new Context(new Parallel(1), KernelsProvider.get()); // pure Java: nothing native to load
            model = new Model("tiny", net, new int[] {1, 4, 4}, 3, 0f, ctx);
            model.initialize(1);
            TrainConfig c = new TrainConfig();
            c.optimizer = "fsam";
            opt = Optimizers.create(c, model.store(), new FlatOps(ctx.kernels(), ctx.parallel()));
        }

        long load(Path runDir) {
            return Checkpoint.load(runDir, model.store(), opt, 0);
        }

        void save(Path runDir, long step) {
            Checkpoint.save(runDir, model.store(), opt, step, java.util.Map.of(), 1);
        }
    }
}
