/**
 * Data-parallel communication: one process per rank, each with a full model replica, summing gradients
 * with an in-place float all-reduce over MPI (Open MPI's or an MPICH-family C library through the FFM API;
 * {@link io.sam4j.dist.MpiAbi} holds what differs between their binary interfaces, {@link io.sam4j.dist.Launcher}
 * tells from the environment which launcher started the process and so which library to load). The
 * README's "On a cluster" section has Slurm and hostfile examples for both families.
 *
 * <h2>Launching</h2>
 * Build the jar once first ({@code ./sam4j --help}), so that the ranks do not each rebuild it; the
 * launcher {@code exec}s the JVM, so every rank is a JVM that mpirun can signal. One machine (loopback;
 * {@code --allow-run-as-root} only when running as root, e.g. in containers):
 * <pre>
 * mpirun --allow-run-as-root -np 2 --bind-to none --mca btl self,vader \
 *        --mca coll_tuned_use_dynamic_rules 1 --mca coll_tuned_allreduce_algorithm 4 \
 *        ./sam4j train ...
 * </pre>
 * (or, without the launcher, {@code java --add-modules jdk.incubator.vector
 * --enable-native-access=ALL-UNNAMED -jar target/sam4j-VERSION-all.jar train ...} as the program).
 * Several machines: a hostfile lists one host per line ({@code node1 slots=1}); the same JDK, sam4j
 * folder and data paths on every host; passwordless ssh from the first:
 * <pre>
 * mpirun -np 4 --hostfile hosts --map-by ppr:1:node --bind-to none \
 *        --mca btl self,vader,tcp --mca btl_tcp_if_include eth0 \
 *        --mca coll_tuned_use_dynamic_rules 1 --mca coll_tuned_allreduce_algorithm 4 \
 *        -x JAVA_HOME -x OMP_NUM_THREADS -x SAM4J_MPI_LIBRARY -x LD_LIBRARY_PATH \
 *        /opt/sam4j/sam4j train ...
 * </pre>
 * <ul>
 *   <li>{@code --bind-to none}: for 2 ranks or fewer Open MPI binds each rank to ONE core by default,
 *       and the JVM then sees a single processor. Without binding, give each rank
 *       {@link io.sam4j.distributed.Communicators#threadsPerRank()} threads (cores / ranks on the node).
 *   <li>The ring all-reduce (algorithm 4) took 11 ms instead of ~24 ms for a 44.7 MB buffer on 2
 *       local ranks in the reference measurements; it is a launcher setting, not code.
 *   <li>{@code -x NAME} forwards an environment variable to the ranks on other hosts (local ranks
 *       inherit mpirun's environment); list only variables that are set (mpirun warns about others).
 *       {@code OMP_NUM_THREADS} should equal the rank's thread count (oneDNN's OpenMP team).
 *   <li>In Docker containers without {@code CAP_SYS_PTRACE}, shared-memory transfers between ranks
 *       fail ("Read -1, expected N, errno = 1"): add {@code --mca btl_vader_single_copy_mechanism none}.
 * </ul>
 *
 * <h2>What the training program does</h2>
 * <ol>
 *   <li>{@link io.sam4j.distributed.Communicators#detect Communicators.detect(mode)} first, on the thread that
 *       will make every MPI call (the training loop's thread), before starting worker threads or
 *       logging: MPI is initialised with {@code MPI_THREAD_FUNNELED}, the rank decides who logs and
 *       which data shard to read, and an exception escaping that thread aborts the job.
 *   <li>Run the whole training inside {@link io.sam4j.distributed.Communicator#runGuarded}, inside any handler
 *       that would turn an exception into an exit code (picocli's), so that a failing rank aborts the
 *       job instead of leaving the others waiting.
 *   <li>Broadcast the initial parameters (and BN buffers) from rank 0.
 *   <li>Give every rank the same number of steps: all ranks must make the same collectives in the same
 *       order with the same counts; an extra step on one rank hangs the job.
 *   <li>Each step: {@code allReduceSum(grads, paramLength)}, then scale by 1/size; per-step scalars
 *       (loss sum, correct, count) in one {@code allReduceSum(double[])}.
 *   <li>Only rank 0 logs and writes checkpoints.
 *   <li>At the end, {@link io.sam4j.distributed.Communicator#close()} on every rank (MPI_Finalize) before
 *       exiting. Never {@code System.exit} one rank with an error while the others run: call
 *       {@link io.sam4j.distributed.Communicator#abort} instead.
 * </ol>
 *
 * <h2>Failure bounds (measured on loopback, 2 ranks, Open MPI 4.1.4; MPICH 4.0.2 was faster, see the README)</h2>
 * A rank that throws inside {@code runGuarded} or out of the MPI thread ends the job in about 2-3 s
 * (the other rank waiting in a collective or computing). A rank killed with SIGKILL makes mpirun kill the
 * other in about 3-4 s. A rank that calls {@code System.exit} without {@code close()} while the others
 * wait is halted by the finalize watchdog after {@value io.sam4j.distributed.MpiCommunicator#DEFAULT_FINALIZE_TIMEOUT_S}
 * s (property {@value io.sam4j.distributed.MpiCommunicator#FINALIZE_TIMEOUT_PROPERTY}), then mpirun ends the job.
 * A rank that hangs without dying is caught by {@link io.sam4j.distributed.MpiCommunicator#watchForHangs} when
 * it is on (the trainer's {@code --hang-timeout}): no MPI call for that long and the rank aborts the job
 * naming itself.
 *
 * <p><b>May import:</b> nothing. (Enforced by {@code io.sam4j.LayeringTest}: communication knows no model.)
 */
package io.sam4j.distributed;
