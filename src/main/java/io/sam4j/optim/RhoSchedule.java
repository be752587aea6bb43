package io.sam4j.optim;

/** The perturbation radius of each step, from the configured rho (= rho_max) and the step's learning rate. */
public sealed interface RhoSchedule {
    RhoSchedule CONSTANT = new Constant();

    double rho(float rhoMax, float lr);

    /** rho every step. */
    record Constant() implements RhoSchedule {
        @Override
        public double rho(float rhoMax, float lr) {
            return rhoMax;
        }
    }

    /**
     * GSAM's schedule (big_vision's JAX code, which takes the learning rate of the same step):
     * {@code rho_t = rho_min + (rho_max - rho_min) (lr_t - lr_min)/(lr_max - lr_min)}, rho_max when
     * lr_max == lr_min, not clamped (a warm-up below lr_min gives rho_t below rho_min, as in both repos).
     */
    record LearningRate(float rhoMin, float lrMin, float lrMax) implements RhoSchedule {
        public LearningRate {
            if (!(rhoMin >= 0)) throw new IllegalArgumentException("rho min must be >= 0, got " + rhoMin);
            if (!(lrMax >= lrMin)) throw new IllegalArgumentException("lr max " + lrMax + " is below lr min " + lrMin);
        }

        @Override
        public double rho(float rhoMax, float lr) {
            if (lrMax == lrMin) return rhoMax;
            return rhoMin + ((double) rhoMax - rhoMin) * ((double) lr - lrMin) / ((double) lrMax - lrMin);
        }
    }
}
