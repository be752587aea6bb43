package io.sam4j.nn;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** Layers in order; each child's tensors are named {@code prefix + childName + "."}. */
public final class Sequential implements Layer {
    private final Map<String, Layer> children = new LinkedHashMap<>();
    private final List<Layer> order = new ArrayList<>();
    /** Index of the first child with trainable tensors: children before it need no input gradient. */
    private int firstTrainable = Integer.MAX_VALUE;
    /** Flat offset of each child's first parameter, for the "gradients final from here" notice of backward. */
    private long[] paramOffsets = new long[0];
    private Context ctx;
    /**
     * Whether backward sends those notices: only for the model's top-level chain and Sequentials nested
     * directly in it, where the layers after a child hold exactly the parameters declared after it (not
     * inside a block that back-propagates its branches in another order than it declared them).
     */
    private boolean notifiesGradients;
    /** Each child's name for {@link LayerTimes} ({@code prefix + name}, or {@code prefix + "#" + index}). */
    private String[] timingNames = new String[0];
    /** The collector the children were last timed into, and their entries (null for nested Sequentials: they time their own). */
    private LayerTimes timedInto;
    private LayerTimes.Entry[] timed;

    /** Makes backward tell the context's {@link GradientListener} which tail of gradients is final. */
    void notifyGradients() {
        notifiesGradients = true;
    }

    /** Adds a layer; {@code name} is its state_dict prefix ("fc1") or null for parameterless ones. */
    public Sequential add(String name, Layer layer) {
        String key = name != null ? name : "#" + order.size();
        if (children.putIfAbsent(key, layer) != null) throw new IllegalArgumentException("duplicate layer " + name);
        order.add(layer);
        return this;
    }

    public List<Layer> layers() {
        return List.copyOf(order);
    }

    @Override
    public int[] declare(int[] in, String prefix, ParameterStore.Builder b, Context ctx) {
        int[] shape = in;
        int i = 0;
        this.ctx = ctx;
        paramOffsets = new long[order.size()];
        timingNames = new String[order.size()];
        for (Map.Entry<String, Layer> e : children.entrySet()) {
            String p = e.getKey().startsWith("#") ? prefix : prefix + e.getKey() + ".";
            timingNames[i] = prefix + e.getKey();
            int before = b.paramTensorCount();
            paramOffsets[i] = b.paramLength();
            if (notifiesGradients && e.getValue() instanceof Sequential inner) inner.notifyGradients();
            shape = e.getValue().declare(shape, p, b, ctx);
            if (b.paramTensorCount() > before) firstTrainable = Math.min(firstTrainable, i);
            i++;
        }
        return shape;
    }

    @Override
    public void bind(ParameterStore store) {
        for (Layer l : order) l.bind(store);
    }

    @Override
    public void initialize(ParameterStore store, SplittableRandom rng) {
        for (Layer l : order) l.initialize(store, rng);
    }

    @Override
    public MemorySegment forward(MemorySegment x, int n, Mode mode) {
        LayerTimes.Entry[] timed = timedEntries();
        for (int i = 0; i < order.size(); i++) {
            LayerTimes.Entry entry = timed == null ? null : timedEntry(i);
            if (entry == null) {
                x = order.get(i).forward(x, n, mode);
            } else {
                long t = timedInto.enter();
                x = order.get(i).forward(x, n, mode);
                timedInto.exit(entry, t, true);
            }
        }
        return x;
    }

    /**
     * The children's entries in the context's {@link LayerTimes} (null for nested Sequentials), or null when nobody is
     * timing. Made child by child as the forward reaches them, so that the collector lists layers in model order.
     */
    private LayerTimes.Entry[] timedEntries() {
        LayerTimes times = ctx.layerTimes();
        if (times == null) return null;
        if (times != timedInto) {
            timed = new LayerTimes.Entry[order.size()];
            timedInto = times;
        }
        return timed;
    }

    private LayerTimes.Entry timedEntry(int i) {
        Layer l = order.get(i);
        if (timed[i] == null && !(l instanceof Sequential)) timed[i] = timedInto.entry(timingNames[i], l.getClass().getSimpleName());
        return timed[i];
    }

    @Override
    public MemorySegment backward(MemorySegment dy, int n, boolean needInputGrad) {
        // Without an input gradient to return, stop at the first trainable child and skip its dx.
        int stop = needInputGrad ? 0 : Math.min(firstTrainable, order.size() - 1);
        LayerTimes.Entry[] timed = timedEntries();
        for (int i = order.size() - 1; i >= stop; i--) {
            LayerTimes.Entry entry = timed == null ? null : timedEntry(i);
            long t = entry != null ? timedInto.enter() : 0;
            dy = order.get(i).backward(dy, n, i > stop || needInputGrad);
            if (entry != null) timedInto.exit(entry, t, false);
            if (notifiesGradients) ctx.gradientsFinalFrom(paramOffsets[i]);
        }
        return needInputGrad ? dy : null;
    }

    @Override
    public void bindCurvature(ParameterStore store, MemorySegment v, MemorySegment hv) {
        for (Layer l : order) l.bindCurvature(store, v, hv);
    }

    @Override
    public MemorySegment rForward(MemorySegment rx, int n) {
        for (Layer l : order) rx = l.rForward(rx, n);
        return rx;
    }

    @Override
    public MemorySegment rBackward(MemorySegment rdy, int n, boolean needInputGrad, boolean gaussNewton) {
        int stop = needInputGrad ? 0 : Math.min(firstTrainable, order.size() - 1);
        for (int i = order.size() - 1; i >= stop; i--) {
            rdy = order.get(i).rBackward(rdy, n, i > stop || needInputGrad, gaussNewton);
        }
        return needInputGrad ? rdy : null;
    }
}
