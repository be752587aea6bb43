package io.sam4j.nn;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import io.sam4j.kernels.Kernels;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.IntConsumer;

/**
 * Batch normalisation over (N, H, W) per channel, as PyTorch's BatchNorm2d (eps 1e-5, momentum 0.1,
 * affine, tracked running statistics). Names: {@code weight} (gamma), {@code bias} (beta), buffers
 * {@code running_mean}, {@code running_var}, {@code num_batches_tracked} (a float scalar here,
 * int64 in PyTorch).
 *
 * <p>{@link Mode#TRAIN} normalises with the batch mean and biased variance and moves the running
 * statistics towards the batch mean and UNBIASED variance; {@link Mode#TRAIN_FROZEN_STATS} normalises
 * the same way but leaves every buffer untouched; {@link Mode#EVAL} normalises with the running
 * statistics, so its backward is the per-channel affine map only. Each pass over a channel is a
 * {@link Kernels} call per plane; per-channel sums add those plane sums in double.
 *
 * <p>With {@link Context#blocked()} the work item is a block of 8 channels, and each call is a per-lane
 * kernel over one image's block plane (8 channels interleaved): the same statistics, lane by lane. The
 * padded lanes get scale and shift 0, so their outputs and input gradients stay 0.
 */
public final class BatchNorm2d implements Layer {
    static final double EPS = 1e-5;
    static final double MOMENTUM = 0.1;

    private final int channels;
    private Context ctx;
    private int plane, blocks;
    private ParameterStore.Tensor gammaT, betaT, meanT, varT, trackedT;
    private MemorySegment gamma, beta, dGamma, dBeta, runningMean, runningVar, numBatchesTracked;
    /** Statistics the last forward normalised with, kept for its backward (padded to whole blocks). */
    private double[] mean, invStd;
    /** Per-lane scratch of the blocked path: each channel block uses only its own 8 entries. */
    private double[] laneAcc, laneAcc2;
    private float[] laneA, laneB, laneC, zeros;
    private boolean lastUsedBatchStats;
    private Mode mode;
    private int n;
    private boolean needInputGrad;
    private MemorySegment x, y, dy, dx;
    // Built once so that forward/backward hand the team no new lambda each call.
    private final IntConsumer forwardChannel = this::forwardChannel;
    private final IntConsumer backwardChannel = this::backwardChannel;
    private final IntConsumer forwardBlock = this::forwardBlock;
    private final IntConsumer backwardBlock = this::backwardBlock;

    public BatchNorm2d(int channels) {
        if (channels < 1) throw new IllegalArgumentException("channels must be >= 1");
        this.channels = channels;
    }

    @Override
    public int[] declare(int[] in, String prefix, ParameterStore.Builder b, Context ctx) {
        if (in.length != 3 || in[0] != channels) {
            throw new IllegalArgumentException(prefix + ": BatchNorm2d(" + channels + ") got input " + Arrays.toString(in));
        }
        this.ctx = ctx;
        this.plane = in[1] * in[2];
        // PyTorch's state_dict order: weight, bias, running_mean, running_var, num_batches_tracked.
        gammaT = b.param(prefix + "weight", channels);
        betaT = b.param(prefix + "bias", channels);
        meanT = b.buffer(prefix + "running_mean", channels);
        varT = b.buffer(prefix + "running_var", channels);
        trackedT = b.buffer(prefix + "num_batches_tracked");
        blocks = BlockedLayout.paddedChannels(channels) / BlockedLayout.LANES;
        int padded = blocks * BlockedLayout.LANES;
        mean = new double[padded];
        invStd = new double[padded];
        laneAcc = new double[padded];
        laneAcc2 = new double[padded];
        laneA = new float[padded];
        laneB = new float[padded];
        laneC = new float[padded];
        zeros = new float[padded];
        return in.clone();
    }

    @Override
    public void bind(ParameterStore store) {
        gamma = store.slice(gammaT);
        beta = store.slice(betaT);
        dGamma = store.gradSlice(gammaT);
        dBeta = store.gradSlice(betaT);
        runningMean = store.slice(meanT);
        runningVar = store.slice(varT);
        numBatchesTracked = store.slice(trackedT);
    }

