package io.securejeebs.monitor.ssh;

/** A captured SSH stream cannot be decoded: bad length, bad padding, or a MAC/tag that does not verify. */
public final class PacketDecodingException extends Exception {
    public PacketDecodingException(String message) {
        super(message);
    }

    public PacketDecodingException(String message, Throwable cause) {
        super(message, cause);
    }
}
