package io.securejeebs.e2e;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Random;
import org.apache.sshd.client.SshClient;
import org.apache.sshd.client.keyverifier.AcceptAllServerKeyVerifier;
import org.apache.sshd.client.session.ClientSession;
import org.apache.sshd.common.keyprovider.FileKeyPairProvider;
import org.apache.sshd.sftp.client.SftpClient;
import org.apache.sshd.sftp.client.SftpClientFactory;
import org.apache.sshd.sftp.client.SftpVersionSelector;

/**
 * The lab's SFTP client that keeps handles open between requests (OpenSSH's sftp closes each file when its
 * command ends), run inside sj-client by {@link MonitorOracleIT}. MINA's SftpClient, SFTP version 3, logs in
 * with the given key and, in the user's home:
 * <ol>
 *   <li>opens {@code sj-handles-TAG.bin} for writing and reading, writes 100 000 bytes, then reads 4 096 at
 *       offset 10 000 (the offset past the latest request: 14 096); opens the directory "."; creates
 *       {@code sj-closed-TAG.bin} and closes it; prints {@code HANDLES <file handle hex> <directory handle hex>};</li>
 *   <li>on "close-file" (a line on stdin) closes the file and removes both files, prints {@code FILE-CLOSED};</li>
 *   <li>keeps the session, and the directory handle, until stdin ends.</li>
 * </ol>
 * Arguments: host port user private-key-file tag.
 */
public final class SftpHandlesClient {
    private static final Duration T = Duration.ofSeconds(30);

    public static void main(String[] args) throws Exception {
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        String user = args[2];
        KeyPair key = new FileKeyPairProvider(Path.of(args[3])).loadKeys(null).iterator().next();
        String tag = args[4];
        BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try (SshClient client = SshClient.setUpDefaultClient()) {
            client.setServerKeyVerifier(AcceptAllServerKeyVerifier.INSTANCE); // the lab's primary, on its VIP
            client.start();
            try (ClientSession session = client.connect(user, host, port).verify(T).getSession()) {
                session.addPublicKeyIdentity(key);
                session.auth().verify(T);
                try (SftpClient sftp = SftpClientFactory.instance().createSftpClient(session,
                        SftpVersionSelector.fixedVersionSelector(3))) {
                    String held = "sj-handles-" + tag + ".bin";
                    String closed = "sj-closed-" + tag + ".bin";
                    byte[] data = new byte[100_000];
                    new Random(9).nextBytes(data);
                    SftpClient.Handle file = sftp.open(held, SftpClient.OpenMode.Write, SftpClient.OpenMode.Read,
                            SftpClient.OpenMode.Create, SftpClient.OpenMode.Truncate);
                    for (int at = 0; at < data.length; at += 25_000) {
                        sftp.write(file, at, data, at, 25_000);
                    }
                    if (sftp.read(file, 10_000, new byte[4096], 0, 4096) != 4096) {
                        throw new IllegalStateException("short read");
                    }
                    SftpClient.Handle dir = sftp.openDir(".");
                    SftpClient.Handle other = sftp.open(closed, SftpClient.OpenMode.Write, SftpClient.OpenMode.Create);
                    sftp.write(other, 0, data, 0, 10);
                    sftp.close(other);
                    System.out.println("HANDLES " + HexFormat.of().formatHex(file.getIdentifier()) + " "
                            + HexFormat.of().formatHex(dir.getIdentifier()));
                    System.out.flush();
                    for (String line; (line = stdin.readLine()) != null; ) {
                        if (line.equals("close-file")) {
                            sftp.close(file);
                            sftp.remove(held);
                            sftp.remove(closed);
                            System.out.println("FILE-CLOSED");
                            System.out.flush();
                        }
                    }
                    sftp.close(dir);
                }
            }
        }
    }
}