    @Override
    public void initialize(ParameterStore store, SplittableRandom rng) {
        Init.constant(gamma, 1f);
        Init.constant(beta, 0f);
        Init.constant(runningMean, 0f);
        Init.constant(runningVar, 1f);
        Init.constant(numBatchesTracked, 0f);
    }

    @Override
    public MemorySegment forward(MemorySegment x, int n, Mode mode) {
        if (mode.training() && (long) n * plane < 2) {
            // As PyTorch: the unbiased variance of one value is undefined.
            throw new IllegalArgumentException("BatchNorm2d needs more than 1 value per channel when training");
        }
        this.x = x;
        this.n = n;
        this.mode = mode;
        this.lastUsedBatchStats = mode.training();
        if (ctx.blocked()) {
            y = ctx.ensure(y, (long) n * blocks * BlockedLayout.LANES * plane);
            ctx.parallel().forEach(blocks, forwardBlock);
        } else {
            y = ctx.ensure(y, (long) n * channels * plane);
            ctx.parallel().forEach(channels, forwardChannel);
        }
        if (mode == Mode.TRAIN) {
            numBatchesTracked.setAtIndex(JAVA_FLOAT, 0, numBatchesTracked.getAtIndex(JAVA_FLOAT, 0) + 1f);
        }
        return y;
    }

    /**
     * One channel: its n planes are [offset(i, ch), + plane). A channel is one work item, and its plane
     * sums are added in image order, so the statistics do not depend on the thread count.
     */
    private void forwardChannel(int ch) {
        Kernels k = ctx.kernels();
        double m, inv;
        if (lastUsedBatchStats) {
            // Per plane, the mean and then the squared deviations from it (a second read that hits L1;
            // E[x^2] - E[x]^2 would cancel); planes are merged in image order as Chan et al.'s
            // pairwise update: one read of the channel from memory for its statistics.
            long count = (long) n * plane;
            m = 0;
            double sq = 0;
            for (int i = 0; i < n; i++) {
                long from = offset(i, ch), to = from + plane;
                double pm = k.sum(x, from, to) / plane;
                double psq = k.sumSquaredDeviation(x, (float) pm, from, to);
                long before = (long) i * plane;
                double delta = pm - m;
                m += delta * plane / (before + plane);
                sq += psq + delta * delta * before * plane / (before + plane);
            }
            double biasedVar = sq / count;
            inv = 1.0 / Math.sqrt(biasedVar + EPS);
            if (mode == Mode.TRAIN) {
                double unbiasedVar = sq / (count - 1);
                runningMean.setAtIndex(JAVA_FLOAT, ch,
                        (float) ((1 - MOMENTUM) * runningMean.getAtIndex(JAVA_FLOAT, ch) + MOMENTUM * m));
                runningVar.setAtIndex(JAVA_FLOAT, ch,
                        (float) ((1 - MOMENTUM) * runningVar.getAtIndex(JAVA_FLOAT, ch) + MOMENTUM * unbiasedVar));
            }
        } else {
            m = runningMean.getAtIndex(JAVA_FLOAT, ch);
            inv = 1.0 / Math.sqrt(runningVar.getAtIndex(JAVA_FLOAT, ch) + EPS);
        }
        mean[ch] = m;
        invStd[ch] = inv;
        // y = gamma * (x - mean) * invStd + beta = scale * x + shift
        double g = gamma.getAtIndex(JAVA_FLOAT, ch);
        float scale = (float) (g * inv);
        float shift = (float) (beta.getAtIndex(JAVA_FLOAT, ch) - m * g * inv);
        for (int i = 0; i < n; i++) k.affine(x, y, scale, shift, offset(i, ch), offset(i, ch) + plane);
    }

