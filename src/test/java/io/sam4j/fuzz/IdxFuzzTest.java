package io.sam4j.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.sam4j.data.DataException;
import io.sam4j.data.IdxReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Arrays;
import java.util.zip.GZIPOutputStream;

/** IDX files, raw or gzip (whole or cut short): a DataException or a file whose payload matches its header. */
class IdxFuzzTest {
    @FuzzTest(maxDuration = "10s")
    void idx(FuzzedDataProvider data) throws IOException {
        boolean gzip = data.consumeBoolean();
        int cut = data.consumeInt(0, Integer.MAX_VALUE);
        byte[] bytes = data.consumeRemainingAsBytes();
        if (gzip) {
            ByteArrayOutputStream z = new ByteArrayOutputStream();
            try (GZIPOutputStream out = new GZIPOutputStream(z)) {
                out.write(bytes);
            }
            byte[] whole = z.toByteArray();
            bytes = cut % 3 == 0 ? Arrays.copyOf(whole, cut % (whole.length + 1)) : whole;
        }
        try {
            IdxReader.IdxFile f = IdxReader.read(new ByteArrayInputStream(bytes), "fuzz.idx");
            if (f.elementCount() != f.data().length) throw new AssertionError("payload does not match " + f);
        } catch (DataException expected) {
            // the documented failure
        }
    }
}
