package io.sam4j.nn;

import io.sam4j.conv.ConvBackend;
import io.sam4j.conv.ConvShape;
import io.sam4j.conv.Convolution;
import io.sam4j.conv.JavaConvBackend;
import io.sam4j.conv.LinearKernel;
import io.sam4j.conv.Precision;
import io.sam4j.kernels.Kernels;
import io.sam4j.kernels.KernelsProvider;
import io.sam4j.kernels.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What layers share: the thread team, the element-wise kernel implementation, the convolution
 * backend, the layout of 4-D activations, and the arena their activation workspaces live in (shared,
 * because the team's threads write them). Closing the context (with the model) closes the convolutions
 * made through it, the backend, and the arena.
 *
 * <p>Layout: a {@link Model} decides once, after declaring its layers, whether its {C, H, W}
 * activations are plain NCHW or {@link BlockedLayout} nChw8c / nChw16c: blocked, at the width the backend's
 * convolutions compute in (oneDNN: 8 on AVX2, 16 on AVX-512), when the backend has one, the model convolves, and {@link #allowBlocked} was not turned off (default: the
 * system property {@code sam4j.blocked}, "true" or "false", default true). Layers read {@link #blocked()}
 * when they run.
 */
public final class Context implements AutoCloseable {
    private final Parallel par;
    private final Kernels kernels;
    private final ConvBackend convBackend;
    private final List<Convolution> convolutions = new ArrayList<>();
    private final List<LinearKernel> linearKernels = new ArrayList<>();
    private final Arena arena = Arena.ofShared();
    private boolean allowBlocked = blockedProperty();
    /** Block width of the blocked layout (8 or 16), 0 for plain NCHW. */
    private int lanes;
    private Precision precision = Precision.FP32;
    private GradientListener gradientListener;
    private CrossRankSum batchStatisticsSum;
    private final GradientPool gradients = new GradientPool(this);
    private boolean shareGradients = true;

    /** With the pure-Java convolution backend. */
    public Context(Parallel par, Kernels kernels) {
        this(par, kernels, new JavaConvBackend(par));
    }

    /** The context takes ownership of {@code convBackend} and closes it. */
    public Context(Parallel par, Kernels kernels, ConvBackend convBackend) {
        this.par = par;
        this.kernels = kernels;
        this.convBackend = convBackend;
    }

    public static Context defaults() {
        return new Context(Parallel.common(), KernelsProvider.get());
    }

    public Parallel parallel() {
        return par;
    }

    public Kernels kernels() {
        return kernels;
    }

    public ConvBackend convBackend() {
        return convBackend;
    }

    private volatile LayerTimes layerTimes;

    /** From now on the model's layers add their wall times to {@code times} (null: stop timing). */
    public void timeLayers(LayerTimes times) {
        layerTimes = times;
    }

    /** The collector layers add their times to, or null when nobody is timing them. */
    LayerTimes layerTimes() {
        return layerTimes;
    }

    /**
     * A convolution from the backend, with x and dx blocked {@code inputLanes} wide and y and dy {@code lanes} wide
     * (0: NCHW); closed with this context (layers cache it per batch size).
     */
    public synchronized Convolution convolution(ConvShape shape, boolean bias, int inputLanes, int lanes) {
        Convolution k = convBackend.conv(shape, bias, inputLanes, lanes, precision);
        convolutions.add(k);
        return k;
    }

    /**
     * A linear-layer kernel in this context's precision for batch size {@code n}, closed with this context (layers
     * cache it per batch size); empty where the backend has none (Java), and {@link Linear} runs its own GEMM.
     */
    public synchronized Optional<LinearKernel> linearKernel(int n, int in, int out) {
        Optional<LinearKernel> k = convBackend.linear(n, in, out, precision);
        k.ifPresent(linearKernels::add);
        return k;
    }

    private static boolean blockedProperty() {
        String v = System.getProperty("sam4j.blocked", "true");
        if (!v.equals("true") && !v.equals("false")) {
            throw new IllegalArgumentException("-Dsam4j.blocked must be true or false, got '" + v + "'");
        }
        return v.equals("true");
    }

    /**
     * What convolutions and linear layers made from now on compute in (default fp32; bf16 is mixed precision, see
     * {@link Precision}). Everything else, and every tensor layers exchange, stays fp32.
     *
     * @throws IllegalArgumentException naming {@code --precision} and what is missing, when the backend
     *         cannot compute in {@code precision} on this machine
     */
    public Context usePrecision(Precision precision) {
        convBackend.unsupported(precision).ifPresent(why -> {
            throw new IllegalArgumentException("--precision " + precision.flagValue() + ": " + why);
        });
        this.precision = precision;
        return this;
    }

    public Precision precision() {
        return precision;
    }

    /** Whether a model built on this context may keep its activations blocked (A/B runs, debugging). */
    public Context allowBlocked(boolean allow) {
        this.allowBlocked = allow;
        return this;
    }

    /** Whether {C, H, W} activations are stored blocked (see {@link BlockedLayout}); plain NCHW otherwise. */
    public boolean blocked() {
        return lanes != 0;
    }

    /** The block width of blocked activations, 8 (nChw8c) or 16 (nChw16c); 0 when they are plain NCHW. */
    public int lanes() {
        return lanes;
    }

    /** "nChw16c", "nChw8c" or "NCHW", for logs and bench results. */
    public String layoutName() {
        return blocked() ? "nChw" + lanes + "c" : "NCHW";
    }

    /** Called by {@link Model} after its layers are declared (and by layer tests). */
    void decideLayout(boolean usesConvolutions) {
        lanes = allowBlocked && usesConvolutions ? convBackend.blockedLanes() : 0;
    }

    /** Blocked activations {@code lanes} wide (8 or 16), or 0 for NCHW: layer tests try every layout. */
    void setLanes(int lanes) {
        if (lanes != 0 && lanes != BlockedLayout.MAX_LANES && lanes != io.sam4j.kernels.LayerKernels.MIN_LANES) {
            throw new IllegalArgumentException("block width must be 0, 8 or 16, got " + lanes);
        }
        this.lanes = lanes;
    }

    /**
     * Whether a {@link Model}'s training backward shares activation-gradient buffers by liveness
     * ({@link GradientPool}; default true). False keeps one buffer per layer, as before the pool: for A/B
     * comparisons (the results are bit-identical either way).
     */
    public Context shareGradientBuffers(boolean share) {
        this.shareGradients = share;
        return this;
    }

    public boolean sharesGradientBuffers() {
        return shareGradients;
    }

    /** The activation-gradient buffers of the layers built on this context (see {@link GradientPool}). */
    public GradientPool gradients() {
        return gradients;
    }

    /** Who hears, during backward, which tail of the gradient buffer is final ({@link GradientListener}); null: nobody. */
    public void setGradientListener(GradientListener listener) {
        this.gradientListener = listener;
    }

    /** Called by {@link Sequential} after each child's backward. */
    void gradientsFinalFrom(long paramOffset) {
        if (gradientListener != null) gradientListener.gradientsFinalFrom(paramOffset);
    }

    /**
     * SyncBatchNorm: batch statistics (and their backward's two sums) are summed over the ranks with
     * {@code sum}, so that N ranks normalise as one process on the global batch; null: per rank.
     */
    public void setBatchStatisticsSum(CrossRankSum sum) {
        this.batchStatisticsSum = sum;
    }

    /** See {@link #setBatchStatisticsSum}; null when batch statistics stay per rank. */
    public CrossRankSum batchStatisticsSum() {
        return batchStatisticsSum;
    }

    /** Floats per example of an activation of per-example shape {@code shape} in this context's layout. */
    public long activationSize(int[] shape) {
        return blocked() ? BlockedLayout.size(shape, lanes) : Layer.numel(shape);
    }

    /**
     * Returns {@code current} if it holds at least {@code floats} floats, else a new 64-byte-aligned
     * buffer. Workspaces grow to the largest batch seen, then stay: no allocation in the steady state.
     */
    public MemorySegment ensure(MemorySegment current, long floats) {
        if (current != null && current.byteSize() >= 4L * floats) return current;
        return arena.allocate(4L * Math.max(floats, 1), 64);
    }

    @Override
    public synchronized void close() {
        for (Convolution k : convolutions) k.close();
        convolutions.clear();
        for (LinearKernel k : linearKernels) k.close();
        linearKernels.clear();
        convBackend.close();
        arena.close();
    }
}
