package io.sam4j.cli;

import io.sam4j.report.Prediction;
import io.sam4j.report.RunModel;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "predict", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Classify images: PNG/JPEG files (converted to the model's channels and size, then normalised as the "
                + "run's training data) or IDX image files (every image). Prints the top-k classes with probabilities."})
final class PredictCommand implements Callable<Integer> {
    @Mixin
    WeightsSource source;

    @Option(names = "--top", paramLabel = "K", description = "Classes shown per image (default: ${DEFAULT-VALUE}).", defaultValue = "3")
    int top;

    @Option(names = "--json", description = "Print a JSON array instead of text.")
    boolean json;

    @Parameters(paramLabel = "FILE", arity = "1..*", description = "Images (PNG, JPEG) or IDX image files.")
    List<Path> files;

    @Override
    public Integer call() throws Exception {
        if (top < 1) throw new IllegalArgumentException("--top must be >= 1, got " + top);
        try (RunModel rm = source.open()) {
            List<Prediction.Result> r = Prediction.predict(rm, files, top);
            if (json) {
                System.out.println(new com.fasterxml.jackson.databind.ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(r));
            } else {
                for (Prediction.Result p : r) System.out.println(p.toText());
            }
        }
        return 0;
    }
}