    @Override
    public MemorySegment backward(MemorySegment dy, int n, boolean needInputGrad) {
        if (n != this.n) throw new IllegalStateException("backward for batch " + n + " after forward for " + this.n);
        this.dy = dy;
        this.needInputGrad = needInputGrad;
        if (ctx.blocked()) {
            if (needInputGrad) dx = ctx.ensure(dx, (long) n * blocks * BlockedLayout.LANES * plane);
            ctx.parallel().forEach(blocks, backwardBlock);
        } else {
            if (needInputGrad) dx = ctx.ensure(dx, (long) n * channels * plane);
            ctx.parallel().forEach(channels, backwardChannel);
        }
        return needInputGrad ? dx : null;
    }

    /**
     * dbeta = sum dy, dgamma = sum dy*xhat = invStd * sum dy*(x - mean). With batch statistics the
     * mean and variance depend on x: dx = gamma*invStd * (dy - dbeta/M - xhat*dgamma/M), which is
     * a*dy + b*x + c per channel, one pass; with running statistics dx = gamma*invStd*dy.
     */
    private void backwardChannel(int ch) {
        Kernels k = ctx.kernels();
        double m = mean[ch], inv = invStd[ch];
        float meanF = (float) m;
        double sumDy = 0, sumDyDev = 0;
        // Plane by plane, so that the second read of dy comes from L1.
        for (int i = 0; i < n; i++) {
            long from = offset(i, ch), to = from + plane;
            sumDy += k.sum(dy, from, to);
            sumDyDev += k.dotDeviation(dy, x, meanF, from, to);
        }
        double sumDyXhat = sumDyDev * inv;
        dBeta.setAtIndex(JAVA_FLOAT, ch, (float) sumDy);
        dGamma.setAtIndex(JAVA_FLOAT, ch, (float) sumDyXhat);
        if (!needInputGrad) return;
        double a = gamma.getAtIndex(JAVA_FLOAT, ch) * inv;
        if (!lastUsedBatchStats) {
            for (int i = 0; i < n; i++) k.affine(dy, dx, (float) a, 0f, offset(i, ch), offset(i, ch) + plane);
            return;
        }
        long count = (long) n * plane;
        // a*(dy - sumDy/M - (x - mean)*inv*dgamma/M) = a*dy + b*x + c
        double b = -a * inv * sumDyXhat / count;
        double c = -a * sumDy / count - b * m;
        for (int i = 0; i < n; i++) k.affine2(dy, x, dx, (float) a, (float) b, (float) c, offset(i, ch), offset(i, ch) + plane);
    }

    private long offset(int image, int ch) {
        return ((long) image * channels + ch) * plane;
    }

    // ---- blocked layout: one work item per block of 8 channels --------------------------------

    /** Start of the block plane of (image, block): plane pixels of 8 channels. */
    private long blockOffset(int image, int block) {
        return ((long) image * blocks + block) * plane * BlockedLayout.LANES;
    }

