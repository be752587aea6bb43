package io.sam4j.optim;

import java.util.Locale;

/**
 * Which steps run the second (perturbed) forward/backward. On every other step the optimizer runs ONE
 * pass and hands the base optimizer the first-pass gradient (LookSAM: plus its stored component).
 * The policies are mutually exclusive; on its two-pass steps each runs the configured step rule.
 */
public sealed interface PerturbPolicy {
    PerturbPolicy EVERY_STEP = new EveryStep();

    /** Every step is a SAM step. */
    record EveryStep() implements PerturbPolicy {}

    /**
     * LookSAM (Liu et al., CVPR 2022), the paper's whole-vector form: a SAM step every k-th step (step 0
     * always), storing {@code g_v = h - <h, g^> g^}; in between {@code d = g + alpha |g|/(|g_v| + 1e-8) g_v}.
     */
    record LookSam(int k, float alpha) implements PerturbPolicy {
        public LookSam {
            if (k < 1) throw new IllegalArgumentException("looksam k must be >= 1, got " + k);
            if (!(alpha >= 0 && Float.isFinite(alpha))) throw new IllegalArgumentException("looksam alpha must be >= 0, got " + alpha);
        }
    }

    /**
     * AE-SAM (Jiang et al., ICLR 2023): with {@code s = |g|^2} of the raw first-pass gradient, on every
     * step {@code mu = delta mu + (1-delta) s}, {@code var = delta var + (1-delta)(s - mu)^2} (the new mu);
     * a SAM step when {@code s >= mu + c sqrt(var)}, {@code c = lambda1 t/T + lambda2 (1 - t/T)}.
     */
    record AdaptiveRule(float delta, float lambda1, float lambda2, long totalSteps) implements PerturbPolicy {
        public AdaptiveRule {
            if (!(delta >= 0 && delta < 1)) throw new IllegalArgumentException("ae delta must be in [0, 1), got " + delta);
            if (!Float.isFinite(lambda1) || !Float.isFinite(lambda2)) {
                throw new IllegalArgumentException("ae lambda1/lambda2 must be finite, got " + lambda1 + ", " + lambda2);
            }
            if (totalSteps < 1) throw new IllegalArgumentException("ae total steps must be >= 1, got " + totalSteps);
        }

        /** The threshold factor c at step t. */
        public double c(long t) {
            double tau = (double) t / totalSteps;
            return lambda1 * tau + lambda2 * (1 - tau);
        }
    }

    /**
     * RST / SS-SAM (Zhao, Zhang and Hu): a SAM step with probability {@code p(t/T)}, decided by a uniform
     * draw that is a pure function of (seed, t), so a resumed run draws the same sequence.
     */
    record RandomSwitch(Schedule schedule, long seed, long totalSteps) implements PerturbPolicy {
        public RandomSwitch {
            if (totalSteps < 1) throw new IllegalArgumentException("rst total steps must be >= 1, got " + totalSteps);
        }

        /** The uniform draw u_t in [0, 1) of step t. */
        public double uniform(long t) {
            return (mix64(seed * 0x9E3779B97F4A7C15L + t) >>> 11) * 0x1.0p-53;
        }

        /** Whether step t is a SAM step: u_t < p(t/T). */
        public boolean samStep(long t) {
            return uniform(t) < schedule.p((double) t / totalSteps);
        }

        /** SplittableRandom's finaliser (Stafford's variant 13): a bijective 64-bit hash. */
        private static long mix64(long z) {
            z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
            z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
            return z ^ (z >>> 31);
        }
    }

    /**
     * RST's probability of a SAM step over training progress tau = t/T, in the four families the paper
     * names (our parametrisation: the paper's exact formulas were not checked):
     * {@code constant:p}, {@code piecewise:pa:pb:tau0} (pa before tau0, pb after), {@code linear:ps:pe},
     * {@code trig:ps:pe} (ps + (pe - ps)(1 - cos(pi tau))/2).
     */
    record Schedule(Kind kind, float a, float b, float tau0) {
        public enum Kind { CONSTANT, PIECEWISE, LINEAR, TRIG }

        public Schedule {
            for (float p : new float[] {a, b}) {
                if (!(p >= 0 && p <= 1)) throw new IllegalArgumentException("rst schedule: probabilities must be in [0, 1], got " + p);
            }
            if (!(tau0 >= 0 && tau0 <= 1)) throw new IllegalArgumentException("rst schedule: tau0 must be in [0, 1], got " + tau0);
        }

        public double p(double tau) {
            return switch (kind) {
                case CONSTANT -> a;
                case PIECEWISE -> tau < tau0 ? a : b;
                case LINEAR -> a + (b - a) * tau;
                case TRIG -> a + (b - a) * (1 - Math.cos(Math.PI * tau)) / 2;
            };
        }

        /** Parses the forms above; the error names the text. */
        public static Schedule parse(String spec) {
            String[] f = spec.trim().toLowerCase(Locale.ROOT).split(":");
            try {
                Kind kind = switch (f[0]) {
                    case "constant" -> Kind.CONSTANT;
                    case "piecewise" -> Kind.PIECEWISE;
                    case "linear" -> Kind.LINEAR;
                    case "trig" -> Kind.TRIG;
                    default -> throw new IllegalArgumentException();
                };
                int want = kind == Kind.CONSTANT ? 2 : kind == Kind.PIECEWISE ? 4 : 3;
                if (f.length != want) throw new IllegalArgumentException();
                float a = Float.parseFloat(f[1]);
                float b = want > 2 ? Float.parseFloat(f[2]) : a;
                float tau0 = want > 3 ? Float.parseFloat(f[3]) : 0f;
                return new Schedule(kind, a, b, tau0);
            } catch (IllegalArgumentException | ArrayIndexOutOfBoundsException e) {
                if (e.getMessage() != null && e.getMessage().startsWith("rst schedule")) throw (IllegalArgumentException) e;
                throw new IllegalArgumentException("rst schedule: cannot read '" + spec
                        + "' (constant:P, piecewise:PA:PB:TAU0, linear:PS:PE or trig:PS:PE)");
            }
        }

        @Override
        public String toString() {
            return switch (kind) {
                case CONSTANT -> "constant:" + a;
                case PIECEWISE -> "piecewise:" + a + ":" + b + ":" + tau0;
                case LINEAR -> "linear:" + a + ":" + b;
                case TRIG -> "trig:" + a + ":" + b;
            };
        }
    }
}
