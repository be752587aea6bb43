package io.sam4j.dnnl;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.sam4j.TestUtil;
import io.sam4j.conv.Convolution;
import io.sam4j.conv.ConvShape;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** OneDnnConv against the naive double-accumulation reference in {@link ConvReference}. */
class OneDnnConvTest {
    private static OneDnnConvBackend backend; // shared, so kernels of many shapes share (and dirty) one workspace

    @BeforeAll
    static void load() {
        boolean bundledPlatform = System.getProperty("os.name").startsWith("Linux")
                && System.getProperty("os.arch").equals("amd64");
        // Skip only where no bundled library can exist; on linux-x86_64 a load failure is a test failure.
        if (!bundledPlatform) assumeTrue(OneDnnConvBackend.unavailableReason().isEmpty(), "no oneDNN for this platform");
        backend = OneDnnConvBackend.create(2);
        System.out.println(OneDnnConvBackend.describe());
    }

    @AfterAll
    static void close() {
        if (backend != null) backend.close();
    }

    /** Random data for one shape, as float arrays and off-heap copies; outputs prefilled with NaN. */
    private static final class Case {
        final ConvShape s;
        final float[] x, w, b, dy;
        final MemorySegment xs, ws, bs, dys, y, dx, dw, db;

        Case(Arena a, ConvShape s, Random rnd) {
            this.s = s;
            x = random(rnd, s.inputSize());
            w = random(rnd, s.weightSize());
            b = random(rnd, s.k());
            dy = random(rnd, s.outputSize());
            xs = seg(a, x);
            ws = seg(a, w);
            bs = seg(a, b);
            dys = seg(a, dy);
            y = nans(a, s.outputSize());
            dx = nans(a, s.inputSize());
            dw = nans(a, s.weightSize());
            db = nans(a, s.k());
        }

        void checkForward(boolean bias) {
            assertClose("forward " + s, ConvReference.forward(s, x, w, bias ? b : null), y, (long) s.c() * s.r() * s.s());
        }

        void checkBackwardData() {
            assertClose("backward data " + s, ConvReference.backwardData(s, dy, w), dx, (long) s.k() * s.r() * s.s());
        }

        void checkBackwardWeights(boolean bias) {
            long plane = (long) s.n() * s.outH() * s.outW();
            assertClose("backward weights " + s, ConvReference.backwardWeights(s, x, dy), dw, plane);
            if (bias) assertClose("bias grad " + s, ConvReference.biasGrad(s, dy), db, plane);
        }

        void runAll(Convolution k, boolean bias) {
            k.forward(xs, ws, bias ? bs : null, y);
            checkForward(bias);
            k.backwardData(dys, ws, dx);
            checkBackwardData();
            k.backwardWeights(xs, dys, dw, bias ? db : null);
            checkBackwardWeights(bias);
        }
    }

    static float[] random(Random rnd, long n) {
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = 2 * rnd.nextFloat() - 1;
        return v;
    }

    static MemorySegment seg(Arena a, float[] v) {
        MemorySegment m = a.allocate(4L * v.length, 64);
        MemorySegment.copy(v, 0, m, JAVA_FLOAT, 0, v.length);
        return m;
    }

    static MemorySegment nans(Arena a, long n) {
        MemorySegment m = a.allocate(4 * n, 64);
        for (long i = 0; i < n; i++) m.setAtIndex(JAVA_FLOAT, i, Float.NaN);
        return m;
    }

