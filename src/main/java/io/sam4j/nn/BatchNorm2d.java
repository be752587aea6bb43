package io.sam4j.nn;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import io.sam4j.kernels.Kernels;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.IntConsumer;

/**
 * Batch normalisation over (N, H, W) per channel, as PyTorch's BatchNorm2d (eps 1e-5, momentum 0.1,
 * affine, tracked running statistics). Names: {@code weight} (gamma), {@code bias} (beta), buffers
 * {@code running_mean}, {@code running_var}, {@code num_batches_tracked} (an int64 scalar, as in
 * PyTorch).
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
 *
 * <p><b>SyncBatchNorm</b> ({@link Context#batchStatisticsSum()} set): batch statistics are summed over the
 * data-parallel ranks between computing them and normalising, and so are the backward's two sums (sum dy,
 * sum dy*(x - mean)) before the input gradient; gamma's and beta's gradients stay per rank (the gradient
 * all-reduce averages them). N ranks then normalise and back-propagate as one process on the global batch,
 * in both SAM passes, as {@link Mode} rules them; the running statistics follow the global statistics.
 *
 * <p><b>Fused ReLU</b> ({@link #withRelu}): the output is max(0, bn(x)), written by the normalising pass itself,
 * so no ReLU layer follows and no ReLU pass runs. The backward needs no saved mask: each of its passes
 * recomputes the gate bn(x) > 0 from x and the forward's per-channel scale and shift, with the forward's own float
 * operations (the same kernel set, the same ranges), so the gate is the forward's bit for bit, and dy is gated on
 * the fly. Results equal BatchNorm2d followed by {@link ReLU} bit for bit (for finite values). The R-passes take the
 * gate from the output (y > 0), as {@link ReLU}'s do: R{y} = gate * R{bn}, and R{dy} is gated like dy.
 * Parameters and buffers keep BatchNorm2d's names.
 */
public final class BatchNorm2d implements Layer {
    static final double EPS = 1e-5;
    static final double MOMENTUM = 0.1;

    private final int channels;
    /** Whether a ReLU is fused into this layer's output ({@link #withRelu}). */
    private final boolean relu;
    private Context ctx;
    private int plane, blocks, lanes; // blocks and lanes: of the blocked layout at the last forward
    private ParameterStore.Tensor gammaT, betaT, meanT, varT, trackedT;
    private MemorySegment gamma, beta, dGamma, dBeta, runningMean, runningVar, numBatchesTracked;
    /** Statistics the last forward normalised with, kept for its backward (padded to whole blocks). */
    private double[] mean, invStd;
    /** Per channel: squared deviations from the mean, then (backward) sum dy and sum dy*(x - mean). */
    private double[] devSq, sumDy, sumDyDev;
    /** Values per channel the batch statistics cover: this rank's, or all ranks' under SyncBatchNorm. */
    private long count;
    private CrossRankSum sync;
    private double[] statsBuffer, gradSumsBuffer; // what SyncBatchNorm sums over the ranks
    /** Blocked path, per channel: the coefficients of dx's affine map and the mean in float. */
    private float[] laneA, laneB, laneC, meanF, zeros;
    /** Per channel, the forward's affine map y = scale*x + shift as it ran (in float): the fused ReLU's gate. */
    private float[] scale, shift;
    /** Blocked path, per block plane p (8 entries at 8 p): plane sums and squared deviations (or dot products). */
    private double[] planeSum = new double[0], planeSq = new double[0];
    private float[] planeMean = new float[0], planeScale = new float[0], planeShift = new float[0];
    private boolean lastUsedBatchStats;
    private Mode mode;
    private int n;
    private boolean needInputGrad;
    /** The last forward's input and output; the last backward's dy (re-read by rBackward) and dx (a pool buffer). */
    private MemorySegment x, y, dy, dx;
    /** Curvature products: slices of the direction and of Hv, the R-buffers, per channel R{mean} and a = mean(xhat R{x}). */
    private MemorySegment vGamma, vBeta, hGamma, hBeta, rx, ry, rdx, rdy;
    private double[] rMean, rDot;
    private boolean rBlocked, gaussNewton;
    private final IntConsumer rForwardChannel = this::rForwardChannel;
    private final IntConsumer rBackwardChannel = this::rBackwardChannel;
    // Built once so that forward/backward hand the team no new lambda each call.
    private final IntConsumer forwardChannel = this::forwardChannel;
    private final IntConsumer channelStats = this::channelStats;
    private final IntConsumer normaliseChannel = this::normaliseChannel;
    private final IntConsumer backwardChannel = this::backwardChannel;
    private final IntConsumer channelGradSums = this::channelGradSums;
    private final IntConsumer channelInputGrad = this::channelInputGrad;
    private final IntConsumer mergeForwardBlock = this::mergeForwardBlock;
    private final IntConsumer normaliseBlock = this::normaliseBlock;
    private final IntConsumer mergeBackwardBlock = this::mergeBackwardBlock;
    private final IntConsumer gradCoefficientsBlock = this::gradCoefficientsBlock;
    private final PlaneBlocks statsPlanes = new PlaneBlocks(this::statsPlane);
    private final IntConsumer finishForwardBlock = this::finishForwardBlock;
    private final PlaneBlocks affinePlanes = new PlaneBlocks(this::affinePlane);
    private final PlaneBlocks gradStatsPlanes = new PlaneBlocks(this::gradStatsPlane);
    private final IntConsumer finishBackwardBlock = this::finishBackwardBlock;
    private final PlaneBlocks gradAffinePlanes = new PlaneBlocks(this::gradAffinePlane);

