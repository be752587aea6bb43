package io.sam4j.kernels;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * What the Vector-API kernels share: the species, loads and stores, and the lane sum.
 *
 * <p>Each kernel runs whole vectors over [from, vEnd) and hands the scalar tail [vEnd, to) to its scalar
 * reference, so tails are bit-identical to it. Reductions keep float vector accumulators for one
 * {@link MathKernels#FOLD_BLOCK} at a time and then add their lane sum into a double.
 *
 * <p>The species is a static final constant (from {@link VectorWidth}, read once at class initialisation),
 * which C2 needs to compile vector operations to instructions; one process runs one width, so the tests
 * of other widths run in their own JVMs (the root pom's {@code vector-*} surefire executions).
 *
 * <p>One method per loop matters for speed, not just tidiness: when several loops share a method, C2
 * compiles the ones not yet run with cold, un-inlined vector calls (boxed vectors, ~10x slower) and does
 * not recompile when the flags change later. A method per loop is compiled from its own profile once it
 * gets hot.
 */
final class VectorSupport {
    private VectorSupport() {}

    /** The species of the width-agnostic loops: {@link VectorWidth#bits()} bits, or the platform's preferred. */
    static final VectorSpecies<Float> S = VectorWidth.bits() == 0 ? FloatVector.SPECIES_PREFERRED
            : VectorSpecies.of(float.class, VectorShape.forBitSize(VectorWidth.bits()));
    static final int L = S.length();
    static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    static FloatVector load(MemorySegment s, long i) {
        return FloatVector.fromMemorySegment(S, s, i << 2, NATIVE);
    }

    static void store(FloatVector v, MemorySegment s, long i) {
        v.intoMemorySegment(s, i << 2, NATIVE);
    }

    static FloatVector zero() { return FloatVector.zero(S); }

    /**
     * Lane sum in double, in lane order. reduceLanes(ADD) leaves the float order to the implementation
     * (the interpreter and C2 differ), which would make sums depend on JIT state; this does not. Lanes
     * are read one by one (C2 unrolls the loop into extracts): a scratch array for intoArray escapes
     * and would be allocated per call, which counts when a layer calls a kernel per plane.
     */
    static double laneSum(FloatVector v) {
        double s = 0;
        for (int i = 0; i < L; i++) s += v.lane(i);
        return s;
    }

    /** End of the whole-vector part of [from, to). */
    static long vEnd(long from, long to) {
        return to > from ? from + S.loopBound(to - from) : from;
    }

    /** End of the fold block starting at blk. */
    static long blockEnd(long blk, long vEnd) {
        return Math.min(vEnd, blk + MathKernels.FOLD_BLOCK);
    }
}
