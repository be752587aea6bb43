package io.sam4j.optim;

import io.sam4j.kernels.EmaUpdate;
import io.sam4j.kernels.FlatOps;
import io.sam4j.kernels.Kernels;
import io.sam4j.kernels.Scaling;
import io.sam4j.nn.Mode;
import io.sam4j.nn.ParameterStore;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The whole SAM family as ONE optimizer composed of small choices ({@code docs/sam-family.md} has the
 * canonical step, {@code docs/efficient-sam.md} the efficient variants and the composition table):
 * <ul>
 *   <li>ascent direction: the gradient (SAM) or friendly {@code d = g - sigma*m} with the EMA
 *       {@code m} of first-pass gradients (F-SAM), optionally scaled element-wise by ASAM's T;</li>
 *   <li>normalisation: {@code e = rho*T^2 d/(||T d|| + eps)} (SAM) or {@code e = rho*T^2 d} (USAM);</li>
 *   <li>renormalisation: none, or StableSAM's {@code g_adv *= ||T_w g|| / (||T_{w+e} g_adv|| + 1e-12)};</li>
 *   <li>descent combination ({@link Descent}): g_adv itself, or GSAM's {@code g_adv - alpha*g_perp};</li>
 *   <li>rho schedule ({@link RhoSchedule}): constant, or proportional to the learning rate (GSAM);</li>
 *   <li>when to perturb ({@link PerturbPolicy}): every step, LookSAM's every k-th step, AE-SAM's
 *       adaptive rule or RST's random switch; the other steps run one forward/backward.</li>
 * </ul>
 * A two-pass step is four fused passes over the flat buffers: direction statistics (read-only), save
 * and perturb (with the EMA update), adversarial statistics (read-only), and restore + rescale + base
 * update (in the base optimizer); GSAM and LookSAM add a copy of g, one dot product and one axpy.
 * Weight decay never enters the perturbation, and the weights are restored by copy, bit for bit.
 */
public final class SharpnessAware implements Optimizer {
    public enum Direction { GRADIENT, FRIENDLY }

    /** ASAM's T: none, the official SamsungLabs form |w| + eta on weight tensors, or davda54's |w| everywhere. */
    public enum Adaptive { NONE, OFFICIAL, ELEMENTWISE }

