package io.sam4j.formats;

import io.sam4j.nn.ParameterStore;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * A model's parameters and buffers as a safetensors file with PyTorch state_dict names, shapes and dtypes:
 * floats as F32, counters ({@code num_batches_tracked}) as I64, as {@code model.state_dict()} holds them.
 */
public final class StateDict {
    private StateDict() {}

    /**
     * What a load did besides copying: the int64 counters the file did not hold (left at 0). PyTorch only
     * uses {@code num_batches_tracked} when BatchNorm's momentum is None, and older or hand-made files lack
     * it, so its absence is a note, never an error.
     */
    public record LoadResult(List<String> missingCounters) {
        /** One line for the user, or null when nothing was missing. */
        public String note(String file) {
            if (missingCounters.isEmpty()) return null;
            return file + " has no " + missingCounters.getFirst()
                    + (missingCounters.size() > 1 ? " (nor " + (missingCounters.size() - 1) + " other counters)" : "")
                    + "; starting " + (missingCounters.size() > 1 ? "them" : "it") + " at 0";
        }
    }

    /** Writes every parameter and buffer of the store (atomically). */
    public static void save(ParameterStore store, Path file) {
        save(store, file, Map.of());
    }

    public static void save(ParameterStore store, Path file, Map<String, String> metadata) {
        Map<String, String> meta = new LinkedHashMap<>(metadata);
        meta.putIfAbsent("format", "pt");
        meta.putIfAbsent("producer", "sam4j");
        SafeTensors.write(file, entries(store), meta);
    }

    /** The store's tensors as safetensors entries, in state_dict order, with their PyTorch dtypes. */
    public static List<SafeTensors.Entry> entries(ParameterStore store) {
        List<SafeTensors.Entry> entries = new ArrayList<>();
        for (ParameterStore.Tensor t : store.allTensors()) {
            entries.add(t.counter() ? SafeTensors.Entry.int64(t.name(), t.shape(), store.slice(t))
                    : new SafeTensors.Entry(t.name(), t.shape(), store.slice(t)));
        }
        return entries;
    }

    /**
     * Loads a file into the store. Every float tensor of the model must be present with its shape, and the
     * file must hold nothing else: otherwise one error lists all the mismatches.
     */
    public static LoadResult load(ParameterStore store, Path file) {
        return load(store, SafeTensors.read(file), file.toString(), name -> false);
    }

    /**
     * As {@link #load(ParameterStore, Path)} from a file already read; names that {@code extra} accepts are
     * skipped. Integer file tensors load into float tensors by value and float ones into counters when they
     * hold whole numbers (PyTorch's {@code load_state_dict} casts the same way).
     *
     * @throws FormatException one line naming the file and every mismatch
     */
    public static LoadResult load(ParameterStore store, SafeTensors.Loaded loaded, String file, Predicate<String> extra) {
        Map<String, SafeTensors.Tensor> found = loaded.tensors();
        List<String> problems = new ArrayList<>();
        List<String> missingCounters = new ArrayList<>();
        for (ParameterStore.Tensor t : store.allTensors()) {
            SafeTensors.Tensor f = found.get(t.name());
            if (f == null) {
                if (t.counter()) missingCounters.add(t.name());
                else problems.add("missing " + t);
            } else if (!Arrays.equals(f.shape(), t.shape())) {
                problems.add(t.name() + " has shape " + Arrays.toString(f.shape()) + " in the file, the model needs " + t.shapeString());
            } else if (t.counter() && !f.isInteger() && !wholeNumbers(f.values())) {
                problems.add(t.name() + " holds a non-integer value, the model needs an integer count");
            }
        }
        for (String name : found.keySet()) if (!store.has(name) && !extra.test(name)) problems.add("unexpected " + name);
        if (!problems.isEmpty()) {
            throw new FormatException(file + " does not match the model: " + String.join("; ", problems));
        }
        for (ParameterStore.Tensor t : store.allTensors()) {
            SafeTensors.Tensor f = found.get(t.name());
            MemorySegment dst = store.slice(t);
            if (f == null) {
                dst.fill((byte) 0);
            } else if (t.counter()) {
                for (int i = 0; i < f.values().length; i++) {
                    dst.setAtIndex(JAVA_LONG, i, f.isInteger() ? f.integers()[i] : (long) f.values()[i]);
                }
            } else {
                MemorySegment.copy(f.values(), 0, dst, JAVA_FLOAT, 0, f.values().length);
            }
        }
        return new LoadResult(List.copyOf(missingCounters));
    }

    private static boolean wholeNumbers(float[] v) {
        for (float x : v) if (!(x >= 0 && x == Math.rint(x))) return false;
        return true;
    }
}