    public BatchNorm2d(int channels) {
        this(channels, false);
    }

    private BatchNorm2d(int channels, boolean relu) {
        if (channels < 1) throw new IllegalArgumentException("channels must be >= 1");
        this.channels = channels;
        this.relu = relu;
    }

    /**
     * BatchNorm2d followed by a ReLU, as one layer (see the class comment): for a BatchNorm whose output
     * feeds only a ReLU. Its output must not be overwritten in place by the layer after it (the R-passes read it).
     */
    public static BatchNorm2d withRelu(int channels) {
        return new BatchNorm2d(channels, true);
    }

    /** Whether this layer applies a ReLU to its output. */
    public boolean fusesRelu() {
        return relu;
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
        trackedT = b.counter(prefix + "num_batches_tracked");
        int padded = BlockedLayout.paddedChannels(channels, BlockedLayout.MAX_LANES); // fits either block width
        mean = new double[padded];
        invStd = new double[padded];
        devSq = new double[padded];
        sumDy = new double[padded];
        sumDyDev = new double[padded];
        statsBuffer = new double[3 * channels];
        gradSumsBuffer = new double[2 * channels];
        laneA = new float[padded];
        laneB = new float[padded];
        laneC = new float[padded];
        meanF = new float[padded];
        zeros = new float[padded];
        scale = new float[padded];
        shift = new float[padded];
        rMean = new double[padded];
        rDot = new double[padded];
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
        numBatchesTracked.set(JAVA_LONG, 0, 0L);
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
        this.count = (long) n * plane;
        this.sync = lastUsedBatchStats ? ctx.batchStatisticsSum() : null;
        if (ctx.blocked()) {
            lanes = ctx.lanes();
            blocks = BlockedLayout.paddedChannels(channels, lanes) / lanes;
            int planes = n * blocks;
            long region = (long) plane * lanes;
            y = ctx.ensure(y, planes * region);
            ensurePlaneArrays(planes);
            if (lastUsedBatchStats) statsPlanes.run(ctx.parallel(), planes, region);
            if (sync == null) {
                ctx.parallel().forEach(blocks, finishForwardBlock);
            } else {
                ctx.parallel().forEach(blocks, mergeForwardBlock);
                syncStatistics();
                ctx.parallel().forEach(blocks, normaliseBlock);
            }
            affinePlanes.run(ctx.parallel(), planes, region);
        } else {
            y = ctx.ensure(y, (long) n * channels * plane);
            if (sync == null) {
                ctx.parallel().forEach(channels, forwardChannel);
            } else {
                ctx.parallel().forEach(channels, channelStats);
                syncStatistics();
                ctx.parallel().forEach(channels, normaliseChannel);
            }
        }
        if (mode == Mode.TRAIN) {
            numBatchesTracked.set(JAVA_LONG, 0, numBatchesTracked.get(JAVA_LONG, 0) + 1);
        }
        return y;
    }