    /** {@link #forwardChannel} for 8 channels at once, lane by lane, with the same plane-wise merge. */
    private void forwardBlock(int block) {
        Kernels k = ctx.kernels();
        int lanes = BlockedLayout.LANES, at = block * lanes, real = Math.min(lanes, channels - at);
        long region = (long) plane * lanes;
        double[] m = mean, sq = laneAcc2, planeSum = laneAcc;
        float[] planeMean = laneC;
        if (lastUsedBatchStats) {
            for (int l = 0; l < lanes; l++) {
                m[at + l] = 0;
                sq[at + l] = 0;
            }
            double[] planeSq = invStd; // scratch until the statistics are final
            for (int i = 0; i < n; i++) {
                long from = blockOffset(i, block), to = from + region;
                for (int l = 0; l < lanes; l++) {
                    planeSum[at + l] = 0;
                    planeSq[at + l] = 0;
                }
                k.sumLanes(x, from, to, planeSum, at);
                for (int l = 0; l < lanes; l++) planeMean[at + l] = (float) (planeSum[at + l] / plane);
                k.sumSquaredDeviationLanes(x, planeMean, from, to, planeSq, at);
                long before = (long) i * plane;
                for (int l = 0; l < lanes; l++) {
                    double pm = planeSum[at + l] / plane, delta = pm - m[at + l];
                    m[at + l] += delta * plane / (before + plane);
                    sq[at + l] += planeSq[at + l] + delta * delta * before * plane / (before + plane);
                }
            }
            long count = (long) n * plane;
            for (int l = 0; l < real; l++) {
                int ch = at + l;
                invStd[ch] = 1.0 / Math.sqrt(sq[ch] / count + EPS);
                if (mode == Mode.TRAIN) {
                    double unbiasedVar = sq[ch] / (count - 1);
                    runningMean.setAtIndex(JAVA_FLOAT, ch,
                            (float) ((1 - MOMENTUM) * runningMean.getAtIndex(JAVA_FLOAT, ch) + MOMENTUM * m[ch]));
                    runningVar.setAtIndex(JAVA_FLOAT, ch,
                            (float) ((1 - MOMENTUM) * runningVar.getAtIndex(JAVA_FLOAT, ch) + MOMENTUM * unbiasedVar));
                }
            }
        } else {
            for (int l = 0; l < real; l++) {
                m[at + l] = runningMean.getAtIndex(JAVA_FLOAT, at + l);
                invStd[at + l] = 1.0 / Math.sqrt(runningVar.getAtIndex(JAVA_FLOAT, at + l) + EPS);
            }
        }
        float[] scale = laneA, shift = laneB;
        for (int l = 0; l < lanes; l++) {
            int ch = at + l;
            if (l >= real) { // padded channels: statistics 0, output 0
                m[ch] = 0;
                invStd[ch] = 0;
                scale[ch] = 0f;
                shift[ch] = 0f;
                continue;
            }
            double g = gamma.getAtIndex(JAVA_FLOAT, ch), inv = invStd[ch];
            scale[ch] = (float) (g * inv);
            shift[ch] = (float) (beta.getAtIndex(JAVA_FLOAT, ch) - m[ch] * g * inv);
        }
        for (int i = 0; i < n; i++) {
            long from = blockOffset(i, block);
            k.affineLanes(x, y, scale, shift, at, from, from + region);
        }
    }

    /** {@link #backwardChannel} for 8 channels at once; padded lanes get a = b = c = 0, so dx = 0 there. */
    private void backwardBlock(int block) {
        Kernels k = ctx.kernels();
        int lanes = BlockedLayout.LANES, at = block * lanes, real = Math.min(lanes, channels - at);
        long region = (long) plane * lanes;
        double[] sumDy = laneAcc, sumDyDev = laneAcc2;
        float[] meanF = laneC;
        for (int l = 0; l < lanes; l++) {
            sumDy[at + l] = 0;
            sumDyDev[at + l] = 0;
            meanF[at + l] = (float) mean[at + l];
        }
        for (int i = 0; i < n; i++) {
            long from = blockOffset(i, block), to = from + region;
            k.sumLanes(dy, from, to, sumDy, at);
            k.dotDeviationLanes(dy, x, meanF, from, to, sumDyDev, at);
        }
        for (int l = 0; l < real; l++) {
            dBeta.setAtIndex(JAVA_FLOAT, at + l, (float) sumDy[at + l]);
            dGamma.setAtIndex(JAVA_FLOAT, at + l, (float) (sumDyDev[at + l] * invStd[at + l]));
        }
        if (!needInputGrad) return;
        long count = (long) n * plane;
        float[] a = laneA, b = laneB, c = laneC;
        for (int l = 0; l < lanes; l++) {
            int ch = at + l;
            if (l >= real) {
                a[ch] = b[ch] = c[ch] = 0f;
                continue;
            }
            double inv = invStd[ch], ad = gamma.getAtIndex(JAVA_FLOAT, ch) * inv;
            a[ch] = (float) ad;
            if (lastUsedBatchStats) {
                double bd = -ad * inv * (sumDyDev[ch] * inv) / count;
                b[ch] = (float) bd;
                c[ch] = (float) (-ad * sumDy[ch] / count - bd * mean[ch]);
            }
        }
        for (int i = 0; i < n; i++) {
            long from = blockOffset(i, block), to = from + region;
            if (lastUsedBatchStats) k.affine2Lanes(dy, x, dx, a, b, c, at, from, to);
            else k.affineLanes(dy, dx, a, zeros, at, from, to);
        }
    }
}
