package io.sam4j.bench;

/**
 * The JVM flags of the forks, as constants for {@code @Fork} annotations.
 *
 * <p>Every fork names its {@code jvmArgs} explicitly: without them JMH hands the host JVM's own flags to
 * the fork, and a host started with {@code --add-modules jdk.incubator.vector} would silently turn the
 * scalar forks into vector ones. The GC flags are the {@code ./sam4j} launcher's. Extra flags
 * from the command line go through {@code -jvmArgsPrepend} (a command-line {@code -jvmArgs} or
 * {@code -jvmArgsAppend} replaces the annotation's, dropping the module flag; {@link Check} then fails the
 * vector forks instead of measuring the wrong kernels).
 */
final class JvmFlags {
    private JvmFlags() {}

    /** JMH 1.37 itself calls sun.misc.Unsafe, which JDK 24+ warns about in every fork. */
    static final String UNSAFE = "--sun-misc-unsafe-memory-access=allow";
    static final String GC = "-XX:+UseParallelGC";
    static final String NEW_SIZE = "-XX:MaxNewSize=64m";
    static final String NATIVE = "--enable-native-access=ALL-UNNAMED";
    static final String ADD_MODULES = "--add-modules";
    static final String VECTOR = "jdk.incubator.vector";
}
