package io.sam4j.formats;

import io.sam4j.nn.ParameterStore;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A model's parameters and buffers as a safetensors file with PyTorch state_dict names and shapes. */
public final class StateDict {
    private StateDict() {}

    /** Writes every parameter and buffer of the store (atomically). */
    public static void save(ParameterStore store, Path file) {
        save(store, file, Map.of());
    }

    public static void save(ParameterStore store, Path file, Map<String, String> metadata) {
        List<SafeTensors.Entry> entries = new ArrayList<>();
        for (ParameterStore.Tensor t : store.allTensors()) entries.add(new SafeTensors.Entry(t.name(), t.shape(), store.slice(t)));
        Map<String, String> meta = new LinkedHashMap<>(metadata);
        meta.putIfAbsent("format", "pt");
        meta.putIfAbsent("producer", "sam4j");
        SafeTensors.write(file, entries, meta);
    }

    /**
     * Loads a file into the store. Every tensor of the model must be present with its shape, and the
     * file must hold nothing else: otherwise one error lists all the mismatches.
     */
    public static void load(ParameterStore store, Path file) {
        load(store, SafeTensors.read(file), file.toString(), name -> false);
    }

    /** As {@link #load(ParameterStore, Path)} from a file already read; names that {@code extra} accepts are skipped. */
    public static void load(ParameterStore store, SafeTensors.Loaded loaded, String file,
                            java.util.function.Predicate<String> extra) {
        Map<String, SafeTensors.Tensor> found = loaded.tensors();
        List<String> problems = new ArrayList<>();
        for (ParameterStore.Tensor t : store.allTensors()) {
            SafeTensors.Tensor f = found.get(t.name());
            if (f == null) problems.add("missing " + t);
            else if (!Arrays.equals(f.shape(), t.shape())) {
                problems.add(t.name() + " has shape " + Arrays.toString(f.shape()) + " in the file, the model needs " + t.shapeString());
            }
        }
        for (String name : found.keySet()) if (!store.has(name) && !extra.test(name)) problems.add("unexpected " + name);
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(file + " does not match the model: " + String.join("; ", problems));
        }
        for (ParameterStore.Tensor t : store.allTensors()) {
            float[] v = found.get(t.name()).values();
            MemorySegment.copy(v, 0, store.slice(t), JAVA_FLOAT, 0, v.length);
        }
    }
}