    /**
     * @param rho        perturbation radius (rho_max under a learning-rate schedule)
     * @param sigma      F-SAM: weight of the EMA subtracted from g
     * @param lambda     F-SAM: EMA decay
     * @param eta        ASAM official form: T = |w| + eta
     * @param clip       > 0: clip the final gradient's global norm (0 = off)
     */
    public record Config(Direction direction, Adaptive adaptive, boolean normalized, boolean stable,
                         float rho, float sigma, float lambda, float eta, float clip,
                         Descent descent, RhoSchedule rhoSchedule, PerturbPolicy policy, Esam esam) {
        public Config {
            if (!(rho > 0)) throw new IllegalArgumentException("rho must be > 0, got " + rho);
            if (direction == Direction.FRIENDLY && !normalized) {
                throw new IllegalArgumentException("F-SAM with unnormalised (USAM) perturbations is undefined in the literature");
            }
            if (!(lambda >= 0 && lambda < 1)) throw new IllegalArgumentException("lambda must be in [0, 1), got " + lambda);
            if (!(sigma >= 0)) throw new IllegalArgumentException("sigma must be >= 0, got " + sigma);
            if (!(eta >= 0)) throw new IllegalArgumentException("eta must be >= 0, got " + eta);
            if (!(clip >= 0)) throw new IllegalArgumentException("clip must be >= 0, got " + clip);
            checkComposition(descent, rhoSchedule, policy, normalized, stable);
            checkEsam(esam, direction, descent, policy, normalized, stable);
        }

        /** The SAM family before GSAM: every step perturbs, d = g_adv, constant rho. */
        public Config(Direction direction, Adaptive adaptive, boolean normalized, boolean stable,
                      float rho, float sigma, float lambda, float eta, float clip) {
            this(direction, adaptive, normalized, stable, rho, sigma, lambda, eta, clip,
                    Descent.ADVERSARIAL, RhoSchedule.CONSTANT, PerturbPolicy.EVERY_STEP, Esam.OFF);
        }

        public static Config sam(float rho) {
            return new Config(Direction.GRADIENT, Adaptive.NONE, true, false, rho, 1f, 0.9f, 0.01f, 0f);
        }

        public Config withDescent(Descent d) {
            return new Config(direction, adaptive, normalized, stable, rho, sigma, lambda, eta, clip, d, rhoSchedule, policy, esam);
        }

        public Config withRhoSchedule(RhoSchedule r) {
            return new Config(direction, adaptive, normalized, stable, rho, sigma, lambda, eta, clip, descent, r, policy, esam);
        }

        public Config withPolicy(PerturbPolicy p) {
            return new Config(direction, adaptive, normalized, stable, rho, sigma, lambda, eta, clip, descent, rhoSchedule, p, esam);
        }

        public Config withEsam(Esam e) {
            return new Config(direction, adaptive, normalized, stable, rho, sigma, lambda, eta, clip, descent, rhoSchedule, policy, e);
        }

        /** ESAM's cells of the composition table. */
        private static void checkEsam(Esam esam, Direction direction, Descent descent, PerturbPolicy policy,
                                      boolean normalized, boolean stable) {
            java.util.Objects.requireNonNull(esam, "esam");
            if (!(esam instanceof Esam.On e)) return;
            boolean swp = e.beta() < 1;
            if (stable) throw new IllegalArgumentException("ESAM with StableSAM is undefined: the norms are over different masks and batches");
            if (descent instanceof Descent.Gsam) throw new IllegalArgumentException("ESAM with GSAM is undefined");
            if (swp && direction == Direction.FRIENDLY) {
                throw new IllegalArgumentException("ESAM's weight perturbation (beta < 1) with F-SAM is undefined: the masked g corrupts the EMA");
            }
            if (swp && !normalized) throw new IllegalArgumentException("ESAM's weight perturbation (beta < 1) with USAM is undefined");
            if (!(policy instanceof PerturbPolicy.EveryStep)) {
                throw new IllegalArgumentException("ESAM with a when-to-perturb policy (LookSAM, AE-SAM, RST) is undefined");
            }
        }

        /** The undefined cells of the composition table, refused with the reason. */
        private static void checkComposition(Descent descent, RhoSchedule rhoSchedule, PerturbPolicy policy,
                                             boolean normalized, boolean stable) {
            java.util.Objects.requireNonNull(descent, "descent");
            java.util.Objects.requireNonNull(rhoSchedule, "rhoSchedule");
            java.util.Objects.requireNonNull(policy, "policy");
            boolean gsam = descent instanceof Descent.Gsam;
            if (gsam && stable) throw new IllegalArgumentException("GSAM with StableSAM is undefined: both rewrite the final gradient");
            if (gsam && !normalized) throw new IllegalArgumentException("GSAM with USAM is undefined: GSAM's rho is a radius");
            if (rhoSchedule instanceof RhoSchedule.LearningRate && !normalized) {
                throw new IllegalArgumentException("a learning-rate rho schedule with USAM is undefined: its rho is not a radius");
            }
            if (policy instanceof PerturbPolicy.LookSam && stable) {
                throw new IllegalArgumentException("LookSAM with StableSAM is undefined: reuse steps have no g_adv to rescale");
            }
            if (policy instanceof PerturbPolicy.LookSam && gsam) {
                throw new IllegalArgumentException("LookSAM with GSAM is undefined: both define the descent direction");
            }
        }

        public String describe() {
            StringBuilder s = new StringBuilder();
            s.append(direction == Direction.FRIENDLY ? "fsam" : normalized ? "sam" : "usam");
            s.append("(rho=").append(rho);
            if (rhoSchedule instanceof RhoSchedule.LearningRate r) s.append("..").append(r.rhoMin()).append(" with the lr");
            if (direction == Direction.FRIENDLY) s.append(", sigma=").append(sigma).append(", lambda=").append(lambda);
            if (adaptive == Adaptive.OFFICIAL) s.append(", adaptive official eta=").append(eta);
            if (adaptive == Adaptive.ELEMENTWISE) s.append(", adaptive elementwise");
            if (stable) s.append(", stable");
            if (descent instanceof Descent.Gsam g) s.append(", gsam alpha=").append(g.alpha());
            switch (policy) {
                case PerturbPolicy.EveryStep e -> { }
                case PerturbPolicy.LookSam l -> s.append(", looksam k=").append(l.k()).append(" alpha=").append(l.alpha());
                case PerturbPolicy.AdaptiveRule a -> s.append(", ae-sam delta=").append(a.delta())
                        .append(" lambda1=").append(a.lambda1()).append(" lambda2=").append(a.lambda2());
                case PerturbPolicy.RandomSwitch r -> s.append(", rst ").append(r.schedule());
            }
            if (esam instanceof Esam.On e) s.append(", esam beta=").append(e.beta()).append(" gamma=").append(e.gamma());
            if (clip > 0) s.append(", clip=").append(clip);
            return s.append(")").toString();
        }
    }

