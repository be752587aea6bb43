/**
 * The model: {@link io.sam4j.nn.ParameterStore} (every parameter, gradient and buffer in one flat
 * off-heap buffer with named slices), {@link io.sam4j.nn.Layer} and the layers (Linear, Conv2d, BatchNorm2d,
 * pooling, ReLU, residual blocks), {@link io.sam4j.nn.Model} and {@link io.sam4j.nn.Models} (the named
 * architectures with PyTorch state_dict names), {@link io.sam4j.nn.Context} (what layers share: threads,
 * kernels, convolution backend, activation layout, workspaces), {@link io.sam4j.nn.Mode} (how BatchNorm behaves,
 * and which pass of an optimizer step a gradient is for) and the loss.
 *
 * <p>Why here: the maths of the layers and nothing about files, data sets or training loops; weights files
 * are read and written by {@code formats}, which depends on this package.
 *
 * <p><b>May import:</b> kernels, conv.
 * (Enforced by {@code io.sam4j.LayeringTest}; other sam4j packages are named only in strings, by class
 * name, if at all.)
 */
package io.sam4j.nn;
