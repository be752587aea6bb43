package io.sam4j.optim;

/**
 * ESAM (Du et al., ICLR 2022), following the official code (dydjw9/Efficient_SAM): stochastic weight
 * perturbation perturbs a random subset of the parameter TENSORS (each kept with probability beta, all
 * on the first step) by {@code e = (rho/beta) g_M/(|g_M| + 1e-7)}, the norm over the kept tensors only;
 * sharpness-sensitive data selection runs pass 2 on the examples whose loss rose most at w + e: with
 * {@code s_i = l_i(w+e) - l_i(w)}, K = floor(gamma n) and tau the K-th largest s_i, the examples with
 * {@code s_i > tau} (strictly, as the code does: K - 1 of them without ties); gamma >= 0.99 keeps all.
 */
public sealed interface Esam {
    Esam OFF = new Off();

    record Off() implements Esam {}

    /** {@code seed}: the tensor masks are a pure function of (seed, step, tensor), so a resumed run draws the same. */
    record On(float beta, float gamma, long seed) implements Esam {
        public On {
            if (!(beta > 0 && beta <= 1)) throw new IllegalArgumentException("esam beta must be in (0, 1], got " + beta);
            if (!(gamma > 0 && gamma <= 1)) throw new IllegalArgumentException("esam gamma must be in (0, 1], got " + gamma);
        }

        /** Whether tensor i is perturbed at step t (every tensor at step 0, as the code's first mask). */
        public boolean keeps(long t, int tensor) {
            if (t == 0 || beta >= 1) return true;
            long z = seed * 0x9E3779B97F4A7C15L + t * 0xC2B2AE3D27D4EB4FL + tensor;
            z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
            z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
            z ^= z >>> 31;
            return ((z >>> 11) * 0x1.0p-53) < beta;
        }

        /**
         * The official code's selection: writes the chosen example indices into {@code out} and returns
         * their count; {@code scratch} (>= n) is overwritten.
         */
        public int select(double[] rise, int n, int[] out, double[] scratch) {
            if (gamma >= 0.99f) {
                for (int i = 0; i < n; i++) out[i] = i;
                return n;
            }
            int k = Math.max(1, (int) Math.floor(gamma * n));
            System.arraycopy(rise, 0, scratch, 0, n);
            java.util.Arrays.sort(scratch, 0, n);
            double tau = scratch[n - k];
            int count = 0;
            for (int i = 0; i < n; i++) if (rise[i] > tau) out[count++] = i;
            if (count == 0) for (int i = 0; i < n; i++) if (rise[i] >= tau) out[count++] = i; // all tied
            return count;
        }
    }
}
