package io.securejeebs.keyexport.kex;

import java.util.List;

/**
 * The algorithms a client and server agree on from their two KEXINITs (RFC 4253 §7.1): for each list, the
 * first of the client's names that the server also offers. With an AEAD cipher the MAC list is ignored.
 */
public record NegotiatedAlgorithms(String kex, String hostKey, String cipherC2S, String cipherS2C,
                                   String macC2S, String macS2C, String compressionC2S, String compressionS2C) {

    public static NegotiatedAlgorithms of(byte[] clientKexInit, byte[] serverKexInit) throws KexRecordException {
        KexInitProposal c = KexInitProposal.parse(clientKexInit);
        KexInitProposal s = KexInitProposal.parse(serverKexInit);
        return new NegotiatedAlgorithms(
                pick("kex", c.kex(), s.kex()),
                pick("host key", c.hostKey(), s.hostKey()),
                pick("cipher c2s", c.cipherC2S(), s.cipherC2S()),
                pick("cipher s2c", c.cipherS2C(), s.cipherS2C()),
                pickOptional(c.macC2S(), s.macC2S()),
                pickOptional(c.macS2C(), s.macS2C()),
                pick("compression c2s", c.compressionC2S(), s.compressionC2S()),
                pick("compression s2c", c.compressionS2C(), s.compressionS2C()));
    }

    private static String pick(String what, List<String> client, List<String> server) throws KexRecordException {
        String v = pickOptional(client, server);
        if (v == null) {
            throw new KexRecordException("no common " + what + " algorithm: client " + client + ", server " + server);
        }
        return v;
    }

    private static String pickOptional(List<String> client, List<String> server) {
        for (String name : client) {
            if (server.contains(name)) {
                return name;
            }
        }
        return null;
    }
}
