package io.sam4j.conv;

import io.sam4j.nn.Context;
import static io.sam4j.TestUtil.fillRandom;
import static io.sam4j.TestUtil.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

/** JavaConvBackend against a direct convolution in double, on shapes that reach every code path. */
class JavaConvBackendTest {
    private static final Parallel PAR = new Parallel(2);

    static Stream<Arguments> shapes() {
        List<Arguments> cases = new ArrayList<>(List.of(
                // 3x3 pad 1, hw = 196: two images per GEMM, then a group of one (3 = 2 + 1)
                Arguments.of(new ConvShape(3, 5, 14, 14, 6, 3, 3, 1, 1), JavaConvBackend.DEFAULT_TARGET_COLUMNS),
                // strided, non-square, small maps: the whole batch in one group
                Arguments.of(new ConvShape(5, 3, 9, 7, 4, 3, 3, 2, 1), JavaConvBackend.DEFAULT_TARGET_COLUMNS),
                // 1x1 stride 1 pad 0: the direct path, no im2col
                Arguments.of(new ConvShape(2, 7, 6, 5, 3, 1, 1, 1, 0), JavaConvBackend.DEFAULT_TARGET_COLUMNS),
                // 1x1 stride 2: the ResNet projection shortcut
                Arguments.of(new ConvShape(3, 4, 8, 8, 8, 1, 1, 2, 0), JavaConvBackend.DEFAULT_TARGET_COLUMNS),
                // large map: one image per GEMM through im2col
                Arguments.of(new ConvShape(2, 2, 24, 24, 3, 5, 5, 1, 2), JavaConvBackend.DEFAULT_TARGET_COLUMNS),
                // padding wider than the kernel reach: whole rows and columns of taps in the padding
                Arguments.of(new ConvShape(2, 2, 4, 4, 2, 3, 3, 2, 3), 7),
                // stride 3 with a 2x2 kernel skips input pixels: their dx must be zero
                Arguments.of(new ConvShape(2, 3, 8, 7, 2, 2, 2, 3, 0), 1)));
        Random r = new Random(7);
        for (int i = 0; i < 8; i++) {
            int kernel = 1 + r.nextInt(4), stride = 1 + r.nextInt(3), pad = r.nextInt(3);
            int h = kernel + r.nextInt(8), w = kernel + r.nextInt(8);
            cases.add(Arguments.of(new ConvShape(1 + r.nextInt(4), 1 + r.nextInt(5), h, w, 1 + r.nextInt(6),
                    kernel, kernel, stride, pad), 1 + r.nextInt(64)));
        }
        return cases.stream();
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void matchesDirectConvolution(ConvShape sh, int targetColumns) {
        try (Arena a = Arena.ofShared(); Convolution kernel = new JavaConvBackend(PAR, targetColumns).conv(sh, true)) {
            Random r = new Random(sh.hashCode());
            MemorySegment x = a.allocate(4 * sh.inputSize(), 64), wt = a.allocate(4 * sh.weightSize(), 64);
            MemorySegment bias = a.allocate(4L * sh.k(), 64), dy = a.allocate(4 * sh.outputSize(), 64);
            MemorySegment y = a.allocate(4 * sh.outputSize(), 64), dx = a.allocate(4 * sh.inputSize(), 64);
            MemorySegment dw = a.allocate(4 * sh.weightSize(), 64), db = a.allocate(4L * sh.k(), 64);
            // Two rounds on the same kernel: its reused buffers must carry nothing over.
            for (int round = 0; round < 2; round++) {
                fillRandom(x, sh.inputSize(), r, -1, 1);
                fillRandom(wt, sh.weightSize(), r, -1, 1);
                fillRandom(bias, sh.k(), r, -1, 1);
                fillRandom(dy, sh.outputSize(), r, -1, 1);
                // Outputs hold NaN first: the kernel must overwrite them, not accumulate.
                fillNaN(y, sh.outputSize());
                fillNaN(dx, sh.inputSize());
                fillNaN(dw, sh.weightSize());
                fillNaN(db, sh.k());
                kernel.forward(x, wt, bias, y);
                kernel.backwardData(dy, wt, dx);
                kernel.backwardWeights(x, dy, dw, db);
                Direct ref = new Direct(sh, x, wt, bias, dy);
                assertClose("y", ref.y, y);
                assertClose("dx", ref.dx, dx);
                assertClose("dw", ref.dw, dw);
                assertClose("dbias", ref.db, db);
            }
        }
    }

    @Test
    void biasMayBeAbsent() {
        ConvShape sh = new ConvShape(2, 3, 5, 5, 4, 3, 3, 1, 1);
        try (Arena a = Arena.ofShared(); Convolution kernel = new JavaConvBackend(PAR).conv(sh, false)) {
            Random r = new Random(3);
            MemorySegment x = io.sam4j.TestUtil.random(a, sh.inputSize(), r, -1, 1);
            MemorySegment wt = io.sam4j.TestUtil.random(a, sh.weightSize(), r, -1, 1);
            MemorySegment dy = io.sam4j.TestUtil.random(a, sh.outputSize(), r, -1, 1);
            MemorySegment y = a.allocate(4 * sh.outputSize(), 64), dw = a.allocate(4 * sh.weightSize(), 64);
            kernel.forward(x, wt, null, y);
            kernel.backwardWeights(x, dy, dw, null);
            MemorySegment zeroBias = a.allocate(4L * sh.k(), 64);
            Direct ref = new Direct(sh, x, wt, zeroBias, dy);
            assertClose("y", ref.y, y);
            assertClose("dw", ref.dw, dw);
            assertEquals("java:im2col+gemm", kernel.implementation());
        }
    }

    @Test
    void contextDefaultsToTheJavaBackend() {
        try (Context ctx = new Context(PAR, KernelsProvider.get())) {
            assertEquals("java", ctx.convBackend().name());
            assertTrue(ctx.convBackend() instanceof JavaConvBackend);
        }
        JavaConvBackend mine = new JavaConvBackend(PAR);
        try (Context ctx = new Context(PAR, KernelsProvider.get(), mine)) {
            assertSame(mine, ctx.convBackend());
        }
    }

    private static void fillNaN(MemorySegment s, long n) {
        for (long i = 0; i < n; i++) io.sam4j.TestUtil.set(s, i, Float.NaN);
    }

    /** float GEMM vs double reference: terms are O(1), so the error grows like sqrt(terms) * 1e-7. */
    private static void assertClose(String what, double[] expected, MemorySegment actual) {
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], get(actual, i), 1e-4 + 1e-5 * Math.abs(expected[i]), what + "[" + i + "]");
        }
    }

    /** The definition, written out: every output pixel as a sum over its input taps, in double. */
    private static final class Direct {
        final double[] y, dx, dw, db;

        Direct(ConvShape sh, MemorySegment x, MemorySegment w, MemorySegment bias, MemorySegment dy) {
            int n = sh.n(), c = sh.c(), h = sh.h(), wd = sh.w(), k = sh.k(), r = sh.r(), s = sh.s();
            int oh = sh.outH(), ow = sh.outW();
            y = new double[(int) sh.outputSize()];
            dx = new double[(int) sh.inputSize()];
            dw = new double[(int) sh.weightSize()];
            db = new double[k];
            for (int i = 0; i < n; i++) {
                for (int o = 0; o < k; o++) {
                    for (int p = 0; p < oh; p++) {
                        for (int q = 0; q < ow; q++) {
                            int yi = ((i * k + o) * oh + p) * ow + q;
                            double g = get(dy, yi), acc = get(bias, o);
                            db[o] += g;
                            for (int ci = 0; ci < c; ci++) {
                                for (int kr = 0; kr < r; kr++) {
                                    for (int ks = 0; ks < s; ks++) {
                                        int ih = p * sh.stride() - sh.pad() + kr, iw = q * sh.stride() - sh.pad() + ks;
                                        if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                                        int xi = ((i * c + ci) * h + ih) * wd + iw, wi = ((o * c + ci) * r + kr) * s + ks;
                                        acc += (double) get(x, xi) * get(w, wi);
                                        dx[xi] += g * get(w, wi);
                                        dw[wi] += g * get(x, xi);
                                    }
                                }
                            }
                            y[yi] = acc;
                        }
                    }
                }
            }
        }
    }
}
