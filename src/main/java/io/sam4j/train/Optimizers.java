package io.sam4j.train;

import io.sam4j.config.ConfigException;
import io.sam4j.kernels.FlatOps;
import io.sam4j.nn.ParameterStore;
import io.sam4j.optim.AdamW;
import io.sam4j.optim.BaseOptimizer;
import io.sam4j.optim.Optimizer;
import io.sam4j.optim.Plain;
import io.sam4j.optim.Sgd;
import io.sam4j.optim.SharpnessAware.Adaptive;
import io.sam4j.optim.SharpnessAware.Direction;
import io.sam4j.optim.SharpnessAware;
import java.util.List;

/** Maps a {@link TrainConfig}'s optimizer names and settings to one composed optimizer. */
public final class Optimizers {
    private Optimizers() {}

    public static final List<String> NAMES = List.of("sgd", "adamw", "sam", "usam", "asam", "fsam");

    public static Optimizer create(TrainConfig c, ParameterStore store, FlatOps ops) {
        String opt = c.optimizer;
        if (!NAMES.contains(opt)) {
            throw ConfigException.unknown("optimizer", opt, NAMES);
        }
        boolean plain = opt.equals("sgd") || opt.equals("adamw");
        String baseName = plain ? opt : c.base;
        BaseOptimizer base = switch (baseName) {
            case "sgd" -> new Sgd(store, ops, c.momentum, c.nesterov, c.weightDecay);
            case "adamw" -> new AdamW(store, ops, c.beta1, c.beta2, c.adamEps, c.weightDecay);
            default -> throw ConfigException.unknown("base", baseName, List.of("sgd", "adamw"));
        };
        if (plain) {
            if (c.stable || c.adaptive) {
                throw new ConfigException("{stable} and {adaptive} apply to the SAM family, not to {optimizer} " + opt);
            }
            return new Plain(store, ops, base, c.gradClip);
        }
        Direction dir = opt.equals("fsam") ? Direction.FRIENDLY : Direction.GRADIENT;
        boolean adaptive = c.adaptive || opt.equals("asam");
        Adaptive form = Adaptive.NONE;
        if (adaptive) {
            form = switch (c.asamForm) {
                case "official" -> Adaptive.OFFICIAL;
                case "elementwise" -> Adaptive.ELEMENTWISE;
                default -> throw ConfigException.unknown("asamForm", c.asamForm, List.of("official", "elementwise"));
            };
        }
        boolean normalized = !opt.equals("usam");
        return new SharpnessAware(store, ops, base, new SharpnessAware.Config(dir, form, normalized, c.stable,
                c.rho, c.sigma, c.lambda, c.eta, c.gradClip));
    }
}
