/**
 * What every library package shares about settings: {@link io.sam4j.config.ConfigException}, the error of a bad
 * setting, which names the setting's field (the CLI maps fields to its flags in its own messages).
 *
 * <p>Why here: the library's settings are records with validated compact constructors
 * ({@code sharpness.Sharpness.Options}, {@code optim.SharpnessAware.Config}, {@code conv.ConvShape}) or, for a
 * whole run, {@code train.TrainConfig} validated in one place; all of them report through this one type, at
 * the bottom of the layering so that any package can.
 *
 * <p><b>May import:</b> nothing. (Enforced by {@code io.sam4j.LayeringTest}.)
 */
package io.sam4j.config;
