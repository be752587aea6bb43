package io.sam4j.dnnl;

import static io.sam4j.dnnl.Dnnl.*;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import io.sam4j.conv.ConvShape;
import io.sam4j.conv.Convolution;
import io.sam4j.dnnl.Workspace.Slot;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.function.IntConsumer;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * A bf16 convolution computed as im2col + one oneDNN matmul per pass, for the layers where oneDNN's direct bf16
 * kernels are slow: on small output planes (ResNet-18's 7x7 and 4x4 stages at 28x28 input) the AMX brgemm
 * convolutions tile their rows over one output row (4 or 7 pixels of a 16-row tile) and ran at 220 GFLOP/s,
 * no faster than fp32, while a matmul over all N x OH x OW rows runs at ~790 (2-core Sapphire Rapids, oneDNN
 * 3.13: the 512-channel 4x4 layer's forward 44.6 ms direct, 12.3 ms as a matmul). See
 * {@link OneDnnConvBackend#gemmFor}.
 *
 * <p>The passes, with tensors in the user's layout (NCHW or nChw8c/16c, fp32) at both ends:
 * <ul>
 * <li>forward: x to bf16 NHWC (a oneDNN reorder, which casts); im2col into {@code col [N*OH*OW][R*S*C]}
 *     (Java: whole runs of C channels, zeros for the padding); y = col x w^T, w as a bf16 [K][R*S*C] (OHWI)
 *     copy, y in fp32 NHWC, then reordered to the user's layout.
 * <li>backward data: dy to bf16 NHWC; dcol = dy x w in fp32; col2im (Java: sums of C-channel runs) into dx
 *     in fp32 NHWC, reordered to the user's layout.
 * <li>backward weights: x to NHWC and dy to [K][N*OH*OW] (bf16; NHWC with fp32 weight gradients,
 *     {@code -Dsam4j.bf16.weightGradients=fp32}) in the weight-gradient type; im2col of x; dw = dy^T x col in fp32
 *     (OHWI), reordered to OIHW; dbias the sums of dy over N*OH*OW.
 * </ul>
 * Like the direct kernels: bf16 inputs, fp32 accumulation, fp32 outputs; internal buffers come from the
 * backend's {@link Workspace}; no native allocation after construction.
 */
final class OneDnnGemmConv extends OneDnnKernel implements Convolution {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    private final ConvShape shape;
    private final boolean hasBias;
    private final int gradType; // BF16 or F32: the inputs of the weight-gradient matmul
    private final long xFloats, yFloats; // in the user layout (blocked layouts pad the channels)
    private final int rows, cols; // the im2col matrix: N*OH*OW rows of R*S*C
    private final MemorySegment zeros; // fp32 zeros: the padding runs of im2col

    // User-layout memories, rebound to the caller's segments on every call.
    private final MemorySegment xMem, yMem, dyMem, dxMem, wMem, dwMem, biasMem;
    private final Step xToBf16, wToBf16, forwardMatmul, yFromNhwc;
    private final Step dyToBf16, backwardDataMatmul, dxFromNhwc;
    private final Step xToGrad, dyToGrad, weightsMatmul, dwFromOhwi;
    private final String implementation;
    private final OneDnnConvBackend.GemmPasses passes;

    /**
     * With {@code passes} the passes this kernel is made for (a {@link SplitConvolution} runs the others elsewhere):
     * only their primitives are built and only their buffers reserved in the workspace.
     */
    OneDnnGemmConv(OneDnnConvBackend backend, ConvShape shape, boolean hasBias, int lanes, boolean fp32WeightGradients,
            OneDnnConvBackend.GemmPasses passes) {
        super(backend, "oneDNN im2col convolution " + shape);
        this.passes = passes;
        this.shape = shape;
        this.hasBias = hasBias;
        this.gradType = fp32WeightGradients ? F32 : BF16;
        long n = shape.n(), c = shape.c(), h = shape.h(), w = shape.w(), k = shape.k(), r = shape.r(), s = shape.s();
        long oh = shape.outH(), ow = shape.outW();
        if (n * oh * ow > Integer.MAX_VALUE || r * s * c > Integer.MAX_VALUE) throw new IllegalArgumentException("too large for im2col: " + shape);
        rows = (int) (n * oh * ow);
        cols = (int) (r * s * c);
        zeros = arena.allocate(4 * Math.max(s * c, k), 64); // S pixels of padding; also the bias of a call that passes none
        try {
            ompSetNumThreads(backend.threads());
            MemorySegment engine = backend.engine();
            int act = OneDnnConv.activationTag(lanes);
            MemorySegment xUser = objects.memoryDesc(act, n, c, h, w), yUser = objects.memoryDesc(act, n, k, oh, ow);
            MemorySegment wUser = objects.memoryDesc(TAG_OIHW, k, c, r, s);
            xFloats = memoryDescSize(xUser) / 4;
            yFloats = memoryDescSize(yUser) / 4;
            xMem = objects.memory(xUser, engine);
            dxMem = objects.memory(xUser, engine);
            yMem = objects.memory(yUser, engine);
            dyMem = objects.memory(yUser, engine);
            wMem = objects.memory(wUser, engine);
            dwMem = objects.memory(wUser, engine);
            MemorySegment biasMd = hasBias ? objects.memoryDescStrided(F32, new long[] {1, k}, new long[] {k, 1}) : MemorySegment.NULL;
            biasMem = hasBias ? objects.memory(biasMd, engine) : null;
            MemorySegment attr = objects.attrUserScratchpad();

            // NHWC views of x and y (dims stay NCHW-ordered, strides make them channels-last), OHWI of w.
            long[] xDims = {n, c, h, w}, xNhwc = {h * w * c, 1, w * c, c};
            long[] yDims = {n, k, oh, ow}, yNhwc = {oh * ow * k, 1, ow * k, k};
            long[] wDims = {k, c, r, s}, wOhwi = {r * s * c, 1, s * c, c};
            MemorySegment xBf16Md = objects.memoryDescStrided(BF16, xDims, xNhwc), yF32Md = objects.memoryDescStrided(F32, yDims, yNhwc);
            MemorySegment dyBf16Md = objects.memoryDescStrided(BF16, yDims, yNhwc), dxF32Md = objects.memoryDescStrided(F32, xDims, xNhwc);
            MemorySegment wBf16Md = objects.memoryDescStrided(BF16, wDims, wOhwi), dwF32Md = objects.memoryDescStrided(F32, wDims, wOhwi);
            MemorySegment xGradMd = objects.memoryDescStrided(gradType, xDims, xNhwc);
            // dy for the weight gradient: in bf16 a real transpose, [K][N*OH*OW] (the matmul ran 2.3x faster on a plain
            // input than on a transposed view: 512-channel 4x4 layer, 16 against 37 ms under load); in fp32 NHWC read
            // through a transposed view (that way round the fp32 matmul was the faster, 113 against 186 ms).
            boolean dyTransposed = gradType == BF16;
            long[] yKnhw = {oh * ow, (long) rows, ow, 1};
            MemorySegment dyGradMd = objects.memoryDescStrided(gradType, yDims, dyTransposed ? yKnhw : yNhwc);

            // The matmuls' 2-D views of the same buffers.
            long m = rows, kc = cols;
            MemorySegment colBf16 = objects.memoryDescStrided(BF16, new long[] {m, kc}, new long[] {kc, 1});
            MemorySegment colGrad = objects.memoryDescStrided(gradType, new long[] {m, kc}, new long[] {kc, 1});
            MemorySegment dcolF32 = objects.memoryDescStrided(F32, new long[] {m, kc}, new long[] {kc, 1});
            MemorySegment wT = objects.memoryDescStrided(BF16, new long[] {kc, k}, new long[] {1, kc}); // w^T: [R*S*C][K]
            MemorySegment wRows = objects.memoryDescStrided(BF16, new long[] {k, kc}, new long[] {kc, 1});
            MemorySegment yRows = objects.memoryDescStrided(F32, new long[] {m, k}, new long[] {k, 1});
            MemorySegment dyRows = objects.memoryDescStrided(BF16, new long[] {m, k}, new long[] {k, 1});
            MemorySegment dyT = objects.memoryDescStrided(gradType, new long[] {k, m}, dyTransposed ? new long[] {m, 1} : new long[] {1, k});
            MemorySegment dwRows = objects.memoryDescStrided(F32, new long[] {k, kc}, new long[] {kc, 1});

            // Which workspace slot holds what: SRC the NHWC input of a matmul or of im2col, WEIGHTS the bf16 weights,
            // COLUMNS col (or dcol), DST the fp32 NHWC output (y, dx) or the OHWI weight gradient.
            boolean data = passes.data(), weights = passes.weights();
            xToBf16 = data ? reorder(xUser, xMem, xBf16Md, internal(xBf16Md, Slot.SRC), attr) : null;
            wToBf16 = data ? reorder(wUser, wMem, wBf16Md, internal(wBf16Md, Slot.WEIGHTS), attr) : null;
            forwardMatmul = data ? matmul(colBf16, Slot.COLUMNS, wT, Slot.WEIGHTS, biasMd, yRows, Slot.DST, attr) : null;
            yFromNhwc = data ? reorder(yF32Md, internal(yF32Md, Slot.DST), yUser, yMem, attr) : null;
            dyToBf16 = data ? reorder(yUser, dyMem, dyBf16Md, internal(dyBf16Md, Slot.SRC), attr) : null;
            backwardDataMatmul = data ? matmul(dyRows, Slot.SRC, wRows, Slot.WEIGHTS, MemorySegment.NULL, dcolF32, Slot.COLUMNS, attr) : null;
            dxFromNhwc = data ? reorder(dxF32Md, internal(dxF32Md, Slot.DST), xUser, dxMem, attr) : null;
            xToGrad = weights ? reorder(xUser, xMem, xGradMd, internal(xGradMd, Slot.SRC), attr) : null;
            dyToGrad = weights ? reorder(yUser, dyMem, dyGradMd, internal(dyGradMd, Slot.SRC), attr) : null;
            weightsMatmul = weights ? matmul(dyT, Slot.SRC, colGrad, Slot.COLUMNS, MemorySegment.NULL, dwRows, Slot.DST, attr) : null;
            dwFromOhwi = weights ? reorder(dwF32Md, internal(dwF32Md, Slot.DST), wUser, dwMem, attr) : null;
            // col in bf16 (or the fp32 weight-gradient type); fp32 dcol, the largest use, only for backward data
            need(Slot.COLUMNS, (data ? 4L : gradType == BF16 ? 2L : 4L) * rows * cols);
            implementation = "onednn-bf16:im2col+" + matmulImplementation;
        } catch (DnnlException e) {
            release();
            throw new DnnlException("oneDNN im2col convolution " + shape + (hasBias ? " with bias" : ""), e);
        } catch (RuntimeException | Error e) {
            release();
            throw e;
        }
    }

    /** A matmul whose src, weights and dst are views of workspace slots. */
    private Step matmul(MemorySegment srcMd, Slot srcSlot, MemorySegment weightsMd, Slot weightsSlot, MemorySegment biasMd,
            MemorySegment dstMd, Slot dstSlot, MemorySegment attr) {
        return matmul(srcMd, internal(srcMd, srcSlot), weightsMd, internal(weightsMd, weightsSlot), biasMd,
                biasMd.equals(MemorySegment.NULL) ? null : biasMem, dstMd, internal(dstMd, dstSlot), attr);
    }

    private void require(boolean built, String pass) {
        if (!built) throw new IllegalStateException(pass + ": this im2col kernel of " + shape + " was made for other passes only");
    }

    @Override
    public void forward(MemorySegment x, MemorySegment w, MemorySegment bias, MemorySegment y) {
        require(passes.data(), "forward");
        prepare();
        bind(xMem, x, xFloats, "x");
        bind(wMem, w, shape.weightSize(), "w");
        bind(yMem, y, yFloats, "y");
        if (hasBias) {
            bind(biasMem, bias != null ? bias : zeros, shape.k(), "bias");
        } else if (bias != null) {
            throw new IllegalArgumentException("bias given to a kernel created without bias");
        }
        MemorySegment stream = backend.stream();
        xToBf16.run(stream);
        wToBf16.run(stream);
        streamWait(stream);
        Workspace ws = backend.workspace();
        im2col(ws.buffer(Slot.SRC), ws.buffer(Slot.COLUMNS), 2);
        forwardMatmul.run(stream);
        yFromNhwc.run(stream);
        streamWait(stream);
    }

    @Override
    public void backwardData(MemorySegment dy, MemorySegment w, MemorySegment dx) {
        require(passes.data(), "backward data");
        prepare();
        bind(dyMem, dy, yFloats, "dy");
        bind(wMem, w, shape.weightSize(), "w");
        bind(dxMem, dx, xFloats, "dx");
        MemorySegment stream = backend.stream();
        dyToBf16.run(stream);
        wToBf16.run(stream);
        backwardDataMatmul.run(stream);
        streamWait(stream);
        Workspace ws = backend.workspace();
        col2im(ws.buffer(Slot.COLUMNS), ws.buffer(Slot.DST));
        dxFromNhwc.run(stream);
        streamWait(stream);
    }

    @Override
    public void backwardWeights(MemorySegment x, MemorySegment dy, MemorySegment dw, MemorySegment dbias) {
        require(passes.weights(), "backward weights");
        prepare();
        bind(xMem, x, xFloats, "x");
        bind(dyMem, dy, yFloats, "dy");
        bind(dwMem, dw, shape.weightSize(), "dw");
        if (!hasBias && dbias != null) throw new IllegalArgumentException("dbias given to a kernel created without bias");
        if (dbias != null && dbias.byteSize() < 4L * shape.k()) {
            throw new IllegalArgumentException("dbias holds " + dbias.byteSize() / 4 + " floats, " + shape + " needs " + shape.k());
        }
        MemorySegment stream = backend.stream();
        Workspace ws = backend.workspace();
        int bytes = gradType == BF16 ? 2 : 4;
        xToGrad.run(stream);
        streamWait(stream);
        im2col(ws.buffer(Slot.SRC), ws.buffer(Slot.COLUMNS), bytes);
        dyToGrad.run(stream);
        streamWait(stream);
        if (dbias != null) biasGradient(ws.buffer(Slot.SRC), dbias, bytes);
        weightsMatmul.run(stream);
        dwFromOhwi.run(stream);
        streamWait(stream);
    }

    // The arguments of the per-image tasks below, set before each team run (the tasks are made once: no
    // allocation per call).
    private MemorySegment taskFrom, taskTo;
    private int taskBytes;
    private final IntConsumer im2colTask = this::im2colImage, col2imTask = this::col2imImage;

    /** x in NHWC ({@code bytes} per element) into col [N*OH*OW][R][S][C], images across the backend's Java team. */
    private void im2col(MemorySegment x, MemorySegment col, int bytes) {
        taskFrom = x;
        taskTo = col;
        taskBytes = bytes;
        backend.javaTeam().forEach(shape.n(), im2colTask);
    }

    /**
     * One image's rows of col: per output pixel and kernel row, the S taps are S neighbouring input pixels, so
     * one copy of up to S*C elements (zeros where taps fall in the padding).
     */
    private void im2colImage(int img) {
        MemorySegment x = taskFrom, col = taskTo;
        long e = taskBytes;
        int c = shape.c(), h = shape.h(), w = shape.w(), r = shape.r(), s = shape.s();
        int oh = shape.outH(), ow = shape.outW(), stride = shape.stride(), pad = shape.pad();
        long pixel = c * e, tapRow = s * pixel;
        long to = (long) img * oh * ow * r * tapRow;
        for (int i = 0; i < oh; i++) {
            for (int j = 0; j < ow; j++) {
                int x0 = j * stride - pad, s0 = Math.max(0, -x0), s1 = Math.min(s, w - x0);
                for (int ri = 0; ri < r; ri++, to += tapRow) {
                    int y = i * stride - pad + ri;
                    if (y < 0 || y >= h || s0 >= s1) {
                        MemorySegment.copy(zeros, 0, col, to, tapRow);
                        continue;
                    }
                    if (s0 > 0) MemorySegment.copy(zeros, 0, col, to, s0 * pixel);
                    MemorySegment.copy(x, (((long) img * h + y) * w + x0 + s0) * pixel, col, to + s0 * pixel, (s1 - s0) * pixel);
                    if (s1 < s) MemorySegment.copy(zeros, 0, col, to + s1 * pixel, (s - s1) * pixel);
                }
            }
        }
    }

    /** dcol [N*OH*OW][R][S][C] (fp32) summed into dx in NHWC (fp32), images across the backend's Java team. */
    private void col2im(MemorySegment dcol, MemorySegment dx) {
        taskFrom = dcol;
        taskTo = dx;
        backend.javaTeam().forEach(shape.n(), col2imTask);
    }

    /** One image of dx: zeroed, then each output pixel's kernel rows added onto up to S neighbouring input pixels. */
    private void col2imImage(int img) {
        MemorySegment dcol = taskFrom, dx = taskTo;
        int c = shape.c(), h = shape.h(), w = shape.w(), r = shape.r(), s = shape.s();
        int oh = shape.outH(), ow = shape.outW(), stride = shape.stride(), pad = shape.pad();
        long image = 4L * img * h * w * c;
        dx.asSlice(image, 4L * h * w * c).fill((byte) 0);
        long tapRow = 4L * s * c;
        long from = (long) img * oh * ow * r * tapRow;
        for (int i = 0; i < oh; i++) {
            for (int j = 0; j < ow; j++) {
                int x0 = j * stride - pad, s0 = Math.max(0, -x0), s1 = Math.min(s, w - x0);
                for (int ri = 0; ri < r; ri++, from += tapRow) {
                    int y = i * stride - pad + ri;
                    if (y < 0 || y >= h || s0 >= s1) continue;
                    addInto(dx, image + ((long) y * w + x0 + s0) * 4L * c, dcol, from + 4L * s0 * c, (s1 - s0) * c);
                }
            }
        }
    }

    /** dst[0, n) += src[0, n), floats at byte offsets. */
    private static void addInto(MemorySegment dst, long to, MemorySegment src, long from, int n) {
        int i = 0;
        for (int whole = F.loopBound(n); i < whole; i += F.length()) {
            FloatVector.fromMemorySegment(F, dst, to + 4L * i, ByteOrder.nativeOrder())
                    .add(FloatVector.fromMemorySegment(F, src, from + 4L * i, ByteOrder.nativeOrder()))
                    .intoMemorySegment(dst, to + 4L * i, ByteOrder.nativeOrder());
        }
        for (; i < n; i++) dst.set(JAVA_FLOAT, to + 4L * i, dst.get(JAVA_FLOAT, to + 4L * i) + src.get(JAVA_FLOAT, from + 4L * i));
    }

    /** dbias[k] = sum of dy over n, h, w; dy as the weight gradient reads it: [K][rows] in bf16, [rows][K] in fp32. */
    private void biasGradient(MemorySegment dy, MemorySegment dbias, int bytes) {
        int k = shape.k();
        for (int j = 0; j < k; j++) {
            double sum = 0;
            for (long row = 0; row < rows; row++) {
                sum += bytes == 4 ? dy.getAtIndex(JAVA_FLOAT, row * k + j)
                        : Float.intBitsToFloat(dy.getAtIndex(JAVA_SHORT, (long) j * rows + row) << 16);
            }
            dbias.setAtIndex(JAVA_FLOAT, j, (float) sum);
        }
    }

    @Override
    public String implementation() {
        return implementation;
    }
}
