package io.sam4j.nn;

import io.sam4j.kernels.Parallel;
import java.util.function.IntConsumer;

/**
 * Runs a per-plane body over planes [0, planes) across a team, a block of whole planes per work item:
 * thousands of small planes (N x C of them) as single items would cost more in hand-offs than in work.
 * Each plane is written by exactly one item, so results do not depend on the scheduling. Built once per
 * layer, so that a call hands the team no new object.
 */
final class PlaneBlocks implements IntConsumer {
    /** About 64 KB of input per work item. */
    private static final long BLOCK_FLOATS = 1 << 14;

    private final IntConsumer plane;
    private int planes, perBlock;

    PlaneBlocks(IntConsumer plane) {
        this.plane = plane;
    }

    void run(Parallel par, int planes, long planeSize) {
        this.planes = planes;
        this.perBlock = (int) Math.max(1, Math.min(planes, BLOCK_FLOATS / Math.max(1, planeSize)));
        par.forEach((planes + perBlock - 1) / perBlock, this);
    }

    @Override
    public void accept(int block) {
        int from = block * perBlock, to = Math.min(planes, from + perBlock);
        for (int p = from; p < to; p++) plane.accept(p);
    }
}
