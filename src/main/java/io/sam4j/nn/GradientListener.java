package io.sam4j.nn;

/**
 * Hears, during backward, that gradients are final: parameters are laid out in the flat buffer in
 * declaration (layer) order and backward visits the layers in reverse, so after each layer the gradients
 * of every parameter from its first offset to the end of the buffer are final. Data-parallel training
 * uses it to start all-reducing that tail while backward continues. Called on the thread running backward.
 */
@FunctionalInterface
public interface GradientListener {
    /** The gradients at flat offsets {@code paramOffset} .. paramLength - 1 will not change in this pass. */
    void gradientsFinalFrom(long paramOffset);
}
