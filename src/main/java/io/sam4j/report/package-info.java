/**
 * Run folders made readable: {@link io.sam4j.report.RunReport} (report.html, plots, metrics.csv, regenerated
 * from the folder's files), {@link io.sam4j.report.Charts} and {@link io.sam4j.report.Figure} (XChart, PNG + SVG,
 * headless), {@link io.sam4j.report.StepLog} (steps.csv), {@link io.sam4j.report.Environment},
 * {@link io.sam4j.report.Comparison} (several runs, seeds grouped), {@link io.sam4j.report.Evaluation} and
 * {@link io.sam4j.report.Prediction} over a {@link io.sam4j.report.RunModel} (a run's weights and normalisation).
 *
 * <p>Why here: reading and drawing runs is a consumer of training, not part of it; the training loop only
 * calls {@code train.RunListener}s and {@code train.StepListener}s, which this package implements.
 *
 * <p><b>May import:</b> config, kernels, conv, nn, optim, formats, data, train.
 * (Enforced by {@code io.sam4j.LayeringTest}; other sam4j packages are named only in strings, by class
 * name, if at all.)
 */
package io.sam4j.report;
