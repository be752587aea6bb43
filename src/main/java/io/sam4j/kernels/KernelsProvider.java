package io.sam4j.kernels;

import java.util.Optional;

/**
 * Picks the kernel implementation once per process: the Vector-API one when the incubator module is
 * readable, else the scalar reference (with one line on stderr saying why).
 *
 * <p>As in Lucene's VectorizationProvider, {@code VectorKernels} is only named in a string and
 * loaded reflectively, so this class (and everything that calls it) loads and runs without
 * {@code --add-modules jdk.incubator.vector}. System property {@code sam4j.kernels=scalar|vector}
 * forces a choice; forcing vector where the module is missing is an error rather than a silent fallback.
 * {@code sam4j.vectorBits=128|256|512} picks the vector width ({@link VectorWidth}).
 */
public final class KernelsProvider {
    static final String PROPERTY = "sam4j.kernels";
    private static final String VECTOR_CLASS = "io.sam4j.kernels.VectorKernels";
    private static final String VECTOR_MODULE = "jdk.incubator.vector";

    private KernelsProvider() {}

    /** Lazily initialised on first use (class-holder idiom), hence thread-safe and decided once. */
    private static final class Holder {
        static final Kernels INSTANCE = choose();
    }

    public static Kernels get() {
        return Holder.INSTANCE;
    }

    public static Kernels scalar() {
        return ScalarKernels.INSTANCE;
    }

    static Kernels choose() {
        String forced = System.getProperty(PROPERTY, "").trim();
        switch (forced) {
            case "scalar":
                return scalar();
            case "", "vector":
                break;
            default:
                throw new IllegalArgumentException("-D" + PROPERTY + " must be scalar or vector, got '" + forced + "'");
        }
        VectorWidth.bits(); // a bad -Dsam4j.vectorBits is an error here, not a fallback to scalar
        String why = vectorUnavailableReason();
        boolean moduleMissing = why != null;
        Kernels k = null;
        if (why == null) {
            try {
                k = (Kernels) Class.forName(VECTOR_CLASS).getDeclaredConstructor().newInstance();
            } catch (ReflectiveOperationException | LinkageError e) {
                why = "loading " + VECTOR_CLASS + " failed: " + e;
            }
        }
        if (k != null) return k;
        if (forced.equals("vector")) throw new IllegalStateException("-D" + PROPERTY + "=vector but " + why);
        System.err.println(moduleMissing
                ? "sam4j: Vector API not available (pass --add-modules jdk.incubator.vector); using scalar kernels"
                : "sam4j: Vector API not usable (" + why + "); using scalar kernels");
        return scalar();
    }

    /** Null when the incubator module is in the boot layer and readable from here; else why not. */
    private static String vectorUnavailableReason() {
        Optional<Module> vm = ModuleLayer.boot().findModule(VECTOR_MODULE);
        if (vm.isEmpty()) return VECTOR_MODULE + " is not in the boot layer";
        Module self = KernelsProvider.class.getModule();
        // Unnamed modules read everything; a named sam4j module may need the edge added.
        if (!self.canRead(vm.get())) self.addReads(vm.get());
        return self.canRead(vm.get()) ? null : VECTOR_MODULE + " is not readable";
    }
}