    // Norm epsilons of the official code: 1e-12 everywhere except SamsungLabs ASAM's 1e-16; LookSAM's reuse 1e-8.
    private static final double EPS = 1e-12;
    private static final double EPS_ASAM = 1e-16;
    private static final double EPS_LOOKSAM = 1e-8;
    private static final double EPS_ESAM = 1e-7;

    private final ParameterStore store;
    private final FlatOps ops;
    private final BaseOptimizer base;
    private final Config cfg;
    private final MemorySegment saved;
    private final MemorySegment ema;
    /** The raw first-pass gradient, kept through pass 2 where GSAM or LookSAM need it (else null). */
    private final MemorySegment clean;
    /** LookSAM's stored component g_v of the SAM gradient orthogonal to g (else null), and its norm. */
    private final MemorySegment lookSamComponent;
    private double lookSamComponentNorm;
    private boolean emaReady;
    /** m-sharpness: the sum of the micro-batches' final gradients (allocated on the first such step). */
    private MemorySegment microSum;
    /** ESAM's per-example scratch (grown to the batch once). */
    private double[] esamBefore = new double[0], esamRise, esamScratch;
    private int[] esamSubset;
    /** How many examples ESAM's last selection kept (for the step's gradient-evaluation count). */
    private int esamSelected;
    /** AE-SAM's running mean and variance of |g|^2. */
    private double aeMean, aeVariance;
    private GradientReducer reducer;
    private boolean globalPerturbation;
    private final long[] spanFrom, spanTo;
    private final Scaling[] spanT;
    private final double[][] partials;

    public SharpnessAware(ParameterStore store, FlatOps ops, BaseOptimizer base, Config cfg) {
        this.store = store;
        this.ops = ops;
        this.base = base;
        this.cfg = cfg;
        this.saved = store.newStateBuffer();
        this.ema = cfg.direction() == Direction.FRIENDLY ? store.newStateBuffer() : null;
        boolean lookSam = cfg.policy() instanceof PerturbPolicy.LookSam;
        this.clean = lookSam || cfg.descent() instanceof Descent.Gsam ? store.newStateBuffer() : null;
        this.lookSamComponent = lookSam ? store.newStateBuffer() : null;
        // Spans of the flat buffer with one T each (padding goes with the tensor before it: it is zero).
        List<long[]> spans = new ArrayList<>();
        List<Scaling> ts = new ArrayList<>();
        List<ParameterStore.Tensor> tensors = store.paramTensors();
        for (int i = 0; i < tensors.size(); i++) {
            ParameterStore.Tensor t = tensors.get(i);
            long from = i == 0 ? 0 : t.offset();
            long to = i + 1 < tensors.size() ? tensors.get(i + 1).offset() : store.paramLength();
            Scaling scaling = switch (cfg.adaptive()) {
                case NONE -> Scaling.IDENTITY;
                case OFFICIAL -> t.isWeightKind() ? Scaling.absPlus(cfg.eta()) : Scaling.IDENTITY;
                case ELEMENTWISE -> Scaling.absPlus(0f);
            };
            int last = ts.size() - 1;
            if (last >= 0 && ts.get(last).equals(scaling)) spans.get(last)[1] = to;
            else {
                spans.add(new long[] {from, to});
                ts.add(scaling);
            }
        }
        if (spans.isEmpty()) {
            spans.add(new long[] {0, store.paramLength()});
            ts.add(Scaling.IDENTITY);
        }
        spanFrom = new long[spans.size()];
        spanTo = new long[spans.size()];
        spanT = ts.toArray(new Scaling[0]);
        for (int i = 0; i < spans.size(); i++) {
            spanFrom[i] = spans.get(i)[0];
            spanTo[i] = spans.get(i)[1];
        }
        partials = new double[FlatOps.chunks(store.paramLength())][3];
    }

