package io.sam4j.train;

import io.sam4j.config.ConfigException;
import io.sam4j.kernels.FlatOps;
import io.sam4j.nn.ParameterStore;
import io.sam4j.optim.AdamW;
import io.sam4j.optim.BaseOptimizer;
import io.sam4j.optim.Descent;
import io.sam4j.optim.Esam;
import io.sam4j.optim.Optimizer;
import io.sam4j.optim.PerturbPolicy;
import io.sam4j.optim.Plain;
import io.sam4j.optim.RhoSchedule;
import io.sam4j.optim.Sgd;
import io.sam4j.optim.SharpnessAware.Adaptive;
import io.sam4j.optim.SharpnessAware.Direction;
import io.sam4j.optim.SharpnessAware;
import java.util.List;

/** Maps a {@link TrainConfig}'s optimizer names and settings to one composed optimizer. */
public final class Optimizers {
    private Optimizers() {}

    public static final List<String> NAMES =
            List.of("sgd", "adamw", "sam", "usam", "asam", "fsam", "gsam", "looksam", "aesam", "rst", "esam");

    /** The one alias: StableSAM's name for SAM with the rescale. */
    public static final String STABLESAM = "stablesam";

    /** Every name {@code --optimizer} accepts, the alias included. */
    public static List<String> acceptedNames() {
        List<String> all = new java.util.ArrayList<>(NAMES);
        all.add(STABLESAM);
        return all;
    }

    /** {@code c} with the alias resolved: stablesam becomes sam with {@code stable} set. */
    public static TrainConfig resolveAlias(TrainConfig c) {
        if (!STABLESAM.equals(c.optimizer)) return c;
        TrainConfig r = c.copy();
        r.optimizer = "sam";
        r.stable = true;
        return r;
    }

    /** Whether {@code c} names a plain base optimizer (no second pass). */
    public static boolean isPlain(TrainConfig c) {
        return c.optimizer.equals("sgd") || c.optimizer.equals("adamw");
    }

    /** The names that take F-SAM's direction with --friendly. */
    private static final List<String> FRIENDLY_CAPABLE = List.of("gsam", "looksam", "aesam", "rst", "esam");

    /** As {@link #create(TrainConfig, ParameterStore, FlatOps, long)} for a run of {@code c.steps} steps (or 1). */
    public static Optimizer create(TrainConfig c, ParameterStore store, FlatOps ops) {
        return create(c, store, ops, Math.max(1, c.steps));
    }

    /** {@code totalSteps}: the run's length, which AE-SAM's threshold and RST's schedule follow. */
    public static Optimizer create(TrainConfig config, ParameterStore store, FlatOps ops, long totalSteps) {
        TrainConfig c = resolveAlias(config);
        String opt = c.optimizer;
        if (!NAMES.contains(opt)) {
            throw ConfigException.unknown("optimizer", opt, acceptedNames());
        }
        boolean plain = opt.equals("sgd") || opt.equals("adamw");
        String baseName = plain ? opt : c.base;
        BaseOptimizer base = switch (baseName) {
            case "sgd" -> new Sgd(store, ops, c.momentum, c.nesterov, c.weightDecay);
            case "adamw" -> new AdamW(store, ops, c.beta1, c.beta2, c.adamEps, c.weightDecay);
            default -> throw ConfigException.unknown("base", baseName, List.of("sgd", "adamw"));
        };
        if (plain) {
            if (c.stable || c.adaptive || c.friendly) {
                throw new ConfigException("{stable}, {adaptive} and {friendly} apply to the SAM family, not to {optimizer} " + opt);
            }
            return new Plain(store, ops, base, c.gradClip);
        }
        return new SharpnessAware(store, ops, base, samConfig(c, totalSteps));
    }

