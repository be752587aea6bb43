package io.sam4j.optim;

import io.sam4j.kernels.FlatOps;
import io.sam4j.kernels.Kernels;
import io.sam4j.nn.ParameterStore;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.Map;

/** torch.optim.AdamW: decoupled weight decay, bias-corrected moments, eps added after the sqrt. */
public final class AdamW implements BaseOptimizer {
    private final ParameterStore store;
    private final FlatOps ops;
    private final float beta1, beta2, eps, weightDecay;
    private final MemorySegment m, v;
    private long steps;

    public AdamW(ParameterStore store, FlatOps ops, float beta1, float beta2, float eps, float weightDecay) {
        if (beta1 < 0 || beta1 >= 1) throw new IllegalArgumentException("beta1 must be in [0, 1), got " + beta1);
        if (beta2 < 0 || beta2 >= 1) throw new IllegalArgumentException("beta2 must be in [0, 1), got " + beta2);
        if (weightDecay < 0) throw new IllegalArgumentException("weight decay must be >= 0, got " + weightDecay);
        this.store = store;
        this.ops = ops;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.m = store.newStateBuffer();
        this.v = store.newStateBuffer();
    }

    @Override
    public void step(MemorySegment saved, float gScale, float lr) {
        long t = steps + 1;
        float bc1 = (float) (1 - Math.pow(beta1, t));
        float bc2 = (float) (1 - Math.pow(beta2, t));
        MemorySegment w = store.params(), g = store.grads();
        Kernels k = ops.kernels();
        ops.forChunks(store.paramLength(), (i, from, to) ->
                k.adamwStep(w, saved, g, m, v, from, to, gScale, lr, weightDecay, beta1, beta2, eps, bc1, bc2));
        steps = t;
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
        return "adamw";
    }

    @Override
    public Map<String, MemorySegment> stateBuffers() {
        Map<String, MemorySegment> s = new LinkedHashMap<>();
        s.put("exp_avg", m);
        s.put("exp_avg_sq", v);
        return s;
    }
}