    /** A kernel call on [from, to) with that range's T. */
    @FunctionalInterface
    private interface SpanBody {
        void run(long from, long to, Scaling t, double[] acc);
    }

    /** One fused multi-threaded pass: fixed chunks, each cut at span borders; sums combined in order. */
    private double[] pass(SpanBody body) {
        for (double[] p : partials) java.util.Arrays.fill(p, 0);
        ops.forChunks(store.paramLength(), (c, from, to) -> {
            double[] acc = partials[c];
            for (int s = 0; s < spanFrom.length; s++) {
                long a = Math.max(from, spanFrom[s]), b = Math.min(to, spanTo[s]);
                if (a < b) body.run(a, b, spanT[s], acc);
            }
        });
        double[] total = new double[3];
        for (double[] p : partials) for (int j = 0; j < 3; j++) total[j] += p[j];
        return total;
    }

    @Override
    public StepStats step(LossFunction f, float lr) {
        long t = base.steps();
        if (globalPerturbation) announce(f, false);
        double loss = f.lossAndGrad(Mode.TRAIN);
        if (reducer != null && globalPerturbation) reducer.reduce();
        if (cfg.esam() instanceof Esam.On esam) return esamStep(f, esam, loss, lr);
        // AE-SAM decides on |g|^2 of the raw gradient, so it pays one read pass; the others decide for free.
        double rawNormSq = cfg.policy() instanceof PerturbPolicy.AdaptiveRule ? ops.sumSquares(store.grads(), store.paramLength())
                : Double.NaN;
        boolean twoPass = switch (cfg.policy()) {
            case PerturbPolicy.EveryStep e -> true;
            case PerturbPolicy.LookSam l -> t % l.k() == 0;
            case PerturbPolicy.AdaptiveRule a -> adaptiveRule(a, rawNormSq, t);
            case PerturbPolicy.RandomSwitch r -> r.samStep(t);
        };
        return twoPass ? twoPassStep(f, loss, lr) : onePassStep(loss, lr, rawNormSq);
    }

    /** AE-SAM: updates the running moments with s (every step), then compares s with mu + c*sigma. */
    private boolean adaptiveRule(PerturbPolicy.AdaptiveRule a, double s, long t) {
        double d = a.delta();
        aeMean = d * aeMean + (1 - d) * s;
        aeVariance = d * aeVariance + (1 - d) * (s - aeMean) * (s - aeMean);
        return s >= aeMean + a.c(t) * Math.sqrt(aeVariance);
    }

    /** A step without the second pass: the base optimizer on g (LookSAM: plus its rescaled stored component). */
    private StepStats onePassStep(double loss, float lr, double rawNormSq) {
        MemorySegment g = store.grads();
        long n = store.paramLength();
        double gNorm = Math.sqrt(Double.isNaN(rawNormSq) ? ops.sumSquares(g, n) : rawNormSq);
        if (ema != null) updateEmaOnly(); // the F-SAM EMA follows every first-pass gradient
        double finalNorm = gNorm;
        if (cfg.policy() instanceof PerturbPolicy.LookSam l) {
            ops.axpy((float) (l.alpha() * gNorm / (lookSamComponentNorm + EPS_LOOKSAM)), lookSamComponent, g, n);
            finalNorm = Double.NaN;
        }
        double scale = finish(null, 1, finalNorm, lr);
        return new StepStats(loss, Double.NaN, gNorm, Double.NaN, Double.NaN, Double.NaN, Double.NaN, scale, false, 1);
    }

