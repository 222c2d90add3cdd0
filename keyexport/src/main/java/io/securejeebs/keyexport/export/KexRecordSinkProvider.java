package io.securejeebs.keyexport.export;

import io.securejeebs.config.ConfigException;
import io.securejeebs.config.ConfigFile;
import io.securejeebs.keyexport.KexRecordSink;

/**
 * How {@code securejeebs primary} finds the sink that seals and stores KEX records: a
 * {@link java.util.ServiceLoader} service. The implementation (sealing + MySQL) registers itself in
 * {@code META-INF/services/io.securejeebs.keyexport.export.KexRecordSinkProvider}.
 */
public interface KexRecordSinkProvider {
    /**
     * Makes the sink from the primary's config file. It reads its own settings from {@code config} (so that
     * they are known keys, not typos); errors name the file and line, as every {@link ConfigFile} error does.
     */
    KexRecordSink create(ConfigFile config) throws ConfigException;
}
