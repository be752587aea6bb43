package io.sam4j.train;

import io.sam4j.conv.ConvBackends;
import io.sam4j.data.Augmentation;
import io.sam4j.nn.Models;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * Every value of a {@link TrainConfig}, checked before anything is loaded or written: a range error and a
 * flag that does not apply to the chosen optimizer are both one {@link IllegalArgumentException} naming the
 * flag. "Does not apply" is decided against the defaults of {@code new TrainConfig()}: a value the user
 * changed on an optimizer that ignores it is an error, never silently dropped.
 */
public final class ConfigCheck {
    private ConfigCheck() {}

    public static void check(TrainConfig c) {
        checkRanges(c);
        checkApplies(c);
    }

    private static void checkRanges(TrainConfig c) {
        oneOf("--model", c.model, Models.NAMES);
        oneOf("--optimizer", c.optimizer, Optimizers.NAMES);
        oneOf("--base", c.base, List.of("sgd", "adamw"));
        oneOf("--asam-form", c.asamForm, List.of("official", "elementwise"));
        oneOf("--backend", c.backend, ConvBackends.NAMES);
        oneOf("--perturbation", c.perturbation, List.of("local", "global"));
        if (c.schedule == null) throw new IllegalArgumentException("--schedule: missing (known: cosine, constant)");
        if (c.steps < 0) throw new IllegalArgumentException("--steps must be >= 0, got " + c.steps);
        if (c.epochs < 1 && c.steps == 0) throw new IllegalArgumentException("--epochs must be >= 1, got " + c.epochs);
        if (c.batch < 1) throw new IllegalArgumentException("--batch must be >= 1, got " + c.batch);
        if (c.threads < 1) throw new IllegalArgumentException("--threads must be >= 1, got " + c.threads);
        positive("--lr", c.lr);
        inUnit("--momentum", c.momentum);
        nonNegative("--weight-decay", c.weightDecay);
        positive("--rho", c.rho);
        nonNegative("--sigma", c.sigma);
        inUnit("--lambda", c.lambda);
        positive("--eta", c.eta);
        nonNegative("--grad-clip", c.gradClip);
        inUnit("--label-noise", c.labelNoise);
        inUnit("--label-smoothing", c.labelSmoothing);
        inUnit("beta1", c.beta1);
        inUnit("beta2", c.beta2);
        positive("adamEps", c.adamEps);
        if (c.sharpnessEvery < 0) throw new IllegalArgumentException("--sharpness-every must be >= 0, got " + c.sharpnessEvery);
        if (c.sharpnessSubset < 1) throw new IllegalArgumentException("--sharpness-subset must be >= 1, got " + c.sharpnessSubset);
        if (c.augment != null) Augmentation.parse(c.augment);
    }

    /** Flags whose value differs from the default on an optimizer that would ignore them. */
    private static void checkApplies(TrainConfig c) {
        TrainConfig d = new TrainConfig();
        boolean plain = c.optimizer.equals("sgd") || c.optimizer.equals("adamw");
        String base = plain ? c.optimizer : c.base;
        boolean adaptive = c.adaptive || c.optimizer.equals("asam");
        String what = "--optimizer " + c.optimizer + (plain ? "" : " --base " + base);
        List<String> wrong = new ArrayList<>();
        if (plain) {
            if (c.rho != d.rho) wrong.add("--rho");
            if (!c.base.equals(d.base)) wrong.add("--base");
            if (c.stable) wrong.add("--stable");
            if (c.adaptive) wrong.add("--adaptive");
        }
        if (!c.optimizer.equals("fsam")) {
            if (c.sigma != d.sigma) wrong.add("--sigma");
            if (c.lambda != d.lambda) wrong.add("--lambda");
        }
        if (!adaptive) {
            if (c.eta != d.eta) wrong.add("--eta");
            if (!c.asamForm.equals(d.asamForm)) wrong.add("--asam-form");
        }
        if (!base.equals("sgd")) {
            if (c.momentum != d.momentum) wrong.add("--momentum");
            if (c.nesterov) wrong.add("--nesterov");
        }
        if (c.sharpnessEvery == 0 && c.sharpnessSubset != d.sharpnessSubset) wrong.add("--sharpness-subset");
        if (!wrong.isEmpty()) {
            throw new IllegalArgumentException(String.join(", ", wrong) + (wrong.size() == 1 ? " does" : " do")
                    + " not apply to " + what + applyHint(wrong.getFirst()));
        }
    }

    private static String applyHint(String flag) {
        return switch (flag) {
            case "--rho", "--base", "--stable", "--adaptive" -> " (it applies to sam, usam, asam and fsam)";
            case "--sigma", "--lambda" -> " (it applies to fsam)";
            case "--eta", "--asam-form" -> " (it applies to asam and --adaptive)";
            case "--momentum", "--nesterov" -> " (it applies to sgd, or --base sgd)";
            case "--sharpness-subset" -> " (it applies with --sharpness-every N)";
            default -> "";
        };
    }

    private static void oneOf(String flag, String value, List<String> known) {
        if (value == null || !known.contains(value)) {
            throw new IllegalArgumentException(flag + ": unknown '" + value + "' (known: " + String.join(", ", known) + ")");
        }
    }

    private static void positive(String flag, float v) {
        if (!(v > 0) || Float.isInfinite(v)) throw new IllegalArgumentException(flag + " must be > 0, got " + fmt(v));
    }

    private static void nonNegative(String flag, float v) {
        if (!(v >= 0) || Float.isInfinite(v)) throw new IllegalArgumentException(flag + " must be >= 0, got " + fmt(v));
    }

    private static void inUnit(String flag, float v) {
        if (!(v >= 0 && v < 1)) throw new IllegalArgumentException(flag + " must be in [0, 1), got " + fmt(v));
    }

    private static String fmt(float v) {
        return Objects.toString(v).toLowerCase(Locale.ROOT).endsWith(".0") ? Long.toString((long) v) : Float.toString(v);
    }
}
