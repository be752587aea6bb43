package io.sam4j.conv;

import io.sam4j.config.ConfigException;
import io.sam4j.kernels.Parallel;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.util.List;
import java.util.Optional;

/**
 * Picks the convolution backend: oneDNN when its library loads, else the pure-Java one.
 *
 * <p>As {@code KernelsProvider} does for the Vector-API kernels, the oneDNN backend is only named in a
 * string and loaded reflectively: the binding ({@code io.sam4j.dnnl}) implements this package's
 * interfaces, so {@code conv} must not import it back.
 */
public final class ConvBackends {
    private ConvBackends() {}

    public static final List<String> NAMES = List.of("auto", "onednn", "java");

    /** The oneDNN backend's class: {@code static Optional<...> tryCreate(int threads)}, {@code static Optional<String> unavailableReason()}. */
    static final String ONEDNN_CLASS = "io.sam4j.dnnl.OneDnnConvBackend";

    /**
     * {@code auto} tries oneDNN and falls back to Java with one line on {@code log} saying why;
     * {@code onednn} fails with the reason; {@code java} never touches native code.
     */
    public static ConvBackend create(String name, Parallel par, PrintStream log) {
        return switch (name) {
            case "java" -> new JavaConvBackend(par);
            case "onednn" -> {
                Attempt a = tryOneDnn(par.threads());
                if (a.backend() == null) throw new ConfigException("{backend} onednn: " + a.whyNot().orElse("unavailable"));
                yield a.backend();
            }
            case "auto" -> {
                Attempt a = tryOneDnn(par.threads());
                if (a.backend() != null) yield a.backend();
                log.println("sam4j: " + a.whyNot().orElse("oneDNN unavailable") + "; using the pure-Java backend");
                yield new JavaConvBackend(par);
            }
            default -> throw ConfigException.unknown("backend", name, NAMES);
        };
    }

    /** The oneDNN backend, or null and why not. */
    private record Attempt(ConvBackend backend, Optional<String> whyNot) {}

    private static Attempt tryOneDnn(int threads) {
        try {
            Class<?> c = Class.forName(ONEDNN_CLASS);
            Optional<?> b = (Optional<?>) c.getMethod("tryCreate", int.class).invoke(null, threads);
            if (b.isPresent()) return new Attempt((ConvBackend) b.get(), Optional.empty());
            Optional<?> why = (Optional<?>) c.getMethod("unavailableReason").invoke(null);
            return new Attempt(null, why.map(Object::toString));
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            if (e.getCause() instanceof Error err) throw err;
            throw new IllegalStateException(e.getCause());
        } catch (ReflectiveOperationException | LinkageError e) {
            return new Attempt(null, Optional.of("loading " + ONEDNN_CLASS + " failed: " + e));
        }
    }
}
