package io.sam4j.train;

import io.sam4j.dnnl.OneDnnConvBackend;
import io.sam4j.kernels.Parallel;
import io.sam4j.nn.ConvBackend;
import io.sam4j.nn.JavaConvBackend;
import java.io.PrintStream;
import java.util.List;
import java.util.Optional;

/** Picks the convolution backend: oneDNN when its library loads, else the pure-Java one. */
public final class Backends {
    private Backends() {}

    public static final List<String> NAMES = List.of("auto", "onednn", "java");

    /**
     * {@code auto} tries oneDNN and falls back to Java with one line on {@code log} saying why;
     * {@code onednn} fails with the reason; {@code java} never touches native code.
     */
    public static ConvBackend create(String name, Parallel par, PrintStream log) {
        return switch (name) {
            case "java" -> new JavaConvBackend(par);
            case "onednn" -> {
                Optional<OneDnnConvBackend> b = OneDnnConvBackend.tryCreate(par.threads());
                if (b.isEmpty()) {
                    throw new IllegalArgumentException("--backend onednn: " + OneDnnConvBackend.unavailableReason().orElse("unavailable"));
                }
                yield b.get();
            }
            case "auto" -> {
                Optional<OneDnnConvBackend> b = OneDnnConvBackend.tryCreate(par.threads());
                if (b.isPresent()) yield b.get();
                log.println("sam4j: " + OneDnnConvBackend.unavailableReason().orElse("oneDNN unavailable")
                        + "; using the pure-Java backend");
                yield new JavaConvBackend(par);
            }
            default -> throw new IllegalArgumentException("--backend: unknown '" + name + "' (known: " + String.join(", ", NAMES) + ")");
        };
    }
}
