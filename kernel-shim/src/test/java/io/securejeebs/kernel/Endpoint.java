package io.securejeebs.kernel;

import java.io.EOFException;
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

    /** Writes all of {@code b}. */
    void writeFully(ByteBuffer b) throws Exception;

    /** Fills {@code b}, or throws EOFException if the peer closes first. */
    void readFully(ByteBuffer b) throws Exception;

    default void write(byte[] data) throws Exception {
        writeFully(ByteBuffer.wrap(data));
    }

    default byte[] read(int n) throws Exception {
        ByteBuffer b = ByteBuffer.allocate(n);
        readFully(b);
        return b.array();
    }

    /** True if the peer closed in an orderly way (read returns -1). */
    default boolean readsEof() throws Exception {
        try {
            readFully(ByteBuffer.allocate(1));
            return false;
        } catch (EOFException e) {
            return true;
        }
    }

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
            public void writeFully(ByteBuffer b) throws IOException {
                Lo.writeFully(ch, b);
            }

            @Override
            public void readFully(ByteBuffer b) throws IOException {
                Lo.readFully(ch, b);
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
            public void writeFully(ByteBuffer b) throws Exception {
                Lo.writeFully(ch, b);
            }

            @Override
            public void readFully(ByteBuffer b) throws Exception {
                Lo.readFully(ch, b);
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
