/**
 * Files: {@link io.sam4j.formats.SafeTensors} (the safetensors format),
 * {@link io.sam4j.formats.StateDict} (a model's parameters and buffers under PyTorch names),
 * {@link io.sam4j.formats.Checkpoint} (a run's resumable state: weights, optimizer buffers, step counters),
 * {@link io.sam4j.formats.AtomicFile} (temporary file, fsync, rename) and
 * {@link io.sam4j.formats.FormatException}, the one-line error of a bad or unwritable file.
 *
 * <p>Why here: before, these were spread over {@code nn}, {@code train} and {@code data}, and a bad weights
 * file raised a {@code DataException}. A state dict needs {@code nn.ParameterStore} and a checkpoint the
 * optimizer's state, so this package sits above {@code nn} and {@code optim}.
 *
 * <p><b>May import:</b> nn, optim.
 * (Enforced by {@code io.sam4j.LayeringTest}; other sam4j packages are named only in strings, by class
 * name, if at all.)
 */
package io.sam4j.formats;
