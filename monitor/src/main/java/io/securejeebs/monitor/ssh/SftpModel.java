package io.securejeebs.monitor.ssh;

import com.fasterxml.jackson.annotation.JsonIgnore;
import java.util.List;

/**
 * The SFTP requests of one channel whose subsystem is "sftp", as the replay log keeps them (DESIGN §3.2;
 * {@link SftpRequestLog} follows them): the protocol version, and the files and directories the client
 * holds open, each with the offset a sequential transfer would go on at. Immutable. It is also what a
 * checkpoint stores of the channel's SFTP stream, so it holds what the log needs to go on: the OPEN,
 * OPENDIR and version-select requests still waiting for their reply, and where each direction stands
 * inside an SFTP packet (never any file data).
 *
 * @param clientVersion the version of the client's INIT, -1 before it
 * @param version the version in force: the server's VERSION reply, or a version-select the server
 *                accepted; -1 before VERSION
 * @param handles the open handles, in the order they were opened
 * @param stoppedReason why the log stopped following this channel (garbage, a limit, a checkpoint without
 *                      SFTP state), null while it follows it; a stopped log holds no handles
 * @param pendingRequests requests whose reply has not come yet, in the order sent
 * @param fromClient where the client's SFTP stream stands inside a packet
 * @param fromServer where the server's SFTP stream stands inside a packet
 */
public record SftpModel(
        int clientVersion,
        int version,
        List<SftpHandle> handles,
        String stoppedReason,
        @JsonIgnore List<PendingRequest> pendingRequests,
        @JsonIgnore PartialPacket fromClient,
        @JsonIgnore PartialPacket fromServer) {

    public SftpModel {
        handles = List.copyOf(handles);
        pendingRequests = List.copyOf(pendingRequests);
    }

    /**
     * An OPEN, OPENDIR or version-select request waiting for its reply.
     *
     * @param requestId the request id the reply will carry
     * @param opening for OPEN and OPENDIR: the handle the reply will open, its identifier still empty; null for
     *                a version-select
     * @param selectsVersion for a version-select: the version it asks for; -1 for an open
     */
    public record PendingRequest(int requestId, SftpHandle opening, int selectsVersion) {}

    /**
     * Where one direction's SFTP stream stands: inside the packet that began {@code consumed} bytes ago,
     * of which {@code head} is what the log keeps (the length, the type, and the header fields it reads:
     * request id, handle, offset, lengths; never file data). Both empty between packets.
     */
    public record PartialPacket(byte[] head, long consumed) {
        public static final PartialPacket NONE = new PartialPacket(new byte[0], 0);
    }

    /** The state of a channel whose SFTP stream is not followed, for {@code reason}. */
    public static SftpModel stopped(String reason) {
        return new SftpModel(-1, -1, List.of(), reason, List.of(), PartialPacket.NONE, PartialPacket.NONE);
    }
}
