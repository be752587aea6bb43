package io.sam4j.nn;

import java.util.Arrays;
import java.util.List;

/**
 * The named architectures of the CLI, with PyTorch state_dict names. Every ReLU here follows a Linear or a
 * BatchNorm2d, which never read their own outputs again, so each runs in place ({@link ReLU#inPlace()}); a
 * BatchNorm2d and its ReLU are one fused layer ({@link BatchNorm2d#withRelu}) unless the system property
 * {@code sam4j.fuseBnRelu=false} asks for the two layers (for A/B benchmarks; same names, same results).
 */
public final class Models {
    private Models() {}

    /** Whether models built now fuse each BatchNorm2d with the ReLU after it (read at each build). */
    static boolean fuseBnRelu() {
        return !"false".equals(System.getProperty("sam4j.fuseBnRelu"));
    }

    /** Appends BatchNorm2d(channels) named {@code name} and a ReLU: one fused layer, or the two when not {@code fused}. */
    static Sequential addBnRelu(Sequential net, String name, int channels, boolean fused) {
        return fused ? net.add(name, BatchNorm2d.withRelu(channels)) : net.add(name, new BatchNorm2d(channels)).add(null, ReLU.inPlace());
    }

    public static final List<String> NAMES = List.of("mlp", "cnn", "resnet18", "vgg16bn", "wrn28-10");

    /** {@code input} is the per-example shape {C, H, W}; convolutional models adapt to C, H and W. */
    public static Model create(String name, int[] input, int classes, float labelSmoothing, Context ctx) {
        Layer net = switch (name) {
            case "mlp" -> mlp(classes);
            case "cnn" -> cnn(classes);
            case "resnet18" -> resnet18(classes);
            case "vgg16bn" -> {
                // Five 2x2 max-pools need 32 pixels; 28x28 would pool a 1x1 map.
                if (input.length != 3 || input[1] < 32 || input[2] < 32) {
                    throw new IllegalArgumentException("vgg16bn needs inputs of at least 32x32, got " + Arrays.toString(input));
                }
                yield vgg16bn(classes);
            }
            case "wrn28-10" -> wideResNet(28, 10, classes);
            default -> throw new IllegalArgumentException("unknown model '" + name + "' (known: " + String.join(", ", NAMES) + ")");
        };
        return new Model(name, net, input, classes, labelSmoothing, ctx);
    }

    /** Linear(in,256)-ReLU-Linear(256,256)-ReLU-Linear(256,classes): fc1, fc2, fc3. */
    public static Sequential mlp(int classes) {
        return new Sequential()
                .add(null, new Flatten())
                .add("fc1", new Linear(256)).add(null, ReLU.inPlace())
                .add("fc2", new Linear(256)).add(null, ReLU.inPlace())
                .add("fc3", new Linear(classes));
    }

    /**
     * Two conv-BN-ReLU-maxpool stages and two linear layers: conv1 (3x3, in->32), bn1, conv2 (3x3,
     * 32->64), bn2, fc1 (64*(H/4)*(W/4) -> 256), fc2 (256 -> classes). Convolutions have no bias (BN follows).
     */
    public static Sequential cnn(int classes) {
        return cnn(classes, fuseBnRelu());
    }

    /** {@link #cnn(int)}, with BatchNorm and ReLU fused or not. */
    static Sequential cnn(int classes, boolean fused) {
        Sequential net = new Sequential().add("conv1", new Conv2d(32, 3, 1, 1, false));
        addBnRelu(net, "bn1", 32, fused).add(null, new MaxPool2d(2, 2)).add("conv2", new Conv2d(64, 3, 1, 1, false));
        return addBnRelu(net, "bn2", 64, fused)
                .add(null, new MaxPool2d(2, 2))
                .add(null, new Flatten())
                .add("fc1", new Linear(256)).add(null, ReLU.inPlace())
                .add("fc2", new Linear(classes));
    }

    /**
     * CIFAR-style ResNet-18 of kuangliu/pytorch-cifar: 3x3 stem (64, no bias) + bn1 + ReLU, no
     * max-pool, layer1..layer4 of two {@link BasicBlock}s (64/128/256/512 channels, strides 1/2/2/2),
     * global average pooling, {@code linear}. (kuangliu's avg_pool2d(4) is global on 32x32 and 28x28.)
     */
    public static Sequential resnet18(int classes) {
        return resnet18(classes, 64);
    }

    /** ResNet-18 with base width {@code w} (64 in the original): stages of w, 2w, 4w, 8w channels. */
    public static Sequential resnet18(int classes, int w) {
        return resnet18(classes, w, fuseBnRelu());
    }

