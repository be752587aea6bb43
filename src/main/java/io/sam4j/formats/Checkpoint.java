package io.sam4j.formats;

import io.sam4j.nn.ParameterStore;
import io.sam4j.optim.Optimizer;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A run's resumable state in ONE safetensors file: the model's parameters and buffers under their
 * PyTorch names, every optimizer buffer as {@code optimizer.<buffer>.<param name>} (momentum, F-SAM's
 * EMA, AdamW's moments), and the scalars (step, optimizer counters) in the metadata. The data order
 * needs no RNG state: each epoch's permutation is a pure function of (seed, epoch).
 */
public final class Checkpoint {
    public static final String FILE = "checkpoint.safetensors";
    private static final String PREFIX = "optimizer.";

    private Checkpoint() {}

    public static Path path(Path runDir) {
        return runDir.resolve(FILE);
    }

    /**
     * Writes atomically (temporary file, then rename), with the buffers that differ per data-parallel rank
     * (F-SAM's EMA under local perturbations; empty in a single process): {@code perRank} maps a buffer name to all ranks' copies laid end to end; ranks 1.. are stored as
     * {@code optimizer.<buffer>.rank<r>.<param>} beside rank 0's, which keeps the ordinary name.
     */
    public static void save(Path runDir, ParameterStore store, Optimizer opt, long step, Map<String, MemorySegment> perRank,
                            int ranks) {
        List<SafeTensors.Entry> entries = new ArrayList<>();
        for (ParameterStore.Tensor t : store.allTensors()) entries.add(new SafeTensors.Entry(t.name(), t.shape(), store.slice(t)));
        for (Map.Entry<String, MemorySegment> b : opt.stateBuffers().entrySet()) {
            for (ParameterStore.Tensor t : store.paramTensors()) {
                entries.add(new SafeTensors.Entry(PREFIX + b.getKey() + "." + t.name(), t.shape(), store.stateSlice(b.getValue(), t)));
            }
        }
        for (Map.Entry<String, MemorySegment> b : perRank.entrySet()) {
            for (int r = 1; r < ranks; r++) {
                MemorySegment copy = b.getValue().asSlice(4L * r * store.paramLength(), 4L * store.paramLength());
                for (ParameterStore.Tensor t : store.paramTensors()) {
                    entries.add(new SafeTensors.Entry(PREFIX + b.getKey() + ".rank" + r + "." + t.name(), t.shape(),
                            store.stateSlice(copy, t)));
                }
            }
        }
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", "pt");
        meta.put("producer", "sam4j");
        meta.put("step", Long.toString(step));
        for (Map.Entry<String, String> e : opt.scalars().entrySet()) meta.put(PREFIX + e.getKey(), e.getValue());
        SafeTensors.write(path(runDir), entries, meta);
    }

    /**
     * Loads a checkpoint into the model and optimizer for data-parallel rank {@code rank} (0 in a single
     * process): its own copy of per-rank buffers where the file has one. Returns the step it was taken at.
     */
    public static long load(Path runDir, ParameterStore store, Optimizer opt, int rank) {
        Path file = path(runDir);
        if (!Files.isRegularFile(file)) throw new FormatException(file + ": no such file, no checkpoint to resume from");
        SafeTensors.Loaded loaded = SafeTensors.read(file);
        StateDict.load(store, loaded, file.toString(), name -> name.startsWith(PREFIX));
        for (Map.Entry<String, MemorySegment> b : opt.stateBuffers().entrySet()) {
            for (ParameterStore.Tensor t : store.paramTensors()) {
                String name = PREFIX + b.getKey() + "." + t.name();
                SafeTensors.Tensor v = loaded.tensors().get(PREFIX + b.getKey() + ".rank" + rank + "." + t.name());
                if (v == null) v = loaded.tensors().get(name);
                if (v == null) throw new IllegalArgumentException(file + ": missing optimizer state " + name);
                MemorySegment.copy(v.values(), 0, store.stateSlice(b.getValue(), t), java.lang.foreign.ValueLayout.JAVA_FLOAT, 0,
                        v.values().length);
            }
        }
        Map<String, String> scalars = new LinkedHashMap<>();
        loaded.metadata().forEach((k, v) -> {
            if (k.startsWith(PREFIX)) scalars.put(k.substring(PREFIX.length()), v);
        });
        opt.restoreScalars(scalars);
        String step = loaded.metadata().get("step");
        if (step == null) throw new IllegalArgumentException(file + ": no step in the metadata");
        return Long.parseLong(step);
    }
}
