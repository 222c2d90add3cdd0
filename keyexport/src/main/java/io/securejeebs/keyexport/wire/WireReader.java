package io.securejeebs.keyexport.wire;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Strict reader for the encodings {@link WireWriter} produces. Every read names the field it reads, so a
 * failure says which field, at which offset, and why: a length running past the end, a count that cannot
 * fit, a boolean that is neither 0 nor 1, text that is not UTF-8, an address that is neither 4 nor 16
 * bytes. {@link #expectEnd()} rejects trailing bytes. Nothing read is ever quoted in a message.
 *
 * <p>Because every accepted input is exactly what the writer would produce for the decoded value,
 * decoding then encoding gives back the same bytes.
 */
public final class WireReader {
    private final String what;
    private final byte[] data;
    private final int end;
    private int pos;

    /**
     * @param what names the encoding in messages, e.g. {@code "KEX record"}
     */
    public WireReader(String what, byte[] data) {
        this(what, data, 0, data.length);
    }

    public WireReader(String what, byte[] data, int offset, int length) {
        this.what = what;
        this.data = data;
        this.pos = offset;
        this.end = offset + length;
    }

    public int position() {
        return pos;
    }

    public int remaining() {
        return end - pos;
    }

    public MalformedEncodingException malformed(String message) {
        return new MalformedEncodingException(what + ": " + message);
    }

    private void need(String field, int n, String unit) throws MalformedEncodingException {
        if (remaining() < n) {
            throw malformed("truncated at offset " + pos + ": " + field + " needs " + n + " " + unit
                    + ", only " + remaining() + " left");
        }
    }

    /** Reads the leading format-version byte and refuses any version but {@code supported}. */
    public void readFormatVersion(int supported) throws MalformedEncodingException {
        readFormatVersion(supported, supported);
    }

    /**
     * Reads the leading format-version byte and refuses any version outside {@code oldest..newest} (a format
     * that grew, whose older blobs are still read).
     *
     * @return the version read
     */
    public int readFormatVersion(int oldest, int newest) throws MalformedEncodingException {
        if (remaining() == 0 && position() == 0) {
            throw malformed("empty input (no format version)");
        }
        int version = readByte("format version");
        if (version < oldest || version > newest) {
            throw malformed("unsupported format version " + version + " (this build reads version "
                    + (oldest == newest ? oldest : oldest + " to " + newest) + ")");
        }
        return version;
    }

    public int readByte(String field) throws MalformedEncodingException {
        need(field, 1, "byte");
        return data[pos++] & 0xff;
    }

    public boolean readBoolean(String field) throws MalformedEncodingException {
        int at = pos;
        int b = readByte(field);
        if (b > 1) {
            throw malformed(field + " at offset " + at + " must be 0 or 1, got " + b);
        }
        return b == 1;
    }

    /** An SSH uint32 that must fit a Java int (0 .. 2^31-1). */
    public int readUint32(String field) throws MalformedEncodingException {
        int at = pos;
        need(field, 4, "bytes");
        long v = ((data[pos] & 0xffL) << 24) | ((data[pos + 1] & 0xffL) << 16)
                | ((data[pos + 2] & 0xffL) << 8) | (data[pos + 3] & 0xffL);
        pos += 4;
        if (v > Integer.MAX_VALUE) {
            throw malformed(field + " at offset " + at + " is " + v + ", above the limit " + Integer.MAX_VALUE);
        }
        return (int) v;
    }

    public byte[] readRaw(String field, int n) throws MalformedEncodingException {
        need(field, n, "bytes");
        byte[] v = Arrays.copyOfRange(data, pos, pos + n);
        pos += n;
        return v;
    }

    public byte[] readString(String field) throws MalformedEncodingException {
        int at = pos;
        int length = readUint32(field + " length");
        if (length > remaining()) {
            throw malformed(field + " at offset " + at + " claims " + length + " bytes, only " + remaining() + " left");
        }
        byte[] v = Arrays.copyOfRange(data, pos, pos + length);
        pos += length;
        return v;
    }

    /** A {@code string} whose length the format fixes (a digest, a key, a signature). */
    public byte[] readString(String field, int exactLength) throws MalformedEncodingException {
        int at = pos;
        byte[] v = readString(field);
        if (v.length != exactLength) {
            throw malformed(field + " at offset " + at + " is " + v.length + " bytes, must be " + exactLength);
        }
        return v;
    }

    public String readUtf8(String field) throws MalformedEncodingException {
        int at = pos;
        byte[] bytes = readString(field);
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes))
                    .toString();
        } catch (CharacterCodingException e) {
            throw malformed(field + " at offset " + at + " is not valid UTF-8");
        }
    }

    public List<byte[]> readStringList(String field) throws MalformedEncodingException {
        int at = pos;
        int count = readUint32(field + " count");
        // Each element needs at least its 4-byte length: a larger count cannot be honest, and
        // checking first keeps a forged count from allocating a huge list.
        if (count > remaining() / 4) {
            throw malformed(field + " at offset " + at + " claims " + count + " elements, but only "
                    + remaining() + " bytes are left");
        }
        List<byte[]> list = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            list.add(readString(field + "[" + i + "]"));
        }
        return list;
    }

    public InetSocketAddress readEndpoint(String field) throws MalformedEncodingException {
        int at = pos;
        byte[] raw = readString(field + " address");
        if (raw.length != 4 && raw.length != 16) {
            throw malformed(field + " address at offset " + at + " is " + raw.length + " bytes, must be 4 or 16");
        }
        InetAddress address;
        try {
            address = InetAddress.getByAddress(raw);
        } catch (UnknownHostException e) {
            throw malformed(field + " address at offset " + at + " is not an IP address");
        }
        if (raw.length == 16 && address instanceof Inet4Address) {
            // Java turns ::ffff:a.b.c.d into an IPv4 address, which encodes as 4 bytes: two encodings
            // of one value would break canonicality.
            throw malformed(field + " address at offset " + at + " is an IPv4-mapped IPv6 address;"
                    + " the canonical form is the 4-byte IPv4 address");
        }
        int portAt = pos;
        int port = readUint32(field + " port");
        if (port > 0xffff) {
            throw malformed(field + " port at offset " + portAt + " is " + port + ", above 65535");
        }
        return new InetSocketAddress(address, port);
    }

    /** The encoding must end exactly here. */
    public void expectEnd() throws MalformedEncodingException {
        if (pos != end) {
            throw malformed((end - pos) + " trailing byte(s) after the end at offset " + pos);
        }
    }
}
