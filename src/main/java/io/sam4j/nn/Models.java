package io.sam4j.nn;

import java.util.List;

/** The named architectures of the CLI, with PyTorch state_dict names. */
public final class Models {
    private Models() {}

    public static final List<String> NAMES = List.of("mlp", "cnn", "resnet18");

    /** {@code input} is the per-example shape {C, H, W}; convolutional models adapt to C, H and W. */
    public static Model create(String name, int[] input, int classes, float labelSmoothing, Context ctx) {
        Layer net = switch (name) {
            case "mlp" -> mlp(classes);
            case "cnn" -> cnn(classes);
            case "resnet18" -> resnet18(classes);
            default -> throw new IllegalArgumentException("unknown model '" + name + "' (known: " + String.join(", ", NAMES) + ")");
        };
        return new Model(name, net, input, classes, labelSmoothing, ctx);
    }

    /** Linear(in,256)-ReLU-Linear(256,256)-ReLU-Linear(256,classes): fc1, fc2, fc3. */
    public static Sequential mlp(int classes) {
        return new Sequential()
                .add(null, new Flatten())
                .add("fc1", new Linear(256)).add(null, new ReLU())
                .add("fc2", new Linear(256)).add(null, new ReLU())
                .add("fc3", new Linear(classes));
    }

    /**
     * Two conv-BN-ReLU-maxpool stages and two linear layers: conv1 (3x3, in->32), bn1, conv2 (3x3,
     * 32->64), bn2, fc1 (64*(H/4)*(W/4) -> 256), fc2 (256 -> classes). Convolutions have no bias (BN follows).
     */
    public static Sequential cnn(int classes) {
        return new Sequential()
                .add("conv1", new Conv2d(32, 3, 1, 1, false)).add("bn1", new BatchNorm2d(32)).add(null, new ReLU())
                .add(null, new MaxPool2d(2, 2))
                .add("conv2", new Conv2d(64, 3, 1, 1, false)).add("bn2", new BatchNorm2d(64)).add(null, new ReLU())
                .add(null, new MaxPool2d(2, 2))
                .add(null, new Flatten())
                .add("fc1", new Linear(256)).add(null, new ReLU())
                .add("fc2", new Linear(classes));
    }

    /**
     * CIFAR-style ResNet-18 of kuangliu/pytorch-cifar: 3x3 stem (64, no bias) + bn1 + ReLU, no
     * max-pool, layer1..layer4 of two {@link BasicBlock}s (64/128/256/512 channels, strides 1/2/2/2),
     * global average pooling, {@code linear}. (kuangliu's avg_pool2d(4) is global on 32x32 and 28x28.)
     */
    public static Sequential resnet18(int classes) {
        Sequential net = new Sequential()
                .add("conv1", new Conv2d(64, 3, 1, 1, false)).add("bn1", new BatchNorm2d(64)).add(null, new ReLU());
        int[] widths = {64, 128, 256, 512};
        int[] strides = {1, 2, 2, 2};
        for (int stage = 0; stage < widths.length; stage++) {
            net.add("layer" + (stage + 1), new Sequential()
                    .add("0", new BasicBlock(widths[stage], strides[stage]))
                    .add("1", new BasicBlock(widths[stage], 1)));
        }
        return net.add(null, new GlobalAvgPool()).add("linear", new Linear(classes));
    }
}