    /**
     * One channel: its n planes are [offset(i, ch), + plane). A channel is one work item, and its plane
     * sums are added in image order, so the statistics do not depend on the thread count.
     */
    private void forwardChannel(int ch) {
        if (lastUsedBatchStats) channelStats(ch);
        normaliseChannel(ch);
    }

    /** This rank's batch mean and squared deviations of one channel, into mean[ch] and devSq[ch]. */
    private void channelStats(int ch) {
        Kernels k = ctx.kernels();
        // Per plane, the mean and then the squared deviations from it (a second read that hits L1;
        // E[x^2] - E[x]^2 would cancel); planes are merged in image order as Chan et al.'s
        // pairwise update: one read of the channel from memory for its statistics.
        double m = 0, sq = 0;
        for (int i = 0; i < n; i++) {
            long from = offset(i, ch), to = from + plane;
            double pm = k.sum(x, from, to) / plane;
            double psq = k.sumSquaredDeviation(x, (float) pm, from, to);
            long before = (long) i * plane;
            double delta = pm - m;
            m += delta * plane / (before + plane);
            sq += psq + delta * delta * before * plane / (before + plane);
        }
        mean[ch] = m;
        devSq[ch] = sq;
    }

    /** y = gamma * (x - mean) * invStd + beta for one channel, with the batch statistics or the running ones. */
    private void normaliseChannel(int ch) {
        Kernels k = ctx.kernels();
        double m, inv;
        if (lastUsedBatchStats) {
            m = mean[ch];
            inv = batchInvStd(ch, m, devSq[ch], count);
        } else {
            m = runningMean.getAtIndex(JAVA_FLOAT, ch);
            inv = 1.0 / Math.sqrt(runningVar.getAtIndex(JAVA_FLOAT, ch) + EPS);
        }
        mean[ch] = m;
        invStd[ch] = inv;
        // y = gamma * (x - mean) * invStd + beta = scale * x + shift
        double g = gamma.getAtIndex(JAVA_FLOAT, ch);
        float a = scale[ch] = (float) (g * inv);
        float b = shift[ch] = (float) (beta.getAtIndex(JAVA_FLOAT, ch) - m * g * inv);
        for (int i = 0; i < n; i++) {
            long from = offset(i, ch), to = from + plane;
            if (relu) k.affineRelu(x, y, a, b, from, to);
            else k.affine(x, y, a, b, from, to);
        }
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
            if (sync == null) {
                ctx.parallel().forEach(blocks, finishBackwardBlock);
            } else {
                ctx.parallel().forEach(blocks, mergeBackwardBlock);
                syncGradSums();
                ctx.parallel().forEach(blocks, gradCoefficientsBlock);
            }
            if (needInputGrad) {
                dx = ctx.gradients().acquire(this, planes * region);
                gradAffinePlanes.run(ctx.parallel(), planes, region);
            }
        } else {
            if (needInputGrad) dx = ctx.gradients().acquire(this, (long) n * channels * plane);
            if (sync == null) {
                ctx.parallel().forEach(channels, backwardChannel);
            } else {
                ctx.parallel().forEach(channels, channelGradSums);
                syncGradSums();
                ctx.parallel().forEach(channels, channelInputGrad);
            }
        }
        ctx.gradients().release(dy);
        return needInputGrad ? dx : null;
    }

    /**
     * dbeta = sum dy, dgamma = sum dy*xhat = invStd * sum dy*(x - mean). With batch statistics the
     * mean and variance depend on x: dx = gamma*invStd * (dy - dbeta/M - xhat*dgamma/M), which is
     * a*dy + b*x + c per channel, one pass; with running statistics dx = gamma*invStd*dy.
     */
    private void backwardChannel(int ch) {
        channelGradSums(ch);
        channelInputGrad(ch);
    }

    /** sum dy and sum dy*(x - mean) of one channel on this rank, and gamma's and beta's gradients from them. */
    private void channelGradSums(int ch) {
        Kernels k = ctx.kernels();
        float meanF = (float) mean[ch];
        double sDy = 0, sDyDev = 0;
        // Plane by plane, so that the second read of dy comes from L1. With the ReLU: over the gated dy.
        float a = scale[ch], b = shift[ch];
        for (int i = 0; i < n; i++) {
            long from = offset(i, ch), to = from + plane;
            sDy += relu ? k.sumRelu(dy, x, a, b, from, to) : k.sum(dy, from, to);
            sDyDev += relu ? k.dotDeviationRelu(dy, x, meanF, a, b, from, to) : k.dotDeviation(dy, x, meanF, from, to);
        }
        sumDy[ch] = sDy;
        sumDyDev[ch] = sDyDev;
        dBeta.setAtIndex(JAVA_FLOAT, ch, (float) sDy);
        dGamma.setAtIndex(JAVA_FLOAT, ch, (float) (sDyDev * invStd[ch]));
    }

    private void channelInputGrad(int ch) {
        if (!needInputGrad) return;
        Kernels k = ctx.kernels();
        double m = mean[ch], inv = invStd[ch];
        double sumDy = this.sumDy[ch], sumDyXhat = sumDyDev[ch] * inv;
        double a = gamma.getAtIndex(JAVA_FLOAT, ch) * inv, b = 0, c = 0;
        if (lastUsedBatchStats) { // a*(dy - sumDy/M - (x - mean)*inv*dgamma/M) = a*dy + b*x + c
            b = -a * inv * sumDyXhat / count;
            c = -a * sumDy / count - b * m;
        }
        for (int i = 0; i < n; i++) {
            long from = offset(i, ch), to = from + plane;
            if (relu) k.affine2Relu(dy, x, dx, (float) a, (float) b, (float) c, scale[ch], shift[ch], from, to);
            else if (lastUsedBatchStats) k.affine2(dy, x, dx, (float) a, (float) b, (float) c, from, to);
            else k.affine(dy, dx, (float) a, 0f, from, to);
        }
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

    /**
     * SyncBatchNorm, forward: every rank's (count, sum, sum of squares) per channel summed over the ranks,
     * then the global mean and squared deviations from it (Chan et al.'s merge of the ranks' statistics).
     */
    private void syncStatistics() {
        for (int ch = 0; ch < channels; ch++) {
            statsBuffer[3 * ch] = count;
            statsBuffer[3 * ch + 1] = count * mean[ch];
            statsBuffer[3 * ch + 2] = devSq[ch] + count * mean[ch] * mean[ch];
        }
        sync.sum(statsBuffer);
        for (int ch = 0; ch < channels; ch++) {
            double total = statsBuffer[3 * ch], sum = statsBuffer[3 * ch + 1];
            mean[ch] = sum / total;
            devSq[ch] = Math.max(0, statsBuffer[3 * ch + 2] - sum * mean[ch]);
        }
        count = (long) statsBuffer[0];
    }

    /** SyncBatchNorm, backward: sum dy and sum dy*(x - mean) over the ranks (gamma's and beta's gradients stay local). */
    private void syncGradSums() {
        for (int ch = 0; ch < channels; ch++) {
            gradSumsBuffer[2 * ch] = sumDy[ch];
            gradSumsBuffer[2 * ch + 1] = sumDyDev[ch];
        }
        sync.sum(gradSumsBuffer);
        for (int ch = 0; ch < channels; ch++) {
            sumDy[ch] = gradSumsBuffer[2 * ch];
            sumDyDev[ch] = gradSumsBuffer[2 * ch + 1];
        }
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
            planeScale = new float[len];
            planeShift = new float[len];
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
     * {@link #forwardChannel}'s statistics for 8 channels: the planes merged in image order (Chan et al.),
     * the running statistics, and the affine map's scale and shift (0 and 0 on padded lanes).
     */
    private void finishForwardBlock(int block) {
        if (lastUsedBatchStats) mergeForwardBlock(block);
        normaliseBlock(block);
    }

    /** This rank's batch statistics of a block's channels: its planes merged in image order, into mean and devSq. */
    private void mergeForwardBlock(int block) {
        int at = block * lanes, real = Math.min(lanes, channels - at);
        for (int l = 0; l < real; l++) {
            double m = 0, sq = 0;
            for (int i = 0; i < n; i++) {
                int q = (i * blocks + block) * lanes + l;
                double pm = planeSum[q] / plane, delta = pm - m;
                long before = (long) i * plane;
                m += delta * plane / (before + plane);
                sq += planeSq[q] + delta * delta * before * plane / (before + plane);
            }
            mean[at + l] = m;
            devSq[at + l] = sq;
        }
    }

    /** The affine maps' coefficients of a block's channels (0 on padded lanes). */
    private void normaliseBlock(int block) {
        int at = block * lanes, real = Math.min(lanes, channels - at);
        for (int l = 0; l < lanes; l++) {
            int ch = at + l;
            if (l >= real) { // padded channels: statistics 0, output 0
                mean[ch] = 0;
                invStd[ch] = 0;
                meanF[ch] = 0f;
                scale[ch] = 0f;
                shift[ch] = 0f;
                continue;
            }
            double m, inv;
            if (lastUsedBatchStats) {
                m = mean[ch];
                inv = batchInvStd(ch, m, devSq[ch], count);
            } else {
                m = runningMean.getAtIndex(JAVA_FLOAT, ch);
                inv = 1.0 / Math.sqrt(runningVar.getAtIndex(JAVA_FLOAT, ch) + EPS);
            }
            mean[ch] = m;
            invStd[ch] = inv;
            meanF[ch] = (float) m;
            double g = gamma.getAtIndex(JAVA_FLOAT, ch);
            scale[ch] = (float) (g * inv);
            shift[ch] = (float) (beta.getAtIndex(JAVA_FLOAT, ch) - m * g * inv);
        }
    }

    private void affinePlane(int p) {
        long from = planeOffset(p), to = from + (long) plane * lanes;
        int at = (p % blocks) * lanes;
        if (relu) ctx.kernels().affineReluLanes(lanes, x, y, scale, shift, at, from, to);
        else ctx.kernels().affineLanes(lanes, x, y, scale, shift, at, from, to);
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
        if (relu) { // over the gated dy, the gate's coefficients copied to the plane's index as the mean
            System.arraycopy(scale, channel0, planeScale, at, lanes);
            System.arraycopy(shift, channel0, planeShift, at, lanes);
            k.sumAndDotDeviationReluLanes(lanes, dy, x, planeMean, planeScale, planeShift, from, to, planeSum, planeSq, at);
        } else {
            k.sumLanes(lanes, dy, from, to, planeSum, at);
            k.dotDeviationLanes(lanes, dy, x, planeMean, from, to, planeSq, at);
        }
    }

    /** {@link #backwardChannel}'s sums for 8 channels in image order, the gradients, and dx's coefficients. */
    private void finishBackwardBlock(int block) {
        mergeBackwardBlock(block);
        gradCoefficientsBlock(block);
    }

    /** A block's per-plane sums added in image order, and gamma's and beta's gradients from them. */
    private void mergeBackwardBlock(int block) {
        int at = block * lanes, real = Math.min(lanes, channels - at);
        for (int l = 0; l < real; l++) {
            int ch = at + l;
            double sDy = 0, sDyDev = 0;
            for (int i = 0; i < n; i++) {
                int q = (i * blocks + block) * lanes + l;
                sDy += planeSum[q];
                sDyDev += planeSq[q];
            }
            sumDy[ch] = sDy;
            sumDyDev[ch] = sDyDev;
            dBeta.setAtIndex(JAVA_FLOAT, ch, (float) sDy);
            dGamma.setAtIndex(JAVA_FLOAT, ch, (float) (sDyDev * invStd[ch]));
        }
    }

    /** dx's coefficients a, b, c of a block's channels (0 on padded lanes). */
    private void gradCoefficientsBlock(int block) {
        int at = block * lanes, real = Math.min(lanes, channels - at);
        for (int l = 0; l < lanes; l++) {
            int ch = at + l;
            if (l >= real) { // padded channels: dx = 0
                laneA[ch] = laneB[ch] = laneC[ch] = 0f;
                continue;
            }
            double inv = invStd[ch], sumDy = this.sumDy[ch], sumDyXhat = sumDyDev[ch] * inv;
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
        Kernels k = ctx.kernels();
        if (relu) { // running statistics: dx = a*gated dy + 0*x + 0, which is a*gated dy
            float[] b = lastUsedBatchStats ? laneB : zeros, c = lastUsedBatchStats ? laneC : zeros;
            k.affine2ReluLanes(lanes, dy, x, dx, laneA, b, c, scale, shift, at, from, to);
        } else if (lastUsedBatchStats) {
            k.affine2Lanes(lanes, dy, x, dx, laneA, laneB, laneC, at, from, to);
        } else {
            k.affineLanes(lanes, dy, dx, laneA, zeros, at, from, to);
        }
    }

    // ---- exact curvature products: scalar loops per channel, in either layout -------------------------
    // Per channel, s = invStd, M = n*plane, xhat = (x - mean) s. Batch statistics (TRAIN*): R{mean} = mean R{x},
    // a = mean(xhat R{x}), R{s} = -s^2 a, R{xhat} = s (R{x} - R{mean} - a xhat). Running statistics (EVAL):
    // R{xhat} = s R{x}. R{y} = gamma R{xhat} + v_gamma xhat + v_beta. The R-passes never touch the buffers.
    // With the fused ReLU (relu'' = 0): R{y} and the dy, R{dy} that BatchNorm's part sees are gated by y > 0.

    @Override
    public void bindCurvature(ParameterStore store, MemorySegment v, MemorySegment hv) {
        vGamma = store.stateSlice(v, gammaT);
        vBeta = store.stateSlice(v, betaT);
        hGamma = store.stateSlice(hv, gammaT);
        hBeta = store.stateSlice(hv, betaT);
    }

    /** Index of (image, channel, pixel) in the current layout. */
    private long at(int image, int ch, int p) {
        if (!rBlocked) return ((long) image * channels + ch) * plane + p;
        return (((long) image * blocks + ch / lanes) * plane + p) * lanes + ch % lanes;
    }

    /** The fused ReLU's gate at (i, ch, p): the forward's output is positive (always open without a ReLU). */
    private boolean open(int i, int ch, int p) {
        return !relu || y.getAtIndex(JAVA_FLOAT, at(i, ch, p)) > 0f;
    }

    private double xhat(int i, int ch, int p) {
        return (x.getAtIndex(JAVA_FLOAT, at(i, ch, p)) - mean[ch]) * invStd[ch];
    }

    /** R{xhat} at (i, ch, p), from the kept R{x} and the channel's R{mean} and a. */
    private double rXhat(int i, int ch, int p) {
        if (rx == null) return 0;
        return invStd[ch] * (rx.getAtIndex(JAVA_FLOAT, at(i, ch, p)) - rMean[ch] - rDot[ch] * xhat(i, ch, p));
    }

    private int rChannels() {
        return rBlocked ? blocks * lanes : channels;
    }

    private long rLength() {
        return (long) n * rChannels() * plane;
    }

    @Override
    public MemorySegment rForward(MemorySegment rx, int n) {
        if (n != this.n) throw new IllegalStateException("rForward for batch " + n + " after forward for " + this.n);
        // The R-passes use this process's batch statistics; SyncBatchNorm's cross-rank sums have no R-pass.
        if (sync != null) throw new UnsupportedOperationException("exact curvature products under SyncBatchNorm (data-parallel batch statistics)");
        this.rx = rx;
        rBlocked = ctx.blocked();
        ry = ctx.ensure(ry, rLength());
        ctx.parallel().forEach(rChannels(), rForwardChannel);
        return ry;
    }

    private void rForwardChannel(int ch) {
        if (ch >= channels) { // padded lanes stay zero
            for (int i = 0; i < n; i++) for (int p = 0; p < plane; p++) ry.setAtIndex(JAVA_FLOAT, at(i, ch, p), 0f);
            return;
        }
        double m = (double) n * plane, sumR = 0, sumXhatR = 0;
        if (lastUsedBatchStats && rx != null) {
            for (int i = 0; i < n; i++) {
                for (int p = 0; p < plane; p++) {
                    double r = rx.getAtIndex(JAVA_FLOAT, at(i, ch, p));
                    sumR += r;
                    sumXhatR += xhat(i, ch, p) * r;
                }
            }
        }
        rMean[ch] = sumR / m;
        rDot[ch] = sumXhatR / m;
        double g = gamma.getAtIndex(JAVA_FLOAT, ch), vg = vGamma.getAtIndex(JAVA_FLOAT, ch), vb = vBeta.getAtIndex(JAVA_FLOAT, ch);
        for (int i = 0; i < n; i++) {
            for (int p = 0; p < plane; p++) {
                float r = open(i, ch, p) ? (float) (g * rXhat(i, ch, p) + vg * xhat(i, ch, p) + vb) : 0f;
                ry.setAtIndex(JAVA_FLOAT, at(i, ch, p), r);
            }
        }
    }

    @Override
    public MemorySegment rBackward(MemorySegment rdy, int n, boolean needInputGrad, boolean gaussNewton) {
        if (n != this.n) throw new IllegalStateException("rBackward for batch " + n + " after forward for " + this.n);
        this.rdy = rdy;
        this.needInputGrad = needInputGrad;
        this.gaussNewton = gaussNewton;
        if (needInputGrad) rdx = ctx.ensure(rdx, rLength());
        ctx.parallel().forEach(rChannels(), rBackwardChannel);
        return needInputGrad ? rdx : null;
    }

    /**
     * h_beta = sum R{dy}, h_gamma = sum (R{dy} xhat + dy R{xhat}). R{dx}: with running statistics
     * s (gamma R{dy} + v_gamma dy); with batch statistics the product rule on dx = k (M dy - g_beta - xhat g_gamma),
     * k = gamma s / M: R{dx} = R{k} (M dy - g_beta - xhat g_gamma) + k (M R{dy} - h_beta - R{xhat} g_gamma - xhat h_gamma).
     * Gauss-Newton keeps the backward of R{dy} alone.
     */
    private void rBackwardChannel(int ch) {
        if (ch >= channels) {
            if (needInputGrad) for (int i = 0; i < n; i++) for (int p = 0; p < plane; p++) rdx.setAtIndex(JAVA_FLOAT, at(i, ch, p), 0f);
            return;
        }
        boolean full = !gaussNewton;
        double sumRdy = 0, sumRdyXhat = 0, sumDyRxhat = 0, sumDy = 0, sumDyXhat = 0;
        for (int i = 0; i < n; i++) {
            for (int p = 0; p < plane; p++) {
                if (!open(i, ch, p)) continue; // gated R{dy} and dy: no terms
                long k = at(i, ch, p);
                double r = rdy.getAtIndex(JAVA_FLOAT, k), xh = xhat(i, ch, p);
                sumRdy += r;
                sumRdyXhat += r * xh;
                if (full) {
                    double d = dy.getAtIndex(JAVA_FLOAT, k);
                    sumDyRxhat += d * rXhat(i, ch, p);
                    sumDy += d;
                    sumDyXhat += d * xh;
                }
            }
        }
        double hb = sumRdy, hg = sumRdyXhat + sumDyRxhat;
        hBeta.setAtIndex(JAVA_FLOAT, ch, (float) hb);
        hGamma.setAtIndex(JAVA_FLOAT, ch, (float) hg);
        if (!needInputGrad) return;
        double s = invStd[ch], g = gamma.getAtIndex(JAVA_FLOAT, ch), vg = vGamma.getAtIndex(JAVA_FLOAT, ch);
        double m = (double) n * plane, k = g * s / m, rk = (vg * s - g * s * s * rDot[ch]) / m;
        for (int i = 0; i < n; i++) {
            for (int p = 0; p < plane; p++) {
                long idx = at(i, ch, p);
                boolean open = open(i, ch, p);
                double r = open ? rdy.getAtIndex(JAVA_FLOAT, idx) : 0, d = full && open ? dy.getAtIndex(JAVA_FLOAT, idx) : 0, v;
                if (!lastUsedBatchStats) {
                    v = s * (g * r + vg * d);
                } else {
                    double xh = xhat(i, ch, p);
                    v = k * (m * r - hb - xh * hg);
                    if (full) v += rk * (m * d - sumDy - xh * sumDyXhat) - k * rXhat(i, ch, p) * sumDyXhat;
                }
                rdx.setAtIndex(JAVA_FLOAT, idx, (float) v);
            }
        }
    }
}
