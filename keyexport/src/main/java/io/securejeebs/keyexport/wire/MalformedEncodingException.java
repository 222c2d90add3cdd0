package io.securejeebs.keyexport.wire;

/**
 * Bytes that should hold one of SecureJeebs' canonical encodings do not. The message names the field,
 * the offset and what was wrong (a length, a version, trailing bytes), never the field's contents.
 */
public final class MalformedEncodingException extends Exception {
    private static final long serialVersionUID = 1L;

    public MalformedEncodingException(String message) {
        super(message);
    }
}
