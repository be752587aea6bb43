package io.sam4j.nn;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

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
 * statistics, so its backward is the per-channel affine map only. Per-channel sums are in double.
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

    private void forwardChannel(int ch) {
        double m, inv;
        if (lastUsedBatchStats) {
            long count = (long) n * plane;
            double sum = 0;
            for (int i = 0; i < n; i++) {
                long base = offset(i, ch);
                for (int p = 0; p < plane; p++) sum += x.getAtIndex(JAVA_FLOAT, base + p);
            }
            m = sum / count;
            double sq = 0;
            for (int i = 0; i < n; i++) {
                long base = offset(i, ch);
                for (int p = 0; p < plane; p++) {
                    double d = x.getAtIndex(JAVA_FLOAT, base + p) - m;
                    sq += d * d;
                }
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
        // y = gamma * (x - mean) * invStd + beta = x * scale + shift
        float scale = (float) (gamma.getAtIndex(JAVA_FLOAT, ch) * inv);
        float shift = (float) (beta.getAtIndex(JAVA_FLOAT, ch) - m * gamma.getAtIndex(JAVA_FLOAT, ch) * inv);
        for (int i = 0; i < n; i++) {
            long base = offset(i, ch);
            for (int p = 0; p < plane; p++) y.setAtIndex(JAVA_FLOAT, base + p, x.getAtIndex(JAVA_FLOAT, base + p) * scale + shift);
        }
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
     * dbeta = sum dy, dgamma = sum dy*xhat. With batch statistics the mean and variance depend on x:
     * dx = gamma*invStd * (dy - dbeta/M - xhat*dgamma/M); with running statistics dx = gamma*invStd*dy.
     */
    private void backwardChannel(int ch) {
        double m = mean[ch], inv = invStd[ch];
        double sumDy = 0, sumDyXhat = 0;
        for (int i = 0; i < n; i++) {
            long base = offset(i, ch);
            for (int p = 0; p < plane; p++) {
                double g = dy.getAtIndex(JAVA_FLOAT, base + p);
                sumDy += g;
                sumDyXhat += g * (x.getAtIndex(JAVA_FLOAT, base + p) - m) * inv;
            }
        }
        dBeta.setAtIndex(JAVA_FLOAT, ch, (float) sumDy);
        dGamma.setAtIndex(JAVA_FLOAT, ch, (float) sumDyXhat);
        if (!needInputGrad) return;
        long count = (long) n * plane;
        // Running statistics do not depend on x: the two batch terms vanish.
        float meanDy = lastUsedBatchStats ? (float) (sumDy / count) : 0f;
        float meanDyXhat = lastUsedBatchStats ? (float) (sumDyXhat / count) : 0f;
        float scale = (float) (gamma.getAtIndex(JAVA_FLOAT, ch) * inv);
        float meanF = (float) m, invF = (float) inv;
        for (int i = 0; i < n; i++) {
            long base = offset(i, ch);
            for (int p = 0; p < plane; p++) {
                float xhat = (x.getAtIndex(JAVA_FLOAT, base + p) - meanF) * invF;
                dx.setAtIndex(JAVA_FLOAT, base + p, scale * (dy.getAtIndex(JAVA_FLOAT, base + p) - meanDy - xhat * meanDyXhat));
            }
        }
    }

    private long offset(int image, int ch) {
        return ((long) image * channels + ch) * plane;
    }
}
