/**
 * Data sets: the IDX and CIFAR binary readers (and writers, for tests), {@link io.sam4j.data.Dataset},
 * {@link io.sam4j.data.DataSource} (the embedded Fashion-MNIST subset or a folder, format detected),
 * {@link io.sam4j.data.Normalizer}, {@link io.sam4j.data.Augmentation}, {@link io.sam4j.data.Batcher}
 * (seeded shuffling, label noise) and {@link io.sam4j.data.BatchLoader} (batches prepared on a background
 * thread). A bad data file is a one-line {@link io.sam4j.data.DataException}.
 *
 * <p>Why here: data knows nothing about models or training; it writes files only through
 * {@code formats.AtomicFile}.
 *
 * <p><b>May import:</b> formats.
 * (Enforced by {@code io.sam4j.LayeringTest}; other sam4j packages are named only in strings, by class
 * name, if at all.)
 */
package io.sam4j.data;
