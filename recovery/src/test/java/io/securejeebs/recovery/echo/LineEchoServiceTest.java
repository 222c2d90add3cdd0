package io.securejeebs.recovery.echo;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Over loopback: the echo service answers lines exactly, and a resumed one skips what was already sent. */
class LineEchoServiceTest {
    private static String exchange(int skip, String send) throws Exception {
        try (ServerSocketChannel listener = ServerSocketChannel.open()) {
            listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            try (Socket client = new Socket()) {
                client.connect(listener.getLocalAddress());
                SocketChannel served = listener.accept();
                Thread t = new Thread(() -> LineEchoServer.serve(served, skip));
                t.start();
                OutputStream out = client.getOutputStream();
                out.write(send.getBytes(StandardCharsets.US_ASCII));
                client.shutdownOutput();
                InputStream in = client.getInputStream();
                String got = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
                t.join(5000);
                return got;
            }
        }
    }

    @Test
    void echoesEveryLineExactly() throws Exception {
        assertEquals("one\ntwo\nthree\n", exchange(0, "one\ntwo\nthree\nunterminated"));
    }

    @Test
    void aResumedServiceSendsOnlyTheRestOfAPartlySentAnswer() throws Exception {
        assertEquals("ree\nfour\n", exchange(2, "three\nfour\n"));
    }
}
