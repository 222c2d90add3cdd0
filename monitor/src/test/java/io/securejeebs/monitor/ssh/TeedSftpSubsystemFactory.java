package io.securejeebs.monitor.ssh;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import org.apache.sshd.common.io.IoOutputStream;
import org.apache.sshd.common.util.GenericUtils;
import org.apache.sshd.common.util.buffer.Buffer;
import org.apache.sshd.server.channel.ChannelSession;
import org.apache.sshd.server.command.Command;
import org.apache.sshd.sftp.server.SftpSubsystem;
import org.apache.sshd.sftp.server.SftpSubsystemFactory;

/**
 * TEST FIXTURE: MINA's SFTP subsystem, unchanged, whose raw SFTP streams (the channel data, before SSH
 * framing and encryption) are copied aside as the server gets and sends them: the client's bytes when they
 * reach the subsystem, the server's when it writes them. That order is causal (a reply is written after the
 * request it answers came), so the streams can be fed to an {@link SftpRequestLog} in any chunking that
 * keeps it. Only the latest subsystem's streams are kept.
 */
final class TeedSftpSubsystemFactory extends SftpSubsystemFactory {
    private ByteArrayOutputStream c2s = new ByteArrayOutputStream();
    private ByteArrayOutputStream s2c = new ByteArrayOutputStream();
    private List<Integer> order = new ArrayList<>();

    /** One SFTP channel's two streams, and their chunks in the order they came: +n client bytes, -n server bytes. */
    record Streams(byte[] c2s, byte[] s2c, int[] order) {}

    @Override
    public Command createSubsystem(ChannelSession channel) throws IOException {
        synchronized (this) {
            c2s = new ByteArrayOutputStream();
            s2c = new ByteArrayOutputStream();
            order = new ArrayList<>();
        }
        SftpSubsystem subsystem = new SftpSubsystem(channel, this) {
            @Override
            public int data(ChannelSession session, byte[] buf, int start, int len) throws IOException {
                tee(true, buf, start, len);
                return super.data(session, buf, start, len);
            }

            @Override
            public void setIoOutputStream(IoOutputStream out) {
                super.setIoOutputStream((IoOutputStream) Proxy.newProxyInstance(getClass().getClassLoader(),
                        new Class<?>[] {IoOutputStream.class}, (proxy, method, args) -> {
                            if (method.getName().equals("writeBuffer") && args != null && args[0] instanceof Buffer b) {
                                tee(false, b.array(), b.rpos(), b.available());
                            }
                            try {
                                return method.invoke(out, args);
                            } catch (InvocationTargetException e) {
                                throw e.getCause();
                            }
                        }));
            }
        };
        GenericUtils.forEach(getRegisteredListeners(), subsystem::addSftpEventListener);
        return subsystem;
    }

    private synchronized void tee(boolean fromClient, byte[] data, int off, int len) {
        if (len > 0) {
            (fromClient ? c2s : s2c).write(data, off, len);
            order.add(fromClient ? len : -len);
        }
    }

    synchronized Streams streams() {
        return new Streams(c2s.toByteArray(), s2c.toByteArray(), order.stream().mapToInt(Integer::intValue).toArray());
    }
}
