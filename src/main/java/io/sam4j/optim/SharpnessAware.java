package io.sam4j.optim;

import io.sam4j.nn.Mode;
import io.sam4j.kernels.FlatOps;
import io.sam4j.kernels.Kernels;
import io.sam4j.nn.ParameterStore;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The whole SAM family as ONE optimizer composed of three small choices (see {@code docs/sam-family.md}
 * for the canonical step and the sources it follows):
 * <ul>
 *   <li>ascent direction: the gradient (SAM) or friendly {@code d = g - sigma*m} with the EMA
 *       {@code m} of first-pass gradients (F-SAM), optionally scaled element-wise by ASAM's T;</li>
 *   <li>normalisation: {@code e = rho*T^2 d/(||T d|| + eps)} (SAM) or {@code e = rho*T^2 d} (USAM);</li>
 *   <li>renormalisation: none, or StableSAM's {@code g_adv *= ||T_w g|| / (||T_{w+e} g_adv|| + 1e-12)}.</li>
 * </ul>
 * A step is four fused passes over the flat buffers: direction statistics (read-only), save and
 * perturb (with the EMA update), adversarial statistics (read-only), and restore + rescale + base
 * update (in the base optimizer). Weight decay never enters the perturbation, and the weights are
 * restored by copy, bit for bit.
 */
public final class SharpnessAware implements Optimizer {
    public enum Direction { GRADIENT, FRIENDLY }

    /** ASAM's T: none, the official SamsungLabs form |w| + eta on weight tensors, or davda54's |w| everywhere. */
    public enum Adaptive { NONE, OFFICIAL, ELEMENTWISE }

    /**
     * @param rho        perturbation radius
     * @param sigma      F-SAM: weight of the EMA subtracted from g
     * @param lambda     F-SAM: EMA decay
     * @param eta        ASAM official form: T = |w| + eta
     * @param clip       > 0: clip the final gradient's global norm (0 = off)
     */
    public record Config(Direction direction, Adaptive adaptive, boolean normalized, boolean stable,
                         float rho, float sigma, float lambda, float eta, float clip) {
        public Config {
            if (!(rho > 0)) throw new IllegalArgumentException("--rho must be > 0, got " + rho);
            if (direction == Direction.FRIENDLY && !normalized) {
                throw new IllegalArgumentException(
                        "F-SAM with unnormalised (USAM) perturbations is undefined in the literature; use --optimizer fsam");
            }
            if (!(lambda >= 0 && lambda < 1)) throw new IllegalArgumentException("--lambda must be in [0, 1), got " + lambda);
            if (!(sigma >= 0)) throw new IllegalArgumentException("--sigma must be >= 0, got " + sigma);
            if (!(eta >= 0)) throw new IllegalArgumentException("--eta must be >= 0, got " + eta);
            if (!(clip >= 0)) throw new IllegalArgumentException("--grad-clip must be >= 0, got " + clip);
        }

        public static Config sam(float rho) {
            return new Config(Direction.GRADIENT, Adaptive.NONE, true, false, rho, 1f, 0.9f, 0.01f, 0f);
        }

        public String describe() {
            StringBuilder s = new StringBuilder();
            s.append(direction == Direction.FRIENDLY ? "fsam" : normalized ? "sam" : "usam");
            s.append("(rho=").append(rho);
            if (direction == Direction.FRIENDLY) s.append(", sigma=").append(sigma).append(", lambda=").append(lambda);
            if (adaptive == Adaptive.OFFICIAL) s.append(", adaptive official eta=").append(eta);
            if (adaptive == Adaptive.ELEMENTWISE) s.append(", adaptive elementwise");
            if (stable) s.append(", stable");
            if (clip > 0) s.append(", clip=").append(clip);
            return s.append(")").toString();
        }
    }

    // Norm epsilons of the official code: 1e-12 everywhere except SamsungLabs ASAM's 1e-16.
    private static final double EPS = 1e-12;
    private static final double EPS_ASAM = 1e-16;