    /** m = g on F-SAM's first step, m = lambda*m + (1-lambda)*g after (as the perturb pass does). */
    private void updateEmaOnly() {
        long n = store.paramLength();
        if (!emaReady) {
            ops.copy(store.grads(), ema, n);
            emaReady = true;
        } else {
            ops.scale(cfg.lambda(), ema, n);
            ops.axpy(1f - cfg.lambda(), store.grads(), ema, n);
        }
    }

    private StepStats twoPassStep(LossFunction f, double loss, float lr) {
        Adversarial a = adversarial(f, lr, true);
        // 4. Restore by copy + rescale + weight decay + base update, one pass.
        double scale = finish(saved, a.scale(), a.finalNorm(), lr);
        return a.stats(loss, scale);
    }

    /**
     * What passes 1-3 of a two-pass step leave: w at w + e, the grads buffer holding the descent direction
     * (up to {@code scale}, StableSAM's or GSAM's factor), and the step's statistics.
     */
    private record Adversarial(double lossAdv, double gNorm, double advNorm, double eNorm, double eg, double ee,
                               double eAdv, double scale, double finalNorm) {
        StepStats stats(double loss, double appliedScale) {
            return new StepStats(loss, lossAdv, gNorm, advNorm, eAdv / (eNorm * advNorm), eNorm, (eAdv - eg) / ee,
                    appliedScale, true, 2);
        }
    }

    /**
     * Passes 1-3 after the first-pass gradient is in the grads buffer; {@code f} evaluates pass 2.
     * {@code reducedNext}: {@link #finish} all-reduces this g_adv next (false for an m-sharpness micro-batch).
     */
    private Adversarial adversarial(LossFunction f, float lr, boolean reducedNext) {
        Kernels k = ops.kernels();
        MemorySegment w = store.params(), g = store.grads();
        float sigma = cfg.sigma(), lambda = cfg.lambda();
        double rho = cfg.rhoSchedule().rho(cfg.rho(), lr);
        double eps = cfg.adaptive() == Adaptive.OFFICIAL ? EPS_ASAM : EPS;
        if (cfg.esam() instanceof Esam.On e) { // ||e|| = rho/beta, the official code's epsilon
            rho /= e.beta();
            eps = EPS_ESAM;
        }

        // 1. ||T g|| (StableSAM's numerator) and ||T d|| of the ascent direction. F-SAM's first step is SAM's.
        boolean friendly = ema != null && emaReady;
        double[] dir = pass((a, b, t, acc) -> k.directionStats(g, ema, w, a, b, friendly, sigma, t, acc));
        double gNorm = Math.sqrt(dir[0]);
        double dNorm = Math.sqrt(friendly ? dir[1] : dir[0]);
        float s = (float) (cfg.normalized() ? rho / (dNorm + eps) : rho);

        // 2. Save w, step to w + e, and (F-SAM) fold g into the EMA after d was formed from the old one.
        EmaUpdate emaUpdate = ema == null ? EmaUpdate.KEEP : emaReady ? EmaUpdate.BLEND : EmaUpdate.SET;
        double[] pert = pass((a, b, t, acc) -> k.perturb(w, saved, g, ema, a, b, s, friendly, sigma, emaUpdate, lambda, t, acc));
        if (ema != null) emaReady = true;
        if (clean != null) ops.copy(g, clean, store.paramLength());

        // Overlap pass 2's all-reduce with its backward: global, in place; local, out of place, as this rank's
        // g_adv is read below, and only where it is averaged as it is (localAveragedAsIs). ESAM's pass 2 runs a
        // forward-only pass first: no overlap promised there.
        if (!(cfg.esam() instanceof Esam.On)) {
            if (globalPerturbation) announce(f, false);
            else if (reducedNext && localAveragedAsIs()) announce(f, true);
        }
        double lossAdv = f.lossAndGrad(Mode.TRAIN_FROZEN_STATS);
        if (reducer != null && globalPerturbation) reducer.reduce();

        // 3. ||g_adv||, ||T_{w+e} g_adv|| (taken before the restore, as StableSAM's code does), <e, g_adv>.
        double[] adv = pass((a, b, t, acc) -> k.adversarialStats(w, saved, g, a, b, t, acc));
        double advNorm = Math.sqrt(adv[0]);
        double scale = cfg.stable() ? gNorm / (Math.sqrt(adv[1]) + EPS) : 1;
        double finalNorm = advNorm;
        if (clean != null) {
            // GSAM and LookSAM work with the raw g: its norm differs from ||T g|| only under ASAM.
            double rawNorm = cfg.adaptive() == Adaptive.NONE ? gNorm : Math.sqrt(ops.sumSquares(clean, store.paramLength()));
            double gh = ops.dot(clean, g, store.paramLength());
            if (cfg.descent() instanceof Descent.Gsam gsam) {
                scale *= gsamDescent(gsam.alpha(), rawNorm, advNorm, gh);
                finalNorm = Double.NaN;
            } else {
                storeLookSamComponent(rawNorm, gh);
            }
        }
        return new Adversarial(lossAdv, gNorm, advNorm, Math.sqrt(pert[0]), pert[1], pert[0], adv[2], scale, finalNorm);
    }

