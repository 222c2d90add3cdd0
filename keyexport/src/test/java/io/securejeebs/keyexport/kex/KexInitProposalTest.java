package io.securejeebs.keyexport.kex;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.apache.sshd.common.SshConstants;
import org.apache.sshd.common.util.buffer.Buffer;
import org.apache.sshd.common.util.buffer.ByteArrayBuffer;
import org.junit.jupiter.api.Test;

/**
 * RFC 4253 §7.1's guessed first key-exchange packet, by MINA's rule: the server ignores it when the two sides'
 * preferred key exchange or host-key algorithm differ (the first name of each list), and only when the client
 * said one follows.
 */
class KexInitProposalTest {
    private static final String SERVER_KEX = "mlkem768x25519-sha256,curve25519-sha256,ext-info-s,kex-strict-s-v00@openssh.com";
    private static final String SERVER_HOST_KEYS = "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512";

    @Test
    void aGuessIsIgnoredWhenThePreferredKeyExchangeOrHostKeyAlgorithmDiffers() throws Exception {
        KexInitProposal server = KexInitProposal.parse(kexInit(SERVER_KEX, SERVER_HOST_KEYS, false));
        // Dropbear 2022.83 against the primary: curve25519 first, the primary prefers ML-KEM
        assertTrue(parse("curve25519-sha256,mlkem768x25519-sha256,kexguess2@matt.ucc.asn.au", "ssh-ed25519", true)
                .guessIgnoredBy(server));
        assertTrue(parse("mlkem768x25519-sha256,curve25519-sha256", "ecdsa-sha2-nistp256,ssh-ed25519", true)
                .guessIgnoredBy(server), "same key exchange, another host key first");
        assertTrue(parse("", "ssh-ed25519", true).guessIgnoredBy(server), "nothing preferred: never a right guess");
    }

    @Test
    void aRightGuessOrNoGuessIsNotIgnored() throws Exception {
        KexInitProposal server = KexInitProposal.parse(kexInit(SERVER_KEX, SERVER_HOST_KEYS, false));
        assertFalse(parse("mlkem768x25519-sha256,ext-info-c", "ssh-ed25519,rsa-sha2-256", true).guessIgnoredBy(server));
        assertFalse(parse("curve25519-sha256", "ecdsa-sha2-nistp256", false).guessIgnoredBy(server), "no packet follows");
    }

    @Test
    void theFieldsAreReadInTheirWireOrder() throws Exception {
        KexInitProposal p = parse("a,b", "c", true);
        assertEquals(List.of("a", "b"), p.kex());
        assertEquals(List.of("c"), p.hostKey());
        assertTrue(p.firstKexPacketFollows());
        assertThrows(KexRecordException.class, () -> KexInitProposal.parse(new byte[] {SshConstants.SSH_MSG_KEXINIT, 1, 2}));
    }

    private static KexInitProposal parse(String kex, String hostKeys, boolean follows) throws KexRecordException {
        return KexInitProposal.parse(kexInit(kex, hostKeys, follows));
    }

    private static byte[] kexInit(String kex, String hostKeys, boolean follows) {
        Buffer b = new ByteArrayBuffer();
        b.putByte(SshConstants.SSH_MSG_KEXINIT);
        b.putRawBytes(new byte[16]);
        b.putString(kex);
        b.putString(hostKeys);
        for (int i = 0; i < 2; i++) {
            b.putString("chacha20-poly1305@openssh.com");
        }
        for (int i = 0; i < 2; i++) {
            b.putString("hmac-sha2-256");
        }
        for (int i = 0; i < 2; i++) {
            b.putString("none");
        }
        b.putString("");
        b.putString("");
        b.putBoolean(follows);
        b.putUInt(0);
        return b.getCompactData();
    }
}
