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
 */
public final class BatchNorm2d implements Layer {
    static final double EPS = 1e-5;
    static final double MOMENTUM = 0.1;

    private final int channels;
    private Context ctx;
    private int plane;
    private ParameterStore.Tensor gammaT, betaT, meanT, varT, trackedT;
    private MemorySegment gamma, beta, dGamma, dBeta, runningMean, runningVar, numBatchesTracked;
    /** Statistics the last forward normalised with, kept for its backward. */
    private double[] mean, invStd;
    private boolean lastUsedBatchStats;
    private Mode mode;
    private int n;
    private boolean needInputGrad;
    private MemorySegment x, y, dy, dx;
    // Built once so that forward/backward hand the team no new lambda each call.
    private final IntConsumer forwardChannel = this::forwardChannel;
    private final IntConsumer backwardChannel = this::backwardChannel;

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
        mean = new double[channels];
        invStd = new double[channels];
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
        y = ctx.ensure(y, (long) n * channels * plane);
        ctx.parallel().forEach(channels, forwardChannel);
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
        if (needInputGrad) dx = ctx.ensure(dx, (long) n * channels * plane);
        ctx.parallel().forEach(channels, backwardChannel);
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
}