    /**
     * ESAM: the dropped tensors' first-pass gradient is zeroed (so e perturbs only the kept ones), and pass
     * 2 runs on the examples selected after a forward-only pass at w + e.
     */
    private StepStats esamStep(LossFunction f, Esam.On esam, double loss, float lr) {
        if (!(f instanceof ExampleLossFunction ef)) {
            throw new IllegalArgumentException("ESAM needs per-example losses: the loss function must be an ExampleLossFunction");
        }
        int n = ef.batchSize();
        if (esamBefore.length < n) {
            esamBefore = new double[n];
            esamRise = new double[n];
            esamScratch = new double[n];
            esamSubset = new int[n];
        }
        for (int i = 0; i < n; i++) esamBefore[i] = ef.exampleLoss(i);
        List<ParameterStore.Tensor> tensors = store.paramTensors();
        long t = base.steps();
        for (int i = 0; i < tensors.size(); i++) {
            ParameterStore.Tensor tensor = tensors.get(i);
            if (!esam.keeps(t, i)) ops.kernels().fill(0f, store.grads(), tensor.offset(), tensor.offset() + tensor.size());
        }
        LossFunction selected = esam.gamma() >= 0.99f ? f : mode -> {
            ef.lossOnly(mode);
            for (int i = 0; i < n; i++) esamRise[i] = ef.exampleLoss(i) - esamBefore[i];
            esamSelected = esam.select(esamRise, n, esamSubset, esamScratch);
            return ef.lossAndGradOn(mode, esamSubset, esamSelected);
        };
        Adversarial a = adversarial(selected, lr, true);
        double scale = finish(saved, a.scale(), a.finalNorm(), lr);
        double secondPass = esam.gamma() >= 0.99f ? 1 : StepStats.FORWARD_ONLY + (double) esamSelected / n;
        return a.stats(loss, scale).withGradEvaluations(1 + secondPass);
    }

