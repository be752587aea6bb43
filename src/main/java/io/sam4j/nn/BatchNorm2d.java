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
 * <p>With {@link Context#blocked()} each call is a per-lane kernel over one image's block plane (8 or 16
 * channels interleaved): the same statistics, lane by lane. A block of channels would be too coarse a
 * work item (4 for a 32-channel layer), so each pass runs in three steps: per-plane sums over all block
 * planes across the team, then per block the merge of its planes in image order (the same arithmetic as
 * above, whatever the thread count), then the affine map over all block planes across the team. The
 * padded lanes get scale and shift 0, so their outputs and input gradients stay 0.
 */
public final class BatchNorm2d implements Layer {
    static final double EPS = 1e-5;
    static final double MOMENTUM = 0.1;

    private final int channels;
    private Context ctx;
    private int plane, blocks, lanes; // blocks and lanes: of the blocked layout at the last forward
    private ParameterStore.Tensor gammaT, betaT, meanT, varT, trackedT;
    private MemorySegment gamma, beta, dGamma, dBeta, runningMean, runningVar, numBatchesTracked;
    /** Statistics the last forward normalised with, kept for its backward (padded to whole blocks). */
    private double[] mean, invStd;
    /** Blocked path, per channel: the affine maps' coefficients and the mean in float. */
    private float[] laneA, laneB, laneC, meanF, zeros;
    /** Blocked path, per block plane p (8 entries at 8 p): plane sums and squared deviations (or dot products). */
    private double[] planeSum = new double[0], planeSq = new double[0];
    private float[] planeMean = new float[0];
    private boolean lastUsedBatchStats;
    private Mode mode;
    private int n;
    private boolean needInputGrad;
    private MemorySegment x, y, dy, dx;
    // Built once so that forward/backward hand the team no new lambda each call.
    private final IntConsumer forwardChannel = this::forwardChannel;
    private final IntConsumer backwardChannel = this::backwardChannel;
    private final PlaneBlocks statsPlanes = new PlaneBlocks(this::statsPlane);
    private final IntConsumer finishForwardBlock = this::finishForwardBlock;
    private final PlaneBlocks affinePlanes = new PlaneBlocks(this::affinePlane);
    private final PlaneBlocks gradStatsPlanes = new PlaneBlocks(this::gradStatsPlane);
    private final IntConsumer finishBackwardBlock = this::finishBackwardBlock;
    private final PlaneBlocks gradAffinePlanes = new PlaneBlocks(this::gradAffinePlane);

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
        int padded = BlockedLayout.paddedChannels(channels, BlockedLayout.MAX_LANES); // fits either block width
        mean = new double[padded];
        invStd = new double[padded];
        laneA = new float[padded];
        laneB = new float[padded];
        laneC = new float[padded];
        meanF = new float[padded];
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
            lanes = ctx.lanes();
            blocks = BlockedLayout.paddedChannels(channels, lanes) / lanes;
            int planes = n * blocks;
            long region = (long) plane * lanes;
            y = ctx.ensure(y, planes * region);
            ensurePlaneArrays(planes);
            if (lastUsedBatchStats) statsPlanes.run(ctx.parallel(), planes, region);
            ctx.parallel().forEach(blocks, finishForwardBlock);
            affinePlanes.run(ctx.parallel(), planes, region);
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
            inv = batchInvStd(ch, m, sq, count);
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
            int planes = n * blocks;
            long region = (long) plane * lanes;
            gradStatsPlanes.run(ctx.parallel(), planes, region);
            ctx.parallel().forEach(blocks, finishBackwardBlock);
            if (needInputGrad) {
                dx = ctx.ensure(dx, planes * region);
                gradAffinePlanes.run(ctx.parallel(), planes, region);
            }
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

    /**
     * 1/sqrt(biased variance + eps) of a channel from its batch mean m and summed squared deviations sq over
     * count values; in {@link Mode#TRAIN} also moves the running statistics (towards the UNBIASED variance).
     */
    private double batchInvStd(int ch, double m, double sq, long count) {
        if (mode == Mode.TRAIN) {
            double unbiasedVar = sq / (count - 1);
            runningMean.setAtIndex(JAVA_FLOAT, ch,
                    (float) ((1 - MOMENTUM) * runningMean.getAtIndex(JAVA_FLOAT, ch) + MOMENTUM * m));
            runningVar.setAtIndex(JAVA_FLOAT, ch,
                    (float) ((1 - MOMENTUM) * runningVar.getAtIndex(JAVA_FLOAT, ch) + MOMENTUM * unbiasedVar));
        }
        return 1.0 / Math.sqrt(sq / count + EPS);
    }

    private long offset(int image, int ch) {
        return ((long) image * channels + ch) * plane;
    }

    // ---- blocked layout: block plane p = image * blocks + block, [plane][lanes] at p * plane * lanes ---

    private void ensurePlaneArrays(int planes) {
        int len = planes * lanes;
        if (planeSum.length < len) {
            planeSum = new double[len];
            planeSq = new double[len];
            planeMean = new float[len];
        }
    }

    private long planeOffset(int p) {
        return (long) p * plane * lanes;
    }

