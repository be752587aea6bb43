package io.sam4j.report;

import java.util.Locale;

/**
 * The mean and the sample standard deviation (n - 1) of the finite values among some numbers, and how many
 * there were: what every comparison table prints as {@code mean ± std}.
 */
record MeanStd(double mean, double std, int n) {
    static final MeanStd NONE = new MeanStd(Double.NaN, Double.NaN, 0);

    static MeanStd of(double... values) {
        double sum = 0;
        int n = 0;
        for (double v : values) {
            if (Double.isFinite(v)) {
                sum += v;
                n++;
            }
        }
        if (n == 0) return NONE;
        double mean = sum / n, ss = 0;
        for (double v : values) if (Double.isFinite(v)) ss += (v - mean) * (v - mean);
        return new MeanStd(mean, n < 2 ? 0 : Math.sqrt(ss / (n - 1)), n);
    }

    /**
     * {@code mean ± std} in {@code format}, the mean alone for one value, "—" for none. A format of significant
     * digits ("%.4g") sets the digits of the mean, and the std gets the same decimals (0.01448 ± 0.00021).
     */
    String format(String format) {
        if (n == 0) return "—";
        if (format.endsWith("g") && mean != 0) {
            int digits = Integer.parseInt(format.substring(2, format.length() - 1));
            int decimals = Math.max(0, digits - 1 - (int) Math.floor(Math.log10(Math.abs(mean))));
            format = "%." + decimals + "f";
        }
        String m = String.format(Locale.ROOT, format, mean);
        return n == 1 ? m : m + " ± " + String.format(Locale.ROOT, format, std);
    }
}
