package io.securejeebs.keyexport.wire;

import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * Builds a canonical encoding out of SSH-style fields (RFC 4251 §5): {@code byte}, {@code boolean},
 * {@code uint32}, and {@code string} (a uint32 length, then that many bytes). Every value has exactly one
 * encoding, so equal values give equal bytes, which is what signatures and digests need.
 *
 * <p>Endpoints (an address and a port) are written as a {@code string} holding the raw address, 4 bytes
 * for IPv4 or 16 for IPv6 (an IPv6 scope id is local interface information and is not written), then
 * the port as a {@code uint32}.
 *
 * <p>The buffer may hold secrets; {@link #toByteArrayAndWipe()} clears it after copying.
 */
public final class WireWriter {
    private final ByteArrayOutputStream out;

    public WireWriter() {
        this(256);
    }

    public WireWriter(int initialCapacity) {
        this.out = new ByteArrayOutputStream(initialCapacity);
    }

    public WireWriter writeByte(int value) {
        if (value < 0 || value > 0xff) {
            throw new IllegalArgumentException("byte value out of range: " + value);
        }
        out.write(value);
        return this;
    }

    public WireWriter writeBoolean(boolean value) {
        out.write(value ? 1 : 0);
        return this;
    }

    /** Writes a non-negative int as an SSH uint32. */
    public WireWriter writeUint32(int value) {
        if (value < 0) {
            throw new IllegalArgumentException("uint32 field must not be negative: " + value);
        }
        out.write(value >>> 24);
        out.write(value >>> 16);
        out.write(value >>> 8);
        out.write(value);
        return this;
    }

    /** Writes raw bytes with no length: only for fixed-size fields whose size the format fixes. */
    public WireWriter writeRaw(byte[] bytes) {
        out.writeBytes(bytes);
        return this;
    }

    public WireWriter writeString(byte[] bytes) {
        writeUint32(bytes.length);
        out.writeBytes(bytes);
        return this;
    }

    /**
     * Writes text as UTF-8. Text that is not valid Unicode (a lone surrogate) is refused rather than
     * replaced, because a replacement would not decode back to the same value.
     */
    public WireWriter writeUtf8(String field, String text) {
        try {
            ByteBuffer encoded = StandardCharsets.UTF_8.newEncoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .encode(CharBuffer.wrap(text));
            byte[] bytes = new byte[encoded.remaining()];
            encoded.get(bytes);
            return writeString(bytes);
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException(field + " is not valid Unicode text");
        }
    }

    /** A {@code uint32} count, then each element as a {@code string}. */
    public WireWriter writeStringList(List<byte[]> elements) {
        writeUint32(elements.size());
        for (byte[] e : elements) {
            writeString(e);
        }
        return this;
    }

    public WireWriter writeEndpoint(String field, InetSocketAddress endpoint) {
        InetAddress address = endpoint.getAddress();
        if (address == null) {
            throw new IllegalArgumentException(field + " is an unresolved address (" + endpoint.getHostString() + ")");
        }
        writeString(address.getAddress());
        writeUint32(endpoint.getPort());
        return this;
    }

    public int size() {
        return out.size();
    }

    public byte[] toByteArray() {
        return out.toByteArray();
    }

    /** Returns the bytes written and overwrites the internal buffer, for encodings that hold secrets. */
    public byte[] toByteArrayAndWipe() {
        byte[] copy = out.toByteArray();
        byte[] zeros = new byte[out.size()];
        out.reset();
        out.writeBytes(zeros); // overwrites the old contents in place (same backing array)
        out.reset();
        Arrays.fill(zeros, (byte) 0);
        return copy;
    }
}
