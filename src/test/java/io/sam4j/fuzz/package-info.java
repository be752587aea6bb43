/**
 * Coverage-guided fuzzing of every file parser with Jazzer ({@code @FuzzTest}): IDX (raw and gzip), CIFAR
 * binary, safetensors, checkpoints and config.json. Each parser's documented failure is a one-line
 * {@link io.sam4j.data.DataException}; any other exception (or an error such as OutOfMemoryError) is a
 * finding and fails the test.
 *
 * <p>In {@code mvn test} each class runs twice: once in regression mode with the ordinary tests (its checked-in
 * inputs under {@code src/test/resources/io/sam4j/fuzz/<Class>Inputs/}), and once by the {@code fuzz} surefire
 * execution with {@code JAZZER_FUZZ=1}, one JVM per class, for the time its {@code maxDuration} gives. A
 * finding is written to that inputs folder as {@code crash-*}, where it stays as a regression input.
 */
package io.sam4j.fuzz;
