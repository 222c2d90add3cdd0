package io.securejeebs.kernel;

import java.io.IOException;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousSocketChannel;
import java.nio.channels.NetworkChannel;
import java.nio.channels.SocketChannel;

/** One end of a test connection: a SocketChannel (either blocking mode) or an AsynchronousSocketChannel. */
interface Endpoint extends AutoCloseable {

    NetworkChannel channel();

    SocketAddress remoteAddress() throws IOException;

    void write(byte[] data) throws Exception;

    byte[] read(int n) throws Exception;

    /** True if the peer closed in an orderly way (read returns -1). */
    boolean readsEof() throws Exception;

    @Override
    void close() throws IOException;

    static Endpoint of(SocketChannel ch) {
        return new Endpoint() {
            @Override
            public NetworkChannel channel() {
                return ch;
            }

            @Override
            public SocketAddress remoteAddress() throws IOException {
                return ch.getRemoteAddress();
            }

            @Override
            public void write(byte[] data) throws IOException {
                Lo.writeFully(ch, ByteBuffer.wrap(data));
            }

            @Override
            public byte[] read(int n) throws IOException {
                ByteBuffer b = ByteBuffer.allocate(n);
                Lo.readFully(ch, b);
                return b.array();
            }

            @Override
            public boolean readsEof() throws IOException {
                try {
                    Lo.readFully(ch, ByteBuffer.allocate(1));
                    return false;
                } catch (java.io.EOFException e) {
                    return true;
                }
            }

            @Override
            public void close() throws IOException {
                ch.close();
            }

            @Override
            public String toString() {
                return (ch.isBlocking() ? "blocking " : "non-blocking ") + ch;
            }
        };
    }

    static Endpoint of(AsynchronousSocketChannel ch) {
        return new Endpoint() {
            @Override
            public NetworkChannel channel() {
                return ch;
            }

            @Override
            public SocketAddress remoteAddress() throws IOException {
                return ch.getRemoteAddress();
            }

            @Override
            public void write(byte[] data) throws Exception {
                Lo.writeFully(ch, ByteBuffer.wrap(data));
            }

            @Override
            public byte[] read(int n) throws Exception {
                ByteBuffer b = ByteBuffer.allocate(n);
                Lo.readFully(ch, b);
                return b.array();
            }

            @Override
            public boolean readsEof() throws Exception {
                try {
                    Lo.readFully(ch, ByteBuffer.allocate(1));
                    return false;
                } catch (java.io.EOFException e) {
                    return true;
                }
            }

            @Override
            public void close() throws IOException {
                ch.close();
            }

            @Override
            public String toString() {
                return "async " + ch;
            }
        };
    }
}
