package io.sam4j.optim;

import io.sam4j.nn.Mode;
import io.sam4j.kernels.FlatOps;
import io.sam4j.nn.ParameterStore;
import java.lang.foreign.MemorySegment;
import java.util.Map;

/** A base optimizer on its own: one gradient per step (plain SGD or AdamW), optional clipping. */
public final class Plain implements Optimizer {
    private final ParameterStore store;
    private final FlatOps ops;
    private final BaseOptimizer base;
    private final float clip;
    private GradientReducer reducer;

    /** {@code clip} > 0 clips the global gradient norm to it (PyTorch clip_grad_norm_); 0 disables. */
    public Plain(ParameterStore store, FlatOps ops, BaseOptimizer base, float clip) {
        if (clip < 0) throw new IllegalArgumentException("--grad-clip must be >= 0, got " + clip);
        this.store = store;
        this.ops = ops;
        this.base = base;
        this.clip = clip;
    }

    @Override
    public StepStats step(LossFunction f, float lr) {
        if (reducer != null && f.singleBackward()) reducer.expectGradient();
        double loss = f.lossAndGrad(Mode.TRAIN);
        if (reducer != null) reducer.reduce();
        double norm = Math.sqrt(ops.sumSquares(store.grads(), store.paramLength()));
        float scale = SharpnessAware.clipScale(norm, clip);
        base.step(null, scale, lr);
        return new StepStats(loss, Double.NaN, norm, Double.NaN, Double.NaN, Double.NaN, Double.NaN, scale, false, 1);
    }

    @Override
    public void setReducer(GradientReducer reducer, boolean globalPerturbation) {
        this.reducer = reducer;
    }

    @Override
    public BaseOptimizer base() {
        return base;
    }

    @Override
    public Map<String, MemorySegment> stateBuffers() {
        return base.stateBuffers();
    }

    @Override
    public String describe() {
        return base.name() + (clip > 0 ? " (clip " + clip + ")" : "");
    }
}