    /**
     * f32 sums of {@code reduction} products of U(-1,1) values: rounding error grows with the length, so
     * the tolerance does too (1e-6 per term is ~8 ulp of 1; a wrong or missing term is off by ~0.1-1).
     */
    static void assertClose(String what, double[] expected, MemorySegment got, long reduction) {
        double tol = 1e-6 * Math.max(reduction, 16), worst = 0;
        int at = 0;
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(got.getAtIndex(JAVA_FLOAT, i) - expected[i]);
            if (!(err <= worst)) { // NaN counts as worst
                worst = Double.isNaN(err) ? Double.POSITIVE_INFINITY : err;
                at = i;
            }
        }
        assertTrue(worst <= tol, what + ": max |error| " + worst + " at " + at + " (expected " + expected[at]
                + ", got " + got.getAtIndex(JAVA_FLOAT, at) + "), tolerance " + tol + " for reduction " + reduction);
    }

    /** Hand-picked corners, then random shapes: strides 1/2, 1x1 and 3x3, pad 0/1, odd channels, batch 1/4. */
    /** {@link #shapes()} at both block widths. */
    static Stream<Arguments> shapesAndWidths() {
        return shapes().flatMap(a -> Stream.of(8, 16).map(l -> Arguments.of(a.get()[0], a.get()[1], l)));
    }

    static Stream<Arguments> shapes() {
        List<Arguments> cases = new ArrayList<>(List.of(
                Arguments.of(new ConvShape(4, 3, 12, 12, 16, 3, 3, 1, 1), true),   // RGB stem
                Arguments.of(new ConvShape(4, 16, 8, 8, 32, 1, 1, 2, 0), false),   // ResNet 1x1 shortcut
                Arguments.of(new ConvShape(1, 17, 7, 10, 5, 3, 3, 2, 1), true),    // odd everything, non-square
                Arguments.of(new ConvShape(4, 5, 6, 6, 17, 3, 3, 2, 0), true),     // stride does not divide
                Arguments.of(new ConvShape(1, 1, 5, 5, 1, 3, 3, 1, 1), true),      // single channel
                Arguments.of(new ConvShape(4, 16, 9, 9, 16, 3, 3, 1, 1), true)));  // blocked-layout friendly
        Random rnd = new Random(20250611);
        int[] channels = {1, 3, 5, 8, 16, 17};
        for (int i = 0; i < 18; i++) {
            int kernel = rnd.nextBoolean() ? 3 : 1;
            ConvShape s = new ConvShape(rnd.nextBoolean() ? 1 : 4, channels[rnd.nextInt(channels.length)],
                    5 + rnd.nextInt(8), 5 + rnd.nextInt(8), channels[rnd.nextInt(channels.length)], kernel, kernel,
                    1 + rnd.nextInt(2), rnd.nextInt(2));
            cases.add(Arguments.of(s, rnd.nextBoolean()));
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} bias={1}")
    @MethodSource("shapes")
    void matchesReference(ConvShape s, boolean bias) {
        try (Arena a = Arena.ofConfined(); Convolution k = backend.conv(s, bias)) {
            new Case(a, s, new Random(s.hashCode())).runAll(k, bias);
        }
    }

    /**
     * The same shapes with nChw8c and nChw16c activations (TAG_NCHW8C, TAG_NCHW16C; both on every machine,
     * oneDNN reorders the width it does not compute in): the test reorders x and dy itself and the
     * results back, so a wrong tag value or a wrong padding convention fails here. Outputs start as NaN,
     * padded lanes included: oneDNN must write those lanes as zeros.
     */
    @ParameterizedTest(name = "{0} bias={1} lanes={2}")
    @MethodSource("shapesAndWidths")
    void blockedMatchesReference(ConvShape s, boolean bias, int L) {
        int n = s.n(), inPlane = s.h() * s.w(), outPlane = s.outH() * s.outW();
        try (Arena a = Arena.ofConfined(); Convolution k = backend.conv(s, bias, L)) {
            Case c = new Case(a, s, new Random(s.hashCode()));
            float[] xb = TestUtil.blocked(c.x, n, s.c(), inPlane, L), dyb = TestUtil.blocked(c.dy, n, s.k(), outPlane, L);
            MemorySegment xs = seg(a, xb), dys = seg(a, dyb), y = nans(a, dyb.length), dx = nans(a, xb.length);
            k.forward(xs, c.ws, bias ? c.bs : null, y);
            float[] yb = y.toArray(JAVA_FLOAT);
            TestUtil.assertPaddedLanesZero("y " + s, yb, n, s.k(), outPlane, L);
            MemorySegment.copy(TestUtil.unblocked(yb, n, s.k(), outPlane, L), 0, c.y, JAVA_FLOAT, 0, (int) s.outputSize());
            c.checkForward(bias);
            k.backwardData(dys, c.ws, dx);
            float[] dxb = dx.toArray(JAVA_FLOAT);
            TestUtil.assertPaddedLanesZero("dx " + s, dxb, n, s.c(), inPlane, L);
            MemorySegment.copy(TestUtil.unblocked(dxb, n, s.c(), inPlane, L), 0, c.dx, JAVA_FLOAT, 0, (int) s.inputSize());
            c.checkBackwardData();
            k.backwardWeights(xs, dys, c.dw, bias ? c.db : null);
            c.checkBackwardWeights(bias);
            if (s.c() % L != 0) { // sizes are checked against the padded layout
                assertThrows(IllegalArgumentException.class, () -> k.forward(c.xs, c.ws, bias ? c.bs : null, y), "NCHW-sized x");
            }
        }
    }

    @Test
    void referenceLoopsAgreeWithIm2colGemm() {
        Random rnd = new Random(7);
        for (ConvShape s : List.of(new ConvShape(2, 3, 7, 6, 5, 3, 3, 2, 1), new ConvShape(1, 5, 5, 5, 3, 1, 1, 1, 0),
                new ConvShape(2, 4, 8, 8, 3, 3, 3, 1, 0))) {
            float[] x = random(rnd, s.inputSize()), w = random(rnd, s.weightSize()), dy = random(rnd, s.outputSize());
            float[][] g = ConvReference.viaGemm(s, x, w, dy);
            try (Arena a = Arena.ofConfined()) {
                assertClose("ref forward " + s, ConvReference.forward(s, x, w, null), seg(a, g[0]), 100);
                assertClose("ref backward data " + s, ConvReference.backwardData(s, dy, w), seg(a, g[1]), 100);
                assertClose("ref backward weights " + s, ConvReference.backwardWeights(s, x, dy), seg(a, g[2]), 200);
            }
        }
    }

    @Test
    void primitivesAreCreatedOnceAndReused() {
        ConvShape s = new ConvShape(2, 5, 9, 9, 7, 3, 3, 1, 1);
        long liveBefore = Dnnl.liveObjects();
        try (OneDnnConvBackend own = OneDnnConvBackend.create(2); Arena a = Arena.ofConfined()) {
            Convolution k = own.conv(s, true);
            long created = Dnnl.primitivesCreated(), live = Dnnl.liveObjects(), workspace = -1;
            Random rnd = new Random(3);
            for (int round = 0; round < 3; round++) { // new data each round: stale results would show
                new Case(a, s, rnd).runAll(k, true);
                if (round == 0) workspace = own.workspaceBytes();
                assertEquals(workspace, own.workspaceBytes(), "workspace grew on a later call");
            }
            assertTrue(workspace > 0, "blocked layouts need internal buffers");
            assertEquals(created, Dnnl.primitivesCreated(), "primitives created per call");
            assertEquals(live, Dnnl.liveObjects(), "native objects created per call");
        }
        assertEquals(liveBefore, Dnnl.liveObjects(), "native objects left after close");
    }

    @Test
    void smallKernelStillRightAfterALargerOneGrewTheWorkspace() {
        ConvShape small = new ConvShape(1, 8, 6, 6, 8, 3, 3, 1, 1), large = new ConvShape(4, 16, 12, 12, 24, 3, 3, 1, 1);
        try (Arena a = Arena.ofConfined(); Convolution k1 = backend.conv(small, true); Convolution k2 = backend.conv(large, true)) {
            Random rnd = new Random(5);
            new Case(a, small, rnd).runAll(k1, true);
            new Case(a, large, rnd).runAll(k2, true);
            new Case(a, small, rnd).runAll(k1, true);
        }
    }

    @Test
    void kernelRunsOnAThreadOtherThanItsCreator() throws InterruptedException {
        ConvShape s = new ConvShape(2, 8, 8, 8, 16, 3, 3, 1, 1);
        try (Arena a = Arena.ofShared(); Convolution k = backend.conv(s, false)) {
            Case c = new Case(a, s, new Random(11));
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread t = Thread.ofPlatform().start(() -> {
                try {
                    c.runAll(k, false);
                } catch (Throwable e) {
                    failure.set(e);
                }
            });
            t.join();
            if (failure.get() != null) throw new AssertionError(failure.get());
            c.runAll(k, false); // and back on this one
        }
    }

    @Test
    void fastPathOnThisMachine() {
        try (Convolution k = backend.conv(new ConvShape(2, 16, 16, 16, 16, 3, 3, 1, 1), true)) {
            String impl = k.implementation();
            System.out.println("3x3 16->16: " + impl + ", " + ((OneDnnConv) k).reorderCount() + " reorders");
            assertTrue(impl.startsWith("onednn:"), impl);
            assertTrue(impl.contains("jit") || impl.contains("brg"), impl);
            assertFalse(impl.contains("ref"), "reference (slow) implementation chosen: " + impl);
        }
        String d = OneDnnConvBackend.describe();
        assertTrue(d.startsWith("oneDNN 3."), d);
    }

    @Test
    void nullBiasMeansZeroAndNoGradient() {
        ConvShape s = new ConvShape(1, 3, 6, 6, 5, 3, 3, 1, 1);
        try (Arena a = Arena.ofConfined(); Convolution k = backend.conv(s, true)) {
            Case c = new Case(a, s, new Random(2));
            k.forward(c.xs, c.ws, null, c.y);
            c.checkForward(false);
            k.backwardWeights(c.xs, c.dys, c.dw, null);
            c.checkBackwardWeights(false);
        }
    }

    @Test
    void rejectsBadArguments() {
        ConvShape s = new ConvShape(1, 3, 6, 6, 5, 3, 3, 1, 1);
        try (Arena a = Arena.ofConfined(); Convolution k = backend.conv(s, false)) {
            Case c = new Case(a, s, new Random(2));
            assertThrows(IllegalArgumentException.class, () -> k.forward(c.xs, c.ws, c.bs, c.y), "bias without bias");
            MemorySegment heap = MemorySegment.ofArray(new float[(int) s.inputSize()]);
            assertThrows(IllegalArgumentException.class, () -> k.forward(heap, c.ws, null, c.y), "heap segment");
            assertThrows(IllegalArgumentException.class, () -> k.forward(c.xs, c.ws, null, c.db), "short output");
            assertThrows(NullPointerException.class, () -> k.backwardData(null, c.ws, c.dx));
        }
    }

    @Test
    void closedKernelsAndBackendsRefuseWork() {
        ConvShape s = new ConvShape(1, 3, 6, 6, 5, 1, 1, 1, 0);
        Convolution k;
        try (Arena a = Arena.ofConfined()) {
            Case c = new Case(a, s, new Random(2));
            try (OneDnnConvBackend own = OneDnnConvBackend.create(1)) {
                k = own.conv(s, false);
                k.forward(c.xs, c.ws, null, c.y);
            } // closing the backend closes its kernels
            assertThrows(IllegalStateException.class, () -> k.forward(c.xs, c.ws, null, c.y));
            k.close(); // idempotent
        }
    }
}
