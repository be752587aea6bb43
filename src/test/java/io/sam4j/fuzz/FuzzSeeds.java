package io.sam4j.fuzz;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.sam4j.data.CifarReader;
import io.sam4j.data.IdxReader;
import io.sam4j.formats.SafeTensors;
import io.sam4j.formats.Checkpoint;
import io.sam4j.train.TrainConfig;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Writes the fuzzers' seed inputs (one valid file each) under src/test/resources/io/sam4j/fuzz/. Run once from
 * the repository root: {@code java -cp target/classes:target/test-classes:<deps> io.sam4j.fuzz.FuzzSeeds}.
 * The providers of IdxFuzzTest and CifarFuzzTest take their flags from the END of an input, so those seeds
 * are a valid file plus a few trailing flag bytes.
 */
public final class FuzzSeeds {
    private FuzzSeeds() {}

    public static void main(String[] args) throws Exception {
        Path root = Path.of("src/test/resources/io/sam4j/fuzz");
        Path tmp = Files.createTempDirectory("seeds");

        Path idx = tmp.resolve("labels");
        IdxReader.write(idx, new int[] {2, 3, 2}, new byte[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, false);
        write(root.resolve("IdxFuzzTestInputs/idx/valid-raw"), concat(Files.readAllBytes(idx), new byte[] {0, 0, 0, 1, 0}));
        write(root.resolve("IdxFuzzTestInputs/idx/valid-gzip"), concat(Files.readAllBytes(idx), new byte[] {0, 0, 0, 1, 1}));

        Path cifar = tmp.resolve("data_batch_1.bin");
        CifarReader.write(CifarReader.Kind.CIFAR10, cifar, new byte[2 * CifarReader.IMAGE_BYTES], new int[] {3, 9}, null);
        write(root.resolve("CifarFuzzTestInputs/cifar/valid-cifar10"), concat(Files.readAllBytes(cifar), new byte[] {0}));

        Path st = tmp.resolve("w.safetensors");
        long[] count = {7};
        SafeTensors.write(st, List.of(SafeTensors.Entry.of("w", new float[] {1, -2, 3, 0.5f, 0, 1e-3f}, 2, 3),
                SafeTensors.Entry.int64("bn.num_batches_tracked", new long[0], MemorySegment.ofArray(count))),
                Map.of("format", "pt"));
        write(root.resolve("SafeTensorsFuzzTestInputs/safetensors/valid"), Files.readAllBytes(st));

        Path run = tmp.resolve("run");
        Files.createDirectories(run);
        FuzzFiles.TinyRun.INSTANCE.save(run, 42);
        write(root.resolve("CheckpointFuzzTestInputs/checkpoint/valid"), Files.readAllBytes(Checkpoint.path(run)));

        TrainConfig c = new TrainConfig();
        c.model = "mlp";
        c.optimizer = "fsam";
        c.data = Path.of("/data/fashion-mnist");
        byte[] json = new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsBytes(c);
        write(root.resolve("ConfigFuzzTestInputs/config/valid"), json);
        System.out.println("seeds written under " + root);
    }

    private static byte[] concat(byte[] a, byte[] b) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        o.writeBytes(a);
        o.writeBytes(b);
        return o.toByteArray();
    }

    private static void write(Path f, byte[] bytes) throws Exception {
        Files.createDirectories(f.getParent());
        Files.write(f, bytes);
    }
}
