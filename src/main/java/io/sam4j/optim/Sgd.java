package io.sam4j.optim;

import io.sam4j.kernels.FlatOps;
import io.sam4j.kernels.Kernels;
import io.sam4j.nn.ParameterStore;
import java.lang.foreign.MemorySegment;
import java.util.Map;

/**
 * torch.optim.SGD: coupled weight decay g + wd*w, momentum with dampening 0 and the buffer set to the
 * first gradient (no zero init), optional Nesterov. No momentum buffer is allocated when mu == 0.
 */
public final class Sgd implements BaseOptimizer {
    private final ParameterStore store;
    private final FlatOps ops;
    private final float momentum, weightDecay;
    private final boolean nesterov;
    private final MemorySegment buf;
    private long steps;

    public Sgd(ParameterStore store, FlatOps ops, float momentum, boolean nesterov, float weightDecay) {
        if (momentum < 0 || momentum >= 1) throw new IllegalArgumentException("momentum must be in [0, 1), got " + momentum);
        if (nesterov && momentum == 0) throw new IllegalArgumentException("Nesterov momentum requires a momentum > 0");
        if (weightDecay < 0) throw new IllegalArgumentException("weight decay must be >= 0, got " + weightDecay);
        this.store = store;
        this.ops = ops;
        this.momentum = momentum;
        this.nesterov = nesterov;
        this.weightDecay = weightDecay;
        this.buf = momentum > 0 ? store.newStateBuffer() : null;
    }

    @Override
    public void step(MemorySegment saved, float gScale, float lr) {
        boolean first = steps == 0;
        MemorySegment w = store.params(), g = store.grads();
        Kernels k = ops.kernels();
        ops.forChunks(store.paramLength(), (i, from, to) ->
                k.sgdStep(w, saved, g, buf, from, to, gScale, lr, weightDecay, momentum, nesterov, first));
        steps++;
    }

    @Override
    public long steps() {
        return steps;
    }

    @Override
    public void setSteps(long steps) {
        this.steps = steps;
    }

    @Override
    public String name() {
        return "sgd";
    }

    @Override
    public Map<String, MemorySegment> stateBuffers() {
        return buf == null ? Map.of() : Map.of("momentum_buffer", buf);
    }
}
