package io.sam4j.kernels;

import static io.sam4j.kernels.KernelTestSupport.at;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Block-wise double folding keeps an 11M-element sum of squares at double-reference accuracy. */
class KernelAccuracyTest {
    private static final long N = 11_173_962; // ResNet-18 (CIFAR) parameter count

    @Test
    void sumSquaresOverElevenMillion() {
        try (Arena arena = Arena.ofShared(); Parallel par = new Parallel(2)) {
            MemorySegment x = KernelTestSupport.random(arena, N, new SplittableRandom(7), -1, 1);
            double exact = 0;
            float naive = 0; // what a float accumulator gives: shows the data can expose the error
            for (long i = 0; i < N; i++) {
                float v = at(x, i);
                exact += (double) v * v;
                naive += v * v;
            }
            assertTrue(Math.abs(naive - exact) / exact > 1e-4, "float accumulation should be visibly off: " + naive);
            for (Kernels k : new Kernels[] {new VectorKernels(), ScalarKernels.INSTANCE}) {
                double got = k.sumSquares(x, 0, N);
                assertTrue(Math.abs(got - exact) / exact <= 1e-7, k.name() + ": " + got + " vs " + exact);
                double flat = new FlatOps(k, par).sumSquares(x, N);
                assertTrue(Math.abs(flat - exact) / exact <= 1e-7, k.name() + " FlatOps: " + flat + " vs " + exact);
            }
        }
    }
}
