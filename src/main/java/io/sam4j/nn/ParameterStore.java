package io.sam4j.nn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every trainable parameter of a model in ONE contiguous, 64-byte-aligned off-heap float buffer, the
 * gradients in a second buffer of the same layout, and non-trainable state (BatchNorm running
 * statistics) in a third. Layers see their tensors as named slices with PyTorch state_dict names.
 *
 * <p>Each tensor starts on a 16-float (64-byte) boundary so vector loops and oneDNN see aligned
 * slices; the padding between tensors is zero in every buffer and stays zero (no layer writes it,
 * and every optimizer update maps 0 to 0), so whole-buffer norms and updates need no masking.
 *
 * <p>Optimizer state (momentum, EMA, saved weights) is made with {@link #newStateBuffer}: same layout,
 * so one index range addresses the same parameters in all buffers.
 */
public final class ParameterStore implements AutoCloseable {
    /** Floats per alignment unit (64 bytes). */
    public static final int ALIGN_FLOATS = 16;

    /** A named slice: offset and length in floats within its buffer. */
    public record Tensor(String name, long[] shape, long offset, long size, boolean trainable) {
        public Tensor {
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        public String shapeString() {
            return Arrays.toString(shape);
        }

        /** True for weights of conv/linear/BN-scale kind (ASAM's official T applies to these). */
        public boolean isWeightKind() {
            return name.endsWith("weight");
        }

        @Override
        public String toString() {
            return name + Arrays.toString(shape);
        }
    }

    /** Collects tensor declarations; {@link #build()} allocates the buffers. */
    public static final class Builder {
        private final List<Tensor> params = new ArrayList<>();
        private final List<Tensor> buffers = new ArrayList<>();
        private final Map<String, Tensor> byName = new LinkedHashMap<>();
        private long paramLength;
        private long bufferLength;

        public Tensor param(String name, long... shape) {
            Tensor t = new Tensor(name, shape, paramLength, numel(shape), true);
            add(t, params);
            paramLength = align(paramLength + t.size());
            return t;
        }

        public Tensor buffer(String name, long... shape) {
            Tensor t = new Tensor(name, shape, bufferLength, numel(shape), false);
            add(t, buffers);
            bufferLength = align(bufferLength + t.size());
            return t;
        }

        private void add(Tensor t, List<Tensor> list) {
            if (byName.putIfAbsent(t.name(), t) != null) {
                throw new IllegalArgumentException("duplicate tensor name " + t.name());
            }
            list.add(t);
        }

        /** Flat offset the next trainable tensor would get (floats of trainable tensors so far, aligned). */
        public long paramLength() {
            return paramLength;
        }

        /** Trainable tensors declared so far. */
        public int paramTensorCount() {
            return params.size();
        }

        public ParameterStore build() {
            return new ParameterStore(this);
        }
    }

    private final Arena arena = Arena.ofShared();
    private final List<Tensor> params;
    private final List<Tensor> buffers;
    private final Map<String, Tensor> byName;
    private final long paramLength;
    private final long bufferLength;
    private final MemorySegment paramSeg;
    private final MemorySegment gradSeg;
    private final MemorySegment bufferSeg;

    private ParameterStore(Builder b) {
        this.params = List.copyOf(b.params);
        this.buffers = List.copyOf(b.buffers);
        this.byName = Collections.unmodifiableMap(new LinkedHashMap<>(b.byName));
        this.paramLength = Math.max(b.paramLength, ALIGN_FLOATS);
        this.bufferLength = Math.max(b.bufferLength, ALIGN_FLOATS);
        this.paramSeg = allocate(paramLength);
        this.gradSeg = allocate(paramLength);
        this.bufferSeg = allocate(bufferLength);
    }

    public static Builder builder() {
        return new Builder();
    }

    static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d <= 0) throw new IllegalArgumentException("bad dimension in " + Arrays.toString(shape));
            n *= d;
        }
        return n;
    }

    static long align(long n) {
        return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    }

    /** A zeroed buffer with the parameter layout (arena.allocate zero-fills). */
    public MemorySegment newStateBuffer() {
        return allocate(paramLength);
    }

    private MemorySegment allocate(long floats) {
        return arena.allocate(4L * floats, 64);
    }

    /** All trainable parameters. */
    public MemorySegment params() {
        return paramSeg;
    }

    /** Gradients, same layout as {@link #params()}. */
    public MemorySegment grads() {
        return gradSeg;
    }

    /** Non-trainable named state (BatchNorm running statistics). */
    public MemorySegment buffers() {
        return bufferSeg;
    }

    /** Floats in the parameter buffer, padding included: the range every flat kernel runs over. */
    public long paramLength() {
        return paramLength;
    }

    public long bufferLength() {
        return bufferLength;
    }

    /** Number of real parameters (no padding), as PyTorch counts them. */
    public long paramCount() {
        long n = 0;
        for (Tensor t : params) n += t.size();
        return n;
    }

    public List<Tensor> paramTensors() {
        return params;
    }

    public List<Tensor> bufferTensors() {
        return buffers;
    }

    /**
     * Parameters and buffers interleaved in declaration order, which is a PyTorch state_dict's order
     * when layers declare their tensors as PyTorch registers them (BatchNorm: weight, bias, running_*).
     */
    public List<Tensor> allTensors() {
        return List.copyOf(byName.values());
    }

    public Tensor tensor(String name) {
        Tensor t = byName.get(name);
        if (t == null) throw new IllegalArgumentException("no tensor named " + name);
        return t;
    }

    public boolean has(String name) {
        return byName.containsKey(name);
    }

    /** The slice of {@code t} in the buffer it lives in (params for trainable, buffers otherwise). */
    public MemorySegment slice(Tensor t) {
        return (t.trainable() ? paramSeg : bufferSeg).asSlice(4L * t.offset(), 4L * t.size());
    }

    /** The gradient slice of a trainable tensor. */
    public MemorySegment gradSlice(Tensor t) {
        if (!t.trainable()) throw new IllegalArgumentException(t.name() + " has no gradient");
        return gradSeg.asSlice(4L * t.offset(), 4L * t.size());
    }

    /** The slice of a tensor in a state buffer of the parameter layout. */
    public MemorySegment stateSlice(MemorySegment state, Tensor t) {
        return state.asSlice(4L * t.offset(), 4L * t.size());
    }

    @Override
    public void close() {
        arena.close();
    }
}
