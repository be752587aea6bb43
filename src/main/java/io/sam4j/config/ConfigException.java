package io.sam4j.config;

import java.util.Collection;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A library setting has a bad value. The message names the settings' FIELDS (e.g. "rho must be > 0, got -1"),
 * never command-line flags, because the library has none: the template marks each field as {@code {name}},
 * {@link #getMessage()} prints the bare names, and a front end prints its own names with
 * {@link #render(UnaryOperator)} (the CLI maps {@code labelNoise} to {@code --label-noise}).
 * An {@link IllegalArgumentException}, so callers that catch those need no change.
 */
public class ConfigException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;
    private static final Pattern FIELD = Pattern.compile("\\{([A-Za-z][A-Za-z0-9]*)}");

    private final String template;

    /** {@code template} names fields as {@code {field}}, e.g. {@code "{stable} needs a SAM optimizer"}. */
    public ConfigException(String template) {
        super(render(template, UnaryOperator.identity()));
        this.template = template;
    }

    /** "{field} must be CONDITION, got VALUE". */
    public static ConfigException mustBe(String field, String condition, Object value) {
        return new ConfigException("{" + field + "} must be " + condition + ", got " + value);
    }

    /** "{field}: unknown 'VALUE' (known: a, b)". */
    public static ConfigException unknown(String field, String value, Collection<String> known) {
        return new ConfigException("{" + field + "}: unknown '" + value + "' (known: " + String.join(", ", known) + ")");
    }

    /** The first field the message names. */
    public String field() {
        Matcher m = FIELD.matcher(template);
        return m.find() ? m.group(1) : "";
    }

    /** The message with every field written as {@code names} maps it. */
    public String render(UnaryOperator<String> names) {
        return render(template, names);
    }

    private static String render(String template, UnaryOperator<String> names) {
        return FIELD.matcher(template).replaceAll(m -> Matcher.quoteReplacement(names.apply(m.group(1))));
    }
}