    private final ParameterStore store;
    private final FlatOps ops;
    private final BaseOptimizer base;
    private final Config cfg;
    private final MemorySegment saved;
    private final MemorySegment ema;
    private boolean emaReady;
    private GradientReducer reducer;
    private boolean globalPerturbation;
    private final long[] spanFrom, spanTo;
    private final float[] spanEta;
    private final double[][] partials;

    public SharpnessAware(ParameterStore store, FlatOps ops, BaseOptimizer base, Config cfg) {
        this.store = store;
        this.ops = ops;
        this.base = base;
        this.cfg = cfg;
        this.saved = store.newStateBuffer();
        this.ema = cfg.direction() == Direction.FRIENDLY ? store.newStateBuffer() : null;
        // Spans of the flat buffer with one T each (padding goes with the tensor before it: it is zero).
        List<long[]> spans = new ArrayList<>();
        List<Float> etas = new ArrayList<>();
        List<ParameterStore.Tensor> ts = store.paramTensors();
        for (int i = 0; i < ts.size(); i++) {
            ParameterStore.Tensor t = ts.get(i);
            long from = i == 0 ? 0 : t.offset();
            long to = i + 1 < ts.size() ? ts.get(i + 1).offset() : store.paramLength();
            float eta = switch (cfg.adaptive()) {
                case NONE -> Float.NaN;
                case OFFICIAL -> t.isWeightKind() ? cfg.eta() : Float.NaN;
                case ELEMENTWISE -> 0f;
            };
            int last = etas.size() - 1;
            if (last >= 0 && sameEta(etas.get(last), eta)) spans.get(last)[1] = to;
            else {
                spans.add(new long[] {from, to});
                etas.add(eta);
            }
        }
        if (spans.isEmpty()) {
            spans.add(new long[] {0, store.paramLength()});
            etas.add(Float.NaN);
        }
        spanFrom = new long[spans.size()];
        spanTo = new long[spans.size()];
        spanEta = new float[spans.size()];
        for (int i = 0; i < spans.size(); i++) {
            spanFrom[i] = spans.get(i)[0];
            spanTo[i] = spans.get(i)[1];
            spanEta[i] = etas.get(i);
        }
        partials = new double[FlatOps.chunks(store.paramLength())][3];
    }

    private static boolean sameEta(float a, float b) {
        return Float.isNaN(a) ? Float.isNaN(b) : a == b;
    }

    /** A kernel call on [from, to) with that range's T. */
    @FunctionalInterface
    private interface SpanBody {
        void run(long from, long to, float eta, double[] acc);
    }

    /** One fused multi-threaded pass: fixed chunks, each cut at span borders; sums combined in order. */
    private double[] pass(SpanBody body) {
        for (double[] p : partials) java.util.Arrays.fill(p, 0);
        ops.forChunks(store.paramLength(), (c, from, to) -> {
            double[] acc = partials[c];
            for (int s = 0; s < spanFrom.length; s++) {
                long a = Math.max(from, spanFrom[s]), b = Math.min(to, spanTo[s]);
                if (a < b) body.run(a, b, spanEta[s], acc);
            }
        });
        double[] total = new double[3];
        for (double[] p : partials) for (int j = 0; j < 3; j++) total[j] += p[j];
        return total;
    }

