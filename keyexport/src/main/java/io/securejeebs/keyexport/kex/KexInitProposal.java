package io.securejeebs.keyexport.kex;

import java.util.Arrays;
import java.util.List;
import org.apache.sshd.common.SshConstants;
import org.apache.sshd.common.util.buffer.Buffer;
import org.apache.sshd.common.util.buffer.ByteArrayBuffer;

/**
 * The name-lists of one SSH_MSG_KEXINIT payload (RFC 4253 §7.1), in the order they appear on the wire.
 */
public record KexInitProposal(List<String> kex, List<String> hostKey, List<String> cipherC2S, List<String> cipherS2C,
                              List<String> macC2S, List<String> macS2C, List<String> compressionC2S,
                              List<String> compressionS2C, boolean firstKexPacketFollows) {

    /** Parses a KEXINIT payload (message number 20 first). */
    public static KexInitProposal parse(byte[] payload) throws KexRecordException {
        try {
            Buffer b = new ByteArrayBuffer(payload);
            int cmd = b.getUByte();
            if (cmd != SshConstants.SSH_MSG_KEXINIT) {
                throw new KexRecordException("not a KEXINIT payload: message " + cmd);
            }
            b.rpos(b.rpos() + 16); // cookie
            List<String> kex = names(b);
            List<String> hostKey = names(b);
            List<String> encC2S = names(b);
            List<String> encS2C = names(b);
            List<String> macC2S = names(b);
            List<String> macS2C = names(b);
            List<String> compC2S = names(b);
            List<String> compS2C = names(b);
            names(b); // languages c2s
            names(b); // languages s2c
            boolean follows = b.getBoolean();
            return new KexInitProposal(kex, hostKey, encC2S, encS2C, macC2S, macS2C, compC2S, compS2C, follows);
        } catch (RuntimeException e) {
            throw new KexRecordException("malformed KEXINIT payload: " + e.getMessage());
        }
    }

    /**
     * Whether a server that proposed {@code server} silently ignores the key-exchange packet this (client)
     * proposal said follows it (RFC 4253 §7.1, first_kex_packet_follows): the guess is wrong when the two sides'
     * preferred key-exchange or host-key algorithms differ. This is MINA's rule
     * ({@code AbstractSession.handleFirstKexPacketFollows}: the first name of each list, for
     * {@code KexProposalOption.FIRST_KEX_PACKET_GUESS_MATCHES}), so exactly the packet the primary dropped.
     */
    public boolean guessIgnoredBy(KexInitProposal server) {
        return firstKexPacketFollows && (!samePreferred(kex, server.kex) || !samePreferred(hostKey, server.hostKey));
    }

    private static boolean samePreferred(List<String> a, List<String> b) {
        return !a.isEmpty() && !b.isEmpty() && !a.get(0).isEmpty() && a.get(0).equals(b.get(0));
    }

    private static List<String> names(Buffer b) {
        String s = b.getString();
        return s.isEmpty() ? List.of() : Arrays.asList(s.split(","));
    }
}
