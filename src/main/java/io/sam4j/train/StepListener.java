package io.sam4j.train;

import io.sam4j.optim.StepStats;

/** Sees every optimizer step's free signals (loss, SAM gap, norms, cosine...) as it happens. */
@FunctionalInterface
public interface StepListener {
    void onStep(long step, int epoch, float lr, StepStats stats);
}
