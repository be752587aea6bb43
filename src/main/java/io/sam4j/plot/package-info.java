/**
 * Chart files: {@link io.sam4j.plot.ChartFiles} turns an XChart chart into PNG and SVG files. Shared by the run
 * reports ({@code report}) and the second-order plots ({@code sharpness}), which draw different charts but write
 * them the same way.
 *
 * <p><b>May import:</b> formats. (Enforced by {@code io.sam4j.LayeringTest}.)
 */
package io.sam4j.plot;
