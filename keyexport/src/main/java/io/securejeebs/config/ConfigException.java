package io.securejeebs.config;

/** A config file is wrong. The message names the file, the line (when there is one) and the reason. */
public final class ConfigException extends Exception {
    private final String file;
    private final int line;
    private final String reason;

    public ConfigException(String file, int line, String reason) {
        super(line > 0 ? file + ":" + line + ": " + reason : file + ": " + reason);
        this.file = file;
        this.line = line;
        this.reason = reason;
    }

    public String file() {
        return file;
    }

    /** 1-based line number, or 0 when the problem is a missing setting. */
    public int line() {
        return line;
    }

    public String reason() {
        return reason;
    }
}