    /** {@link #resnet18(int, int)}, with BatchNorm and ReLU fused or not. */
    static Sequential resnet18(int classes, int w, boolean fused) {
        Sequential net = addBnRelu(new Sequential().add("conv1", new Conv2d(w, 3, 1, 1, false)), "bn1", w, fused);
        int[] widths = {w, 2 * w, 4 * w, 8 * w};
        int[] strides = {1, 2, 2, 2};
        for (int stage = 0; stage < widths.length; stage++) {
            net.add("layer" + (stage + 1), new Sequential()
                    .add("0", new BasicBlock(widths[stage], strides[stage], fused))
                    .add("1", new BasicBlock(widths[stage], 1, fused)));
        }
        return net.add(null, new GlobalAvgPool()).add("linear", new Linear(classes));
    }

    /** kuangliu/pytorch-cifar's VGG16 configuration: channel counts, 0 for a 2x2 max-pool. */
    private static final int[] VGG16 = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};

    /**
     * VGG-16 with BatchNorm as kuangliu/pytorch-cifar: {@code features.i} numbered as its nn.Sequential
     * (conv 3x3 pad 1 with bias, BN, ReLU per entry; max-pools and the final identity AvgPool2d(1, 1)
     * take an index but hold nothing), then {@code classifier} (512 -> classes) on 32x32 inputs.
     */
    public static Sequential vgg16bn(int classes) {
        return vgg16bn(classes, 1);
    }

    /** VGG-16 with BatchNorm with every width divided by {@code divisor} (1 for the original). */
    public static Sequential vgg16bn(int classes, int divisor) {
        return vgg16bn(classes, divisor, fuseBnRelu());
    }

    /** {@link #vgg16bn(int, int)}, with BatchNorm and ReLU fused or not. */
    static Sequential vgg16bn(int classes, int divisor, boolean fused) {
        Sequential features = new Sequential();
        int index = 0;
        for (int width : VGG16) {
            if (width == 0) {
                features.add(String.valueOf(index++), new MaxPool2d(2, 2));
            } else {
                features.add(String.valueOf(index++), new Conv2d(width / divisor, 3, 1, 1, true));
                addBnRelu(features, String.valueOf(index), width / divisor, fused);
                index += 2; // the BatchNorm's and the ReLU's indices
            }
        }
        return new Sequential().add("features", features).add(null, new Flatten()).add("classifier", new Linear(classes));
    }

    /**
     * WideResNet-depth-widen as xternalz/WideResNet-pytorch (the SAM papers' code), dropout 0: conv1 (3x3,
     * in->16, no bias), block1..block3 ({@code blockK.layer.i}) of (depth-4)/6 {@link PreActBlock}s each
     * (16*widen, 32*widen, 64*widen channels; strides 1, 2, 2), the final bn1 + ReLU, global average
     * pooling and fc (64*widen -> classes). 36,479,194 parameters for WRN-28-10 on 3x32x32 and 10 classes.
     *
     * <p>Initialisation: PyTorch's defaults for each layer, as the other models here. xternalz re-draws
     * the convolutions with kaiming_normal_(fan_out) and zeroes fc's bias; weights so drawn (or trained)
     * in PyTorch load with {@code --init}.
     */
    public static Sequential wideResNet(int depth, int widen, int classes) {
        return wideResNet(depth, widen, classes, fuseBnRelu());
    }

    /** {@link #wideResNet(int, int, int)}, with BatchNorm and ReLU fused or not. */
    static Sequential wideResNet(int depth, int widen, int classes, boolean fused) {
        if (depth < 10 || (depth - 4) % 6 != 0) {
            throw new IllegalArgumentException("WideResNet depth must be 6n+4 with n >= 1 (10, 16, 22, 28, ...), got " + depth);
        }
        if (widen < 1) throw new IllegalArgumentException("WideResNet widen factor must be >= 1, got " + widen);
        int blocks = (depth - 4) / 6;
        Sequential net = new Sequential().add("conv1", new Conv2d(16, 3, 1, 1, false));
        int[] widths = {16 * widen, 32 * widen, 64 * widen};
        int[] strides = {1, 2, 2};
        for (int group = 0; group < widths.length; group++) {
            Sequential layer = new Sequential();
            for (int i = 0; i < blocks; i++) layer.add(String.valueOf(i), new PreActBlock(widths[group], i == 0 ? strides[group] : 1, fused));
            net.add("block" + (group + 1), new Sequential().add("layer", layer));
        }
        return addBnRelu(net, "bn1", widths[2], fused).add(null, new GlobalAvgPool()).add("fc", new Linear(classes));
    }
}
