package io.sam4j.train;

import io.sam4j.config.ConfigException;
import io.sam4j.conv.ConvBackends;
import io.sam4j.data.Augmentation;
import io.sam4j.nn.Models;
import java.util.ArrayList;
import java.util.List;

/**
 * Every value of a {@link TrainConfig}, checked before anything is loaded or written (from
 * {@link TrainConfig#validate()}): a range error and a setting that does not apply to the chosen optimizer
 * are both one {@link ConfigException} naming the field (the CLI prints its flag). "Does not apply" is decided
 * against the defaults of {@code new TrainConfig()}: a value changed on an optimizer that ignores it is an
 * error, never silently dropped.
 */
final class ConfigCheck {
    private ConfigCheck() {}

    static void check(TrainConfig c) {
        checkRanges(c);
        checkApplies(c);
    }

    private static void checkRanges(TrainConfig c) {
        oneOf("model", c.model, Models.NAMES);
        oneOf("optimizer", c.optimizer, Optimizers.NAMES);
        oneOf("base", c.base, List.of("sgd", "adamw"));
        oneOf("asamForm", c.asamForm, List.of("official", "elementwise"));
        oneOf("backend", c.backend, ConvBackends.NAMES);
        oneOf("perturbation", c.perturbation, List.of("local", "global"));
        if (c.schedule == null) throw new ConfigException("{schedule}: missing (known: cosine, constant)");
        if (c.steps < 0) throw ConfigException.mustBe("steps", ">= 0", c.steps);
        if (c.epochs < 1 && c.steps == 0) throw ConfigException.mustBe("epochs", ">= 1", c.epochs);
        if (c.trainSubset < 0) throw ConfigException.mustBe("trainSubset", ">= 1", c.trainSubset);
        if (c.batch < 1) throw ConfigException.mustBe("batch", ">= 1", c.batch);
        if (c.threads < 1) throw ConfigException.mustBe("threads", ">= 1", c.threads);
        positive("lr", c.lr);
        inUnit("momentum", c.momentum);
        nonNegative("weightDecay", c.weightDecay);
        positive("rho", c.rho);
        nonNegative("sigma", c.sigma);
        inUnit("lambda", c.lambda);
        positive("eta", c.eta);
        nonNegative("gradClip", c.gradClip);
        inUnit("labelNoise", c.labelNoise);
        inUnit("labelSmoothing", c.labelSmoothing);
        inUnit("beta1", c.beta1);
        inUnit("beta2", c.beta2);
        positive("adamEps", c.adamEps);
        if (c.sharpnessEvery < 0) throw ConfigException.mustBe("sharpnessEvery", ">= 0", c.sharpnessEvery);
        if (c.evalEvery < 1) throw ConfigException.mustBe("evalEvery", ">= 1", c.evalEvery);
        if (c.sharpnessEvery % c.evalEvery != 0) {
            throw new ConfigException("{sharpnessEvery} " + c.sharpnessEvery + " is not a multiple of {evalEvery} " + c.evalEvery
                    + " (the diagnostics run at evaluations)");
        }
        if (c.sharpnessSubset < 1) throw ConfigException.mustBe("sharpnessSubset", ">= 1", c.sharpnessSubset);
        if (c.augment != null) {
            try {
                Augmentation.parse(c.augment);
            } catch (ConfigException e) {
                throw e;
            } catch (IllegalArgumentException e) { // Augmentation speaks the CLI's flag; a config file names the field
                throw new ConfigException(String.valueOf(e.getMessage()).replaceFirst("^--augment: ", "{augment}: "));
            }
        }
    }

    /** Settings whose value differs from the default on an optimizer that would ignore them. */
    private static void checkApplies(TrainConfig c) {
        TrainConfig d = new TrainConfig();
        boolean plain = c.optimizer.equals("sgd") || c.optimizer.equals("adamw");
        String base = plain ? c.optimizer : c.base;
        boolean adaptive = c.adaptive || c.optimizer.equals("asam");
        List<String> wrong = new ArrayList<>();
        if (plain) {
            if (c.rho != d.rho) wrong.add("rho");
            if (!c.base.equals(d.base)) wrong.add("base");
            if (c.stable) wrong.add("stable");
            if (c.adaptive) wrong.add("adaptive");
        }
        if (!c.optimizer.equals("fsam")) {
            if (c.sigma != d.sigma) wrong.add("sigma");
            if (c.lambda != d.lambda) wrong.add("lambda");
        }
        if (!adaptive) {
            if (c.eta != d.eta) wrong.add("eta");
            if (!c.asamForm.equals(d.asamForm)) wrong.add("asamForm");
        }
        if (!base.equals("sgd")) {
            if (c.momentum != d.momentum) wrong.add("momentum");
            if (c.nesterov) wrong.add("nesterov");
        }
        if (c.sharpnessEvery == 0 && c.sharpnessSubset != d.sharpnessSubset) wrong.add("sharpnessSubset");
        if (!wrong.isEmpty()) {
            throw new ConfigException(String.join(", ", wrong.stream().map(f -> "{" + f + "}").toList())
                    + (wrong.size() == 1 ? " does" : " do") + " not apply to {optimizer} " + c.optimizer
                    + (plain ? "" : " {base} " + base) + applyHint(wrong.getFirst()));
        }
    }

    private static String applyHint(String field) {
        return switch (field) {
            case "rho", "base", "stable", "adaptive" -> " (it applies to sam, usam, asam and fsam)";
            case "sigma", "lambda" -> " (it applies to fsam)";
            case "eta", "asamForm" -> " (it applies to asam and {adaptive})";
            case "momentum", "nesterov" -> " (it applies to sgd, or {base} sgd)";
            case "sharpnessSubset" -> " (it applies with {sharpnessEvery} N)";
            default -> "";
        };
    }

    private static void oneOf(String field, String value, List<String> known) {
        if (value == null || !known.contains(value)) throw ConfigException.unknown(field, String.valueOf(value), known);
    }

    private static void positive(String field, float v) {
        if (!(v > 0) || Float.isInfinite(v)) throw ConfigException.mustBe(field, "> 0", fmt(v));
    }

    private static void nonNegative(String field, float v) {
        if (!(v >= 0) || Float.isInfinite(v)) throw ConfigException.mustBe(field, ">= 0", fmt(v));
    }

    private static void inUnit(String field, float v) {
        if (!(v >= 0 && v < 1)) throw ConfigException.mustBe(field, "in [0, 1)", fmt(v));
    }

    /** -1 rather than -1.0, as the user typed it. */
    private static String fmt(float v) {
        return v == Math.rint(v) && Float.isFinite(v) && Math.abs(v) < 1e9 ? Long.toString((long) v) : Float.toString(v);
    }
}