    /**
     * In-process m-sharpness: each micro-batch perturbs along its own gradient (its own e, F-SAM's EMA
     * updated per micro-batch, StableSAM's and GSAM's factors per micro-batch), the weights are restored by
     * copy after each, and ONE base step takes the share-weighted mean of the micro-batches' final
     * gradients, as data-parallel workers with local perturbations do. One micro-batch is {@link #step}.
     */
    public StepStats stepPerMicroBatch(MicroBatchLoss micro, float lr) {
        if (!(cfg.policy() instanceof PerturbPolicy.EveryStep)) {
            throw new IllegalArgumentException("m-sharpness with a when-to-perturb policy is undefined: the policy decides on the whole step's gradient");
        }
        if (reducer != null && globalPerturbation) {
            throw new IllegalArgumentException("m-sharpness and global perturbations contradict each other (one e for all)");
        }
        if (cfg.esam() instanceof Esam.On) throw new IllegalArgumentException("ESAM with m-sharpness is undefined");
        long n = store.paramLength();
        MemorySegment w = store.params(), g = store.grads();
        if (microSum == null) microSum = store.newStateBuffer();
        double loss = 0, lossAdv = 0, gNorm = 0, advNorm = 0, eNorm = 0;
        for (int k = 0; k < micro.count(); k++) {
            int mb = k;
            double share = micro.weight(k);
            loss += share * micro.lossAndGrad(Mode.TRAIN, mb);
            Adversarial a = adversarial(mode -> micro.lossAndGrad(mode, mb), lr, false);
            float weight = (float) (share * a.scale());
            if (k == 0) {
                ops.copy(g, microSum, n);
                if (weight != 1f) ops.scale(weight, microSum, n);
            } else {
                ops.axpy(weight, g, microSum, n);
            }
            ops.copy(saved, w, n); // restore before the next micro-batch's first pass
            lossAdv += share * a.lossAdv();
            gNorm += share * a.gNorm();
            advNorm += share * a.advNorm();
            eNorm += share * a.eNorm();
        }
        ops.copy(microSum, g, n);
        double scale = finish(null, 1, Double.NaN, lr);
        return new StepStats(loss, lossAdv, gNorm, advNorm, Double.NaN, eNorm, Double.NaN, scale, true, 2);
    }

    /** Tells the reducer, before a backward, that it averages this gradient next (in place, or keeping it local). */
    private void announce(LossFunction f, boolean keepLocal) {
        if (reducer == null || !f.singleBackward()) return; // a sum of backwards is final only at the end
        if (keepLocal) reducer.expectGradientKeepingLocal();
        else reducer.expectGradient();
    }

    /**
     * Local perturbations: whether a two-pass step's g_adv reaches the all-reduce unchanged, so that its
     * sum may run during pass 2's backward. Each rank's own factor multiplies it first under StableSAM
     * (||g_k||/||g_adv,k||) and GSAM (the descent rewrites it with the rank's g_k), and the mean of
     * s_k*g_k is no function of the mean of g_k: those keep the blocking all-reduce. SAM, USAM, ASAM,
     * F-SAM and LookSAM's SAM steps (its component is built from the rank's own g_adv, read-only) overlap;
     * clipping measures the average, after the all-reduce, either way. LookSAM's reuse steps and RST's
     * one-pass steps reduce the first-pass gradient, which is not announced (blocking), and ESAM's pass 2 is
     * not overlapped in either mode.
     */
    private boolean localAveragedAsIs() {
        return !cfg.stable() && !(cfg.descent() instanceof Descent.Gsam);
    }

    /**
     * GSAM: d = h - alpha*(g - c*h) = (1 + alpha*c)*h - alpha*g with c*h the part of g along h. The grads
     * buffer (h) becomes d / (1 + alpha*c) by one axpy; the returned factor (1 + alpha*c) goes into the
     * base step's gradient scale.
     */
    private double gsamDescent(float alpha, double gNorm, double hNorm, double gh) {
        long n = store.paramLength();
        double cos = gh / (gNorm * hNorm + EPS);
        double c = cos * gNorm / (hNorm + EPS);
        double factor = 1 + alpha * c;
        if (factor == 0) { // d = -alpha*g exactly
            ops.copy(clean, store.grads(), n);
            return -alpha;
        }
        ops.axpy((float) (-alpha / factor), clean, store.grads(), n);
        return factor;
    }

    /** LookSAM's refresh step: g_v = h - <h, g^> g^ (h stays the descent direction). */
    private void storeLookSamComponent(double gNorm, double gh) {
        long n = store.paramLength();
        float c = gNorm > 0 ? (float) (-gh / (gNorm * gNorm)) : 0f;
        MemorySegment g = store.grads();
        Kernels k = ops.kernels();
        ops.forChunks(n, (i, from, to) -> k.triad(g, c, clean, lookSamComponent, from, to));
        lookSamComponentNorm = Math.sqrt(ops.sumSquares(lookSamComponent, n));
    }

