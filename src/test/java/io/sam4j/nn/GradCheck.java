package io.sam4j.nn;

import static io.sam4j.TestUtil.get;
import static io.sam4j.TestUtil.set;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.Random;

/**
 * Central finite differences of a scalar objective against the analytic gradient, element by element.
 * The objective is evaluated in double over float forward passes.
 */
final class GradCheck {
    interface Objective {
        double value();
    }

    /**
     * Checks {@code analytic[i]} against (f(x+h) - f(x-h)) / 2h for up to {@code samples} indices of
     * {@code x}, perturbing x in place and restoring it.
     */
    static void check(String what, MemorySegment x, long n, MemorySegment analytic, Objective f, float h,
                      double absTol, double relTol, int samples, Random r) {
        int checked = 0;
        double worst = 0;
        for (int s = 0; s < Math.min(samples, n); s++) {
            long i = n <= samples ? s : (long) (r.nextDouble() * n);
            float orig = get(x, i);
            set(x, i, orig + h);
            double plus = f.value();
            set(x, i, orig - h);
            double minus = f.value();
            set(x, i, orig);
            double fd = (plus - minus) / (2.0 * h);
            double an = get(analytic, i);
            double err = Math.abs(fd - an);
            worst = Math.max(worst, err / (absTol + relTol * Math.abs(fd)));
            assertEquals(fd, an, absTol + relTol * Math.abs(fd), what + "[" + i + "]: finite difference " + fd + " vs analytic " + an);
            checked++;
        }
        assertTrue(checked > 0, what + ": nothing checked");
    }

    /** sum_i c_i y_i in double: a random linear read-out makes every output element matter. */
    static double dotOut(MemorySegment y, MemorySegment c, long len) {
        double s = 0;
        for (long i = 0; i < len; i++) s += (double) get(y, i) * get(c, i);
        return s;
    }
}
