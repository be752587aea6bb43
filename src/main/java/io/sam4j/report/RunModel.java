package io.sam4j.report;

import com.fasterxml.jackson.databind.JsonNode;
import io.sam4j.data.DataSource;
import io.sam4j.data.Dataset;
import io.sam4j.data.Normalizer;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import io.sam4j.nn.Context;
import io.sam4j.nn.Model;
import io.sam4j.nn.Models;
import io.sam4j.formats.SafeTensors;
import io.sam4j.formats.StateDict;
import io.sam4j.conv.ConvBackends;
import io.sam4j.formats.Checkpoint;
import io.sam4j.train.TrainConfig;
import io.sam4j.train.Trainer;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Trained weights in a model ready to score, with the normalisation the run trained with: what eval and
 * predict share. From a run folder, the model, input shape and normalisation come from its config.json and
 * the weights from {@code final.safetensors} (else the last checkpoint) unless others are given; from bare
 * weights, the shape and normalisation come from the training split of the data set.
 */
public final class RunModel implements AutoCloseable {
    public static final String FINAL = Trainer.FINAL_WEIGHTS;

    private final TrainConfig config;
    private final Model model;
    private final Normalizer norm;
    private final Path weights;

    private RunModel(TrainConfig config, Model model, Normalizer norm, Path weights) {
        this.config = config;
        this.model = model;
        this.norm = norm;
        this.weights = weights;
    }

    /**
     * Opens a run folder's model.
     *
     * @param weights other weights than the run's (null: final.safetensors, else checkpoint.safetensors)
     * @param threads worker threads (null: the run's)
     * @param data    the data set for shape and normalisation of runs that did not record them (null: the run's)
     */
    public static RunModel ofRun(Path runDir, Path weights, Integer threads, Path data) {
        TrainConfig c = Trainer.readConfig(runDir);
        if (threads != null) c.threads = threads;
        if (data != null) c.data = data;
        JsonNode cfg = RunFolder.readObject(runDir.resolve("config.json"));
        Path w = weights != null ? weights : Files.isRegularFile(runDir.resolve(FINAL)) ? runDir.resolve(FINAL) : Checkpoint.path(runDir);
        if (!Files.isRegularFile(w)) throw new IllegalArgumentException("--run: no weights in " + runDir + " (no " + FINAL + " or " + Checkpoint.FILE + ")");
        if (cfg.has("normalization") && cfg.has("input_shape")) {
            int[] shape = RunFolder.JSON.convertValue(cfg.get("input_shape"), int[].class);
            double[] mean = RunFolder.JSON.convertValue(cfg.get("normalization").get("mean"), double[].class);
            double[] std = RunFolder.JSON.convertValue(cfg.get("normalization").get("std"), double[].class);
            return open(c, shape, cfg.path("classes").asInt(), new Normalizer(mean, std, shape[1] * shape[2]), w);
        }
        return ofData(c, w); // a run from before the normalisation was recorded: refit it as training did
    }

    /** Bare weights: {@code c.model} on {@code c.data}'s shape, normalised as training on that data does. */
    public static RunModel ofWeights(TrainConfig c, Path weights) {
        if (!Files.isRegularFile(weights)) throw new IllegalArgumentException("--weights: no such file " + weights);
        return ofData(c, weights);
    }

    private static RunModel ofData(TrainConfig c, Path weights) {
        DataSource.Split split = DataSource.load(c.data);
        Dataset train = Trainer.trainingSet(split, c);
        int[] shape = {train.channels(), train.height(), train.width()};
        return open(c, shape, train.numClasses(), Normalizer.fit(train), weights);
    }

    private static RunModel open(TrainConfig c, int[] shape, int classes, Normalizer norm, Path weights) {
        if (!Models.NAMES.contains(c.model)) throw new IllegalArgumentException("--model: unknown '" + c.model + "'");
        Parallel.setCommonThreads(c.threads);
        Context ctx = new Context(Parallel.common(), KernelsProvider.get(), ConvBackends.create(c.backend, Parallel.common(), System.err));
        Model m = Models.create(c.model, shape, classes, c.labelSmoothing, ctx);
        try {
            m.initialize(c.seed);
            StateDict.load(m.store(), SafeTensors.read(weights), weights.toString(), n -> n.startsWith("optimizer."));
            return new RunModel(c, m, norm, weights);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    public TrainConfig config() { return config; }

    public Model model() { return model; }

    public Normalizer normalizer() { return norm; }

    public Path weights() { return weights; }

    /** The test split of the run's data set, checked against the model's input shape and classes. */
    public Dataset testSet() {
        Dataset t = DataSource.load(config.data).test();
        int[] in = model.inputShape();
        if (t.channels() != in[0] || t.height() != in[1] || t.width() != in[2] || t.numClasses() != model.classes()) {
            throw new IllegalArgumentException("--data: " + t.name() + " has " + t.channels() + "x" + t.height() + "x" + t.width()
                    + " images in " + t.numClasses() + " classes, the model takes " + in[0] + "x" + in[1] + "x" + in[2]
                    + " in " + model.classes());
        }
        return t;
    }

    @Override
    public void close() {
        model.close();
    }
}