    /** Per lane: the plane's sum, then the squared deviations from the plane's mean (a second read from L1/L2). */
    private void statsPlane(int p) {
        Kernels k = ctx.kernels();
        int at = p * lanes;
        long from = planeOffset(p), to = from + (long) plane * lanes;
        for (int l = 0; l < lanes; l++) {
            planeSum[at + l] = 0;
            planeSq[at + l] = 0;
        }
        k.sumLanes(lanes, x, from, to, planeSum, at);
        for (int l = 0; l < lanes; l++) planeMean[at + l] = (float) (planeSum[at + l] / plane);
        k.sumSquaredDeviationLanes(lanes, x, planeMean, from, to, planeSq, at);
    }

    /**
     * {@link #forwardChannel}'s statistics for one block of channels: the planes merged in image order (Chan et al.),
     * the running statistics, and the affine map's scale and shift (0 and 0 on padded lanes).
     */
    private void finishForwardBlock(int block) {
        int at = block * lanes, real = Math.min(lanes, channels - at);
        for (int l = 0; l < lanes; l++) {
            int ch = at + l;
            if (l >= real) { // padded channels: statistics 0, output 0
                mean[ch] = 0;
                invStd[ch] = 0;
                meanF[ch] = 0f;
                laneA[ch] = 0f;
                laneB[ch] = 0f;
                continue;
            }
            double m, inv;
            if (lastUsedBatchStats) {
                long count = (long) n * plane;
                m = 0;
                double sq = 0;
                for (int i = 0; i < n; i++) {
                    int q = (i * blocks + block) * lanes + l;
                    double pm = planeSum[q] / plane, delta = pm - m;
                    long before = (long) i * plane;
                    m += delta * plane / (before + plane);
                    sq += planeSq[q] + delta * delta * before * plane / (before + plane);
                }
                inv = batchInvStd(ch, m, sq, count);
            } else {
                m = runningMean.getAtIndex(JAVA_FLOAT, ch);
                inv = 1.0 / Math.sqrt(runningVar.getAtIndex(JAVA_FLOAT, ch) + EPS);
            }
            mean[ch] = m;
            invStd[ch] = inv;
            meanF[ch] = (float) m;
            double g = gamma.getAtIndex(JAVA_FLOAT, ch);
            laneA[ch] = (float) (g * inv);
            laneB[ch] = (float) (beta.getAtIndex(JAVA_FLOAT, ch) - m * g * inv);
        }
    }

    private void affinePlane(int p) {
        long from = planeOffset(p);
        ctx.kernels().affineLanes(lanes, x, y, laneA, laneB, (p % blocks) * lanes, from, from + (long) plane * lanes);
    }

    /** Per lane: sum dy and sum dy*(x - mean) over the plane. */
    private void gradStatsPlane(int p) {
        Kernels k = ctx.kernels();
        int at = p * lanes;
        long from = planeOffset(p), to = from + (long) plane * lanes;
        int channel0 = (p % blocks) * lanes;
        for (int l = 0; l < lanes; l++) {
            planeSum[at + l] = 0;
            planeSq[at + l] = 0;
            planeMean[at + l] = meanF[channel0 + l]; // the kernels read c and acc at the same index
        }
        k.sumLanes(lanes, dy, from, to, planeSum, at);
        k.dotDeviationLanes(lanes, dy, x, planeMean, from, to, planeSq, at);
    }

    /** {@link #backwardChannel}'s sums for one block of channels in image order, the gradients, and dx's coefficients. */
    private void finishBackwardBlock(int block) {
        int at = block * lanes, real = Math.min(lanes, channels - at);
        long count = (long) n * plane;
        for (int l = 0; l < lanes; l++) {
            int ch = at + l;
            if (l >= real) { // padded channels: dx = 0
                laneA[ch] = laneB[ch] = laneC[ch] = 0f;
                continue;
            }
            double sumDy = 0, sumDyDev = 0;
            for (int i = 0; i < n; i++) {
                int q = (i * blocks + block) * lanes + l;
                sumDy += planeSum[q];
                sumDyDev += planeSq[q];
            }
            double inv = invStd[ch], sumDyXhat = sumDyDev * inv;
            dBeta.setAtIndex(JAVA_FLOAT, ch, (float) sumDy);
            dGamma.setAtIndex(JAVA_FLOAT, ch, (float) sumDyXhat);
            double a = gamma.getAtIndex(JAVA_FLOAT, ch) * inv;
            laneA[ch] = (float) a;
            if (lastUsedBatchStats) {
                double b = -a * inv * sumDyXhat / count;
                laneB[ch] = (float) b;
                laneC[ch] = (float) (-a * sumDy / count - b * mean[ch]);
            }
        }
    }

    private void gradAffinePlane(int p) {
        long from = planeOffset(p), to = from + (long) plane * lanes;
        int at = (p % blocks) * lanes;
        if (lastUsedBatchStats) ctx.kernels().affine2Lanes(lanes, dy, x, dx, laneA, laneB, laneC, at, from, to);
        else ctx.kernels().affineLanes(lanes, dy, dx, laneA, zeros, at, from, to);
    }
}