    /** The library names fields ("gsam alpha must be ..."); the CLI's message names the flag. */
    private static final String[][] FIELD_FLAGS = {
            {"rho min", "--rho-min"}, {"rho", "--rho"}, {"sigma", "--sigma"}, {"lambda", "--lambda"}, {"eta", "--eta"},
            {"clip", "--grad-clip"}, {"gsam alpha", "--gsam-alpha"}, {"looksam k", "--looksam-k"},
            {"looksam alpha", "--looksam-alpha"}, {"ae delta", "--ae-delta"}, {"ae lambda1/lambda2", "--ae-lambda1/--ae-lambda2"},
            {"rst schedule", "--rst-schedule"}, {"esam beta", "--esam-beta"}, {"esam gamma", "--esam-gamma"}};

    private static String flagMessage(TrainConfig c, String message) {
        if (message.startsWith("--")) return message;
        for (String[] ff : FIELD_FLAGS) {
            if (message.startsWith(ff[0] + " ") || message.startsWith(ff[0] + ":")) return ff[1] + message.substring(ff[0].length());
        }
        return "--optimizer " + describeFlags(c) + ": " + message;
    }

    /** The SAM-family configuration of {@code c} (a SAM-family name); errors name the flags. */
    public static SharpnessAware.Config samConfig(TrainConfig c, long totalSteps) {
        try {
            return config(resolveAlias(c), totalSteps);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(flagMessage(c, e.getMessage()), e);
        }
    }

    private static SharpnessAware.Config config(TrainConfig c, long totalSteps) {
        String opt = c.optimizer;
        if (c.friendly && !FRIENDLY_CAPABLE.contains(opt)) {
            throw new IllegalArgumentException("--friendly applies to " + String.join(", ", FRIENDLY_CAPABLE) + " (use fsam for F-SAM itself)");
        }
        Direction dir = opt.equals("fsam") || c.friendly ? Direction.FRIENDLY : Direction.GRADIENT;
        Adaptive form = Adaptive.NONE;
        if (c.adaptive || opt.equals("asam")) {
            form = switch (c.asamForm) {
                case "official" -> Adaptive.OFFICIAL;
                case "elementwise" -> Adaptive.ELEMENTWISE;
                default -> throw ConfigException.unknown("asamForm", c.asamForm, List.of("official", "elementwise"));
            };
        }
        boolean normalized = !opt.equals("usam");
        Descent descent = opt.equals("gsam") ? new Descent.Gsam(c.gsamAlpha) : Descent.ADVERSARIAL;
        RhoSchedule rho = RhoSchedule.CONSTANT;
        if (c.rhoMin != null && c.rhoMin != c.rho) {
            float lrMin = c.schedule == Schedule.CONSTANT ? c.lr : 0f; // cosine ends at 0
            rho = new RhoSchedule.LearningRate(c.rhoMin, lrMin, c.lr);
        }
        PerturbPolicy policy = switch (opt) {
            case "looksam" -> new PerturbPolicy.LookSam(c.lookSamK, c.lookSamAlpha);
            case "aesam" -> new PerturbPolicy.AdaptiveRule(c.aeDelta, c.aeLambda1, c.aeLambda2, totalSteps);
            case "rst" -> new PerturbPolicy.RandomSwitch(PerturbPolicy.Schedule.parse(c.rstSchedule), c.seed, totalSteps);
            default -> PerturbPolicy.EVERY_STEP;
        };
        Esam esam = opt.equals("esam") ? new Esam.On(c.esamBeta, c.esamGamma, c.seed) : Esam.OFF;
        return new SharpnessAware.Config(dir, form, normalized, c.stable, c.rho, c.sigma, c.lambda, c.eta, c.gradClip,
                descent, rho, policy, esam);
    }

    /** e.g. "gsam --stable" for error messages. */
    private static String describeFlags(TrainConfig c) {
        return c.optimizer + (c.friendly ? " --friendly" : "") + (c.adaptive ? " --adaptive" : "") + (c.stable ? " --stable" : "");
    }
}
