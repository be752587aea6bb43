package io.sam4j.nn;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

/**
 * A network, its flat parameter store and its loss. The optimizers only see the store and a
 * loss-and-gradient callback, so any model built from {@link Layer}s trains with every optimizer.
 */
public final class Model implements AutoCloseable {
    private final String name;
    private final Layer net;
    private final int[] inputShape;
    private final int classes;
    private final Context ctx;
    private final ParameterStore store;
    private final SoftmaxCrossEntropy loss;
    /** The input batch in the blocked layout, when activations are blocked. */
    private MemorySegment blockedInput;
    /**
     * Whether the first layer reads the input NCHW under blocked activations: a convolution on channels that do not
     * fill a block (1 for Fashion-MNIST, 3 for CIFAR), where a blocked copy would be mostly padding (16x the input at
     * nChw16c for 1 channel) and oneDNN reorders it back to NCHW for its few-channel kernels anyway.
     */
    private final boolean plainInput;
    /** The buffers the layers' curvature slices point into. */
    private MemorySegment boundV, boundHv;

    public Model(String name, Layer net, int[] inputShape, int classes, float labelSmoothing, Context ctx) {
        this.name = name;
        this.net = net;
        this.inputShape = inputShape.clone();
        this.classes = classes;
        this.ctx = ctx;
        ParameterStore.Builder b = ParameterStore.builder();
        if (net instanceof Sequential chain) chain.notifyGradients(); // see Context.setGradientListener
        int[] out = net.declare(inputShape, "", b, ctx);
        if (out.length != 1 || out[0] != classes) {
            throw new IllegalArgumentException(name + " produces shape " + java.util.Arrays.toString(out)
                    + ", expected [" + classes + "]");
        }
        this.store = b.build();
        ctx.decideLayout(usesConvolutions());
        plainInput = ctx.blocked() && inputShape.length == 3 && inputShape[0] % ctx.lanes() != 0
                && firstLayer(net) instanceof Conv2d;
        if (plainInput) ((Conv2d) firstLayer(net)).readPlainInput();
        net.bind(store);
        this.loss = new SoftmaxCrossEntropy(classes, labelSmoothing, ctx);
    }

    public String name() {
        return name;
    }

    public ParameterStore store() {
        return store;
    }

    public Context context() {
        return ctx;
    }

    public int[] inputShape() {
        return inputShape.clone();
    }

    public long inputSize() {
        return Layer.numel(inputShape);
    }

    /** Whether any parameter is a 4-D (convolution) weight: then the conv backend matters. */
    public boolean usesConvolutions() {
        return store.paramTensors().stream().anyMatch(t -> t.shape().length == 4);
    }

    public int classes() {
        return classes;
    }

    /** PyTorch's default initialisation, drawn from {@code seed}. */
    public void initialize(long seed) {
        net.initialize(store, new SplittableRandom(seed));
    }

    /** Whether the layers keep {C, H, W} activations blocked ({@link BlockedLayout}, {@link Context#lanes()} wide); inputs stay NCHW. */
    public boolean blocked() {
        return ctx.blocked();
    }

    /**
     * The first layer's input: x itself, or x reordered into the blocked layout when activations are blocked (and the
     * first layer does not read it plain).
     */
    private MemorySegment input(MemorySegment x, int n) {
        if (!ctx.blocked() || inputShape.length != 3 || plainInput) return x;
        blockedInput = ctx.ensure(blockedInput, n * BlockedLayout.size(inputShape, ctx.lanes()));
        BlockedLayout.toBlocked(ctx.parallel(), x, blockedInput, n, inputShape[0], inputShape[1] * inputShape[2], ctx.lanes());
        return blockedInput;
    }

    /** The first leaf layer of {@code net}, through nested {@link Sequential}s. */
    private static Layer firstLayer(Layer net) {
        while (net instanceof Sequential chain && !chain.layers().isEmpty()) net = chain.layers().get(0);
        return net;
    }

    /** Forward and backward on a batch: returns the mean loss, writes the gradients into the store. */
    public double lossAndGrad(MemorySegment x, int[] labels, int n, Mode mode) {
        MemorySegment logits = net.forward(input(x, n), n, mode);
        double l = loss.forward(logits, labels, n, true);
        // Nothing re-reads the activation gradients after this backward: they may share buffers.
        if (ctx.sharesGradientBuffers()) ctx.gradients().startSharedPass();
        else ctx.gradients().usePerLayerBuffers();
        net.backward(loss.grad(), n, false);
        return l;
    }

    /** Forward only: the mean training loss (with smoothing) on a batch, no gradient. */
    public double loss(MemorySegment x, int[] labels, int n, Mode mode) {
        return loss.forward(net.forward(input(x, n), n, mode), labels, n, false);
    }

    /** Example i's training loss in the last {@link #lossAndGrad} or {@link #loss} call (ESAM's selection). */
    public double exampleLoss(int i) {
        return loss.exampleLoss(i);
    }

    /** Evaluation forward: summed loss and correct predictions. */
    public SoftmaxCrossEntropy.Eval evaluate(MemorySegment x, int[] labels, int n) {
        return loss.evaluate(net.forward(input(x, n), n, Mode.EVAL), labels, n);
    }

    /** Forward only, returns the logits (valid until the next call). */
    public MemorySegment logits(MemorySegment x, int n, Mode mode) {
        return net.forward(input(x, n), n, mode);
    }

    /**
     * Binds the buffers of exact curvature products: {@code v} (the direction, read) and {@code hv} (the
     * product, written), both of the store's parameter layout. Once, before {@link #curvatureProduct}.
     */
    public void bindCurvature(MemorySegment v, MemorySegment hv) {
        if (v == boundV && hv == boundHv) return; // already bound: no slices made per product
        net.bindCurvature(store, v, hv);
        boundV = v;
        boundHv = hv;
    }

    /**
     * The exact Hessian-vector product H v of the batch's mean loss (Pearlmutter's R-operator: forward,
     * backward, R-forward, R-backward), or with {@code gaussNewton} the Gauss-Newton product G v (no
     * ordinary backward), into the bound {@code hv}; returns the loss. Overwrites the store's gradients
     * (with the batch's gradient, unless Gauss-Newton). {@code mode} must not be {@link Mode#TRAIN}.
     */
    public double curvatureProduct(MemorySegment x, int[] labels, int n, Mode mode, boolean gaussNewton) {
        if (mode == Mode.TRAIN) throw new IllegalArgumentException("curvature products must not move the running statistics");
        MemorySegment logits = net.forward(input(x, n), n, mode);
        double l = loss.forward(logits, labels, n, true);
        ctx.gradients().usePerLayerBuffers(); // the R-backward re-reads every layer's dy
        if (!gaussNewton) net.backward(loss.grad(), n, false);
        MemorySegment rz = net.rForward(null, n);
        net.rBackward(loss.rBackward(rz, n), n, false, gaussNewton);
        return l;
    }

    @Override
    public void close() {
        store.close();
        ctx.close();
    }
}
