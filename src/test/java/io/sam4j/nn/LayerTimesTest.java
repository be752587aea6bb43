package io.sam4j.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sam4j.TestUtil;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** What {@code bench --layer-times} reports: every leaf layer once, in model order, nothing counted twice. */
class LayerTimesTest {
    @Test
    void residualBlocksGetTheirExclusiveTimeAndTheSumStaysInsideThePass() {
        Sequential net = new Sequential().add("conv1", new Conv2d(8, 3, 1, 1, false)).add("bn1", new BatchNorm2d(8))
                .add(null, new ReLU()).add("b1", new BasicBlock(8, 1)).add("b2", new BasicBlock(16, 2))
                .add(null, new GlobalAvgPool()).add("fc", new Linear(10));
        try (Model m = new Model("t", net, new int[] {3, 12, 12}, 10, 0f, Context.defaults()); Arena a = Arena.ofShared()) {
            m.initialize(1);
            Random r = new Random(2);
            int n = 4;
            MemorySegment x = TestUtil.random(a, n * m.inputSize(), r, -1, 1);
            int[] labels = r.ints(n, 0, 10).toArray();
            m.lossAndGrad(x, labels, n, Mode.TRAIN); // allocation and first calls outside the timing
            LayerTimes times = new LayerTimes();
            m.context().timeLayers(times);
            long wall = 0;
            for (int i = 0; i < 3; i++) {
                long t = System.nanoTime();
                m.lossAndGrad(x, labels, n, Mode.TRAIN);
                wall += System.nanoTime() - t;
            }
            m.context().timeLayers(null);
            m.lossAndGrad(x, labels, n, Mode.TRAIN); // no longer timed

            List<String> names = times.entries().stream().map(LayerTimes.Entry::name).toList();
            assertEquals(List.of("conv1", "bn1", "#2", "b1", "b1.conv1", "b1.bn1", "b1.conv2", "b1.bn2",
                    "b2", "b2.conv1", "b2.bn1", "b2.conv2", "b2.bn2", "b2.shortcut.0", "b2.shortcut.1", "#5", "fc"), names);
            assertEquals("BasicBlock", times.entries().get(3).kind());
            long inner = 0;
            for (LayerTimes.Entry e : times.entries()) {
                assertTrue(e.forwardNanos() > 0, e.name() + " forward");
                if (e.name().startsWith("b1.")) inner += e.forwardNanos() + e.backwardNanos();
            }
            assertTrue(times.entries().get(0).backwardNanos() > 0, "conv1 backward (weight gradient)");
            LayerTimes.Entry b1 = times.entries().get(3);
            // Exclusive: the block's own add and ReLU, far less than its two convolutions.
            assertTrue(b1.forwardNanos() + b1.backwardNanos() < inner, "b1 " + (b1.forwardNanos() + b1.backwardNanos()) + " vs inner " + inner);
            assertTrue(times.totalNanos() <= wall, "entries overlap: " + times.totalNanos() + " ns of layers in " + wall + " ns");
        }
    }
}
