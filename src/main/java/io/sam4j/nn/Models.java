package io.sam4j.nn;

import java.util.List;

/** The named architectures of the CLI, with PyTorch state_dict names. */
public final class Models {
    private Models() {}

    public static final List<String> NAMES = List.of("mlp");

    /** {@code input} is the per-example shape {C, H, W}. */
    public static Model create(String name, int[] input, int classes, float labelSmoothing, Context ctx) {
        return switch (name) {
            case "mlp" -> new Model(name, mlp(classes), input, classes, labelSmoothing, ctx);
            default -> throw new IllegalArgumentException("unknown model '" + name + "' (known: " + String.join(", ", NAMES) + ")");
        };
    }

    /** Linear(in,256)-ReLU-Linear(256,256)-ReLU-Linear(256,classes): fc1, fc2, fc3. */
    public static Sequential mlp(int classes) {
        return new Sequential()
                .add(null, new Flatten())
                .add("fc1", new Linear(256)).add(null, new ReLU())
                .add("fc2", new Linear(256)).add(null, new ReLU())
                .add("fc3", new Linear(classes));
    }
}
