package io.securejeebs.monitor.ssh;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

/**
 * A file or directory an SFTP client holds open on one channel, as the wire shows it: the server's HANDLE
 * reply to an OPEN or OPENDIR request, until the client's CLOSE of it. Immutable; the arrays are owned by
 * the handle. Nothing in it is file content: the path and the open flags are what the client asked for.
 *
 * @param identifier the handle string the server gave (at most 256 bytes), as the client sends it back
 * @param kind a file (OPEN) or a directory (OPENDIR)
 * @param pathBytes the path of the OPEN or OPENDIR request, byte for byte (UTF-8 from SFTP version 4 on)
 * @param openFlags a file's open flags: SSH_FXF_* pflags in versions 3 and 4, the flags field from
 *                  version 5 on; 0 for a directory
 * @param desiredAccess a file's ACE4_* desired-access field from SFTP version 5 on; null before version 5
 *                      and for a directory
 * @param attrs the ATTRS of the OPEN request, undecoded (their layout depends on the version); empty for a
 *              directory
 * @param offset for a file: the offset just past the latest READ or WRITE request on the handle (where a
 *               sequential transfer goes on), 0 before any; for a directory: 0
 */
public record SftpHandle(
        @JsonIgnore byte[] identifier,
        Kind kind,
        @JsonIgnore byte[] pathBytes,
        int openFlags,
        Integer desiredAccess,
        @JsonIgnore byte[] attrs,
        long offset) {

    /** What the handle was opened on. */
    public enum Kind { FILE, DIRECTORY }

    /** The handle identifier in hex, as {@code securejeebs status --json} shows it. */
    @JsonProperty("handle")
    public String handleHex() {
        return HexFormat.of().formatHex(identifier);
    }

    /** The path as text (bytes that are not UTF-8 are replaced). */
    @JsonProperty("path")
    public String path() {
        return new String(pathBytes, StandardCharsets.UTF_8);
    }

    /** The same handle, its offset moved. */
    SftpHandle at(long newOffset) {
        return new SftpHandle(identifier, kind, pathBytes, openFlags, desiredAccess, attrs, newOffset);
    }

    @Override
    public String toString() { // the path and flags are not secret; the handle is shown in hex
        return "SftpHandle[" + kind + " " + path() + " handle=" + handleHex() + " flags=0x"
                + Integer.toHexString(openFlags) + (desiredAccess == null ? "" : " access=0x"
                + Integer.toHexString(desiredAccess)) + " offset=" + offset + "]";
    }
}
