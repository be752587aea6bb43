/**
 * The {@code ./sam4j} command line (picocli): {@code train}, {@code sharpness}, {@code bench}, {@code report},
 * {@code eval}, {@code predict}, {@code compare}, {@code sweep}.
 * Commands parse flags, map them onto the library's settings and report errors as one line naming the flag;
 * the work itself is done by {@code train} and the packages below it.
 *
 * <p><b>May import:</b> config, kernels, conv, nn, optim, formats, data, distributed, sharpness, train, report.
 * (Enforced by {@code io.sam4j.LayeringTest}; other sam4j packages are named only in strings, by class
 * name, if at all.)
 */
package io.sam4j.cli;