    @Override
    public StepStats step(LossFunction f, float lr) {
        Kernels k = ops.kernels();
        MemorySegment w = store.params(), g = store.grads();
        float sigma = cfg.sigma(), lambda = cfg.lambda();

        if (reducer != null && globalPerturbation) reducer.expectGradient();
        double loss = f.lossAndGrad(Mode.TRAIN);
        if (reducer != null && globalPerturbation) reducer.reduce();

        // 1. ||T g|| (StableSAM's numerator) and ||T d|| of the ascent direction. F-SAM's first step is SAM's.
        boolean friendly = ema != null && emaReady;
        double[] dir = pass((a, b, eta, acc) -> k.directionStats(g, ema, w, a, b, friendly, sigma, eta, acc));
        double gNorm = Math.sqrt(dir[0]);
        double dNorm = Math.sqrt(friendly ? dir[1] : dir[0]);
        double eps = cfg.adaptive() == Adaptive.OFFICIAL ? EPS_ASAM : EPS;
        float s = (float) (cfg.normalized() ? cfg.rho() / (dNorm + eps) : cfg.rho());

        // 2. Save w, step to w + e, and (F-SAM) fold g into the EMA after d was formed from the old one.
        int emaMode = ema == null ? 0 : emaReady ? 2 : 1;
        double[] pert = pass((a, b, eta, acc) -> k.perturb(w, saved, g, ema, a, b, s, friendly, sigma, emaMode, lambda, eta, acc));
        if (ema != null) emaReady = true;

        if (reducer != null && globalPerturbation) reducer.expectGradient();
        double lossAdv = f.lossAndGrad(Mode.TRAIN_FROZEN_STATS);
        if (reducer != null && globalPerturbation) reducer.reduce();

        // 3. ||g_adv||, ||T_{w+e} g_adv|| (taken before the restore, as StableSAM's code does), <e, g_adv>.
        double[] adv = pass((a, b, eta, acc) -> k.adversarialStats(w, saved, g, a, b, eta, acc));
        double advNorm = Math.sqrt(adv[0]);
        double scale = 1;
        if (cfg.stable()) scale = gNorm / (Math.sqrt(adv[1]) + EPS);
        if (reducer != null && !globalPerturbation) {
            // Local perturbations: each worker's StableSAM factor applies to its own g_adv before averaging.
            if (scale != 1) ops.scale((float) scale, g, store.paramLength());
            reducer.reduce();
            scale = 1;
            if (cfg.clip() > 0) scale = clipScale(Math.sqrt(ops.sumSquares(g, store.paramLength())), cfg.clip());
        } else {
            scale *= clipScale(scale * advNorm, cfg.clip());
        }

        // 4. Restore by copy + rescale + weight decay + base update, one pass.
        base.step(saved, (float) scale, lr);

        double eNorm = Math.sqrt(pert[0]);
        double cosine = adv[2] / (eNorm * advNorm);
        double curvature = (adv[2] - pert[1]) / pert[0];
        return new StepStats(loss, lossAdv, gNorm, advNorm, cosine, eNorm, curvature, scale);
    }

    /** PyTorch clip_grad_norm_: multiply by min(1, clip / (norm + 1e-6)); clip 0 disables. */
    static float clipScale(double norm, float clip) {
        if (clip <= 0) return 1f;
        double c = clip / (norm + 1e-6);
        return c < 1 ? (float) c : 1f;
    }

    public Config config() {
        return cfg;
    }

    /** Whether the F-SAM EMA holds a gradient yet (checkpointed with it). */
    public boolean emaReady() {
        return emaReady;
    }

    public void setEmaReady(boolean ready) {
        this.emaReady = ready;
    }

    @Override
    public void setReducer(GradientReducer reducer, boolean globalPerturbation) {
        this.reducer = reducer;
        this.globalPerturbation = globalPerturbation;
    }

    @Override
    public Map<String, String> scalars() {
        return Map.of("steps", Long.toString(steps()), "fsam_ema_ready", Boolean.toString(emaReady));
    }

    @Override
    public void restoreScalars(Map<String, String> s) {
        setSteps(Long.parseLong(s.getOrDefault("steps", "0")));
        emaReady = Boolean.parseBoolean(s.getOrDefault("fsam_ema_ready", "false"));
    }

    @Override
    public BaseOptimizer base() {
        return base;
    }

    @Override
    public Map<String, MemorySegment> stateBuffers() {
        Map<String, MemorySegment> m = new LinkedHashMap<>(base.stateBuffers());
        if (ema != null) m.put("fsam_ema", ema);
        return m;
    }

    @Override
    public String describe() {
        return cfg.describe() + " + " + base.name();
    }
}