    /**
     * The final gradient to the base optimizer: with local perturbations each worker's factor is applied
     * before the average; clipping measures the final gradient ({@code norm} = ||grads|| before the scale,
     * NaN when not known). Returns the factor the base step applied.
     */
    private double finish(MemorySegment restoreFrom, double scale, double norm, float lr) {
        MemorySegment g = store.grads();
        long n = store.paramLength();
        if (reducer != null && !globalPerturbation) {
            // scale is 1 where pass 2 was announced for an out-of-place sum (localAveragedAsIs).
            if (scale != 1) ops.scale((float) scale, g, n);
            reducer.reduce();
            scale = 1;
            if (cfg.clip() > 0) scale = clipScale(Math.sqrt(ops.sumSquares(g, n)), cfg.clip());
        } else if (cfg.clip() > 0) {
            if (Double.isNaN(norm)) norm = Math.sqrt(ops.sumSquares(g, n));
            scale *= clipScale(scale * norm, cfg.clip());
        }
        base.step(restoreFrom, (float) scale, lr);
        return scale;
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

    /** F-SAM's EMA of first-pass gradients (null unless the direction is friendly). */
    public MemorySegment friendlyEma() {
        return ema;
    }

    /** LookSAM's stored orthogonal component g_v (null unless the policy is LookSAM). */
    public MemorySegment lookSamComponent() {
        return lookSamComponent;
    }

    /** AE-SAM's running mean of |g|^2. */
    public double aeMean() {
        return aeMean;
    }

    /** AE-SAM's running variance of |g|^2. */
    public double aeVariance() {
        return aeVariance;
    }

    @Override
    public void setReducer(GradientReducer reducer, boolean globalPerturbation) {
        if (reducer != null && !globalPerturbation && cfg.policy() instanceof PerturbPolicy.AdaptiveRule) {
            // Each rank would decide on its own |g_k|^2 and the ranks would run different passes.
            throw new IllegalArgumentException("AE-SAM across data-parallel workers needs global perturbations");
        }
        this.reducer = reducer;
        this.globalPerturbation = globalPerturbation;
    }

    @Override
    public Map<String, String> scalars() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("steps", Long.toString(steps()));
        m.put("fsam_ema_ready", Boolean.toString(emaReady));
        if (lookSamComponent != null) m.put("looksam_component_norm", Double.toString(lookSamComponentNorm));
        if (cfg.policy() instanceof PerturbPolicy.AdaptiveRule) {
            m.put("ae_mean", Double.toString(aeMean));
            m.put("ae_variance", Double.toString(aeVariance));
        }
        return m;
    }

    @Override
    public void restoreScalars(Map<String, String> s) {
        setSteps(Long.parseLong(s.getOrDefault("steps", "0")));
        emaReady = Boolean.parseBoolean(s.getOrDefault("fsam_ema_ready", "false"));
        lookSamComponentNorm = Double.parseDouble(s.getOrDefault("looksam_component_norm", "0"));
        aeMean = Double.parseDouble(s.getOrDefault("ae_mean", "0"));
        aeVariance = Double.parseDouble(s.getOrDefault("ae_variance", "0"));
    }

    @Override
    public boolean perturbs() {
        return true;
    }

    @Override
    public BaseOptimizer base() {
        return base;
    }

    @Override
    public Map<String, MemorySegment> stateBuffers() {
        Map<String, MemorySegment> m = new LinkedHashMap<>(base.stateBuffers());
        m.putAll(perWorkerState());
        return m;
    }

    @Override
    public Map<String, MemorySegment> perWorkerState() {
        Map<String, MemorySegment> m = new LinkedHashMap<>();
        if (ema != null) m.put("fsam_ema", ema);
        if (lookSamComponent != null) m.put("looksam_component", lookSamComponent);
        return m;
    }

    @Override
    public String describe() {
        return cfg.describe() + " + " + base.name();
    }
}
