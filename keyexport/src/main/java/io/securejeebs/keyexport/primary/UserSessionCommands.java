package io.securejeebs.keyexport.primary;

import java.util.List;
import org.apache.sshd.server.channel.ChannelSession;
import org.apache.sshd.server.command.Command;
import org.apache.sshd.server.command.CommandFactory;
import org.apache.sshd.server.shell.ShellFactory;

/** The "shell" and "exec" requests: both run as the logged-in user ({@link UserProcessCommand}). */
final class UserSessionCommands implements ShellFactory, CommandFactory {
    private final List<String> acceptEnv;

    UserSessionCommands(List<String> acceptEnv) {
        this.acceptEnv = List.copyOf(acceptEnv);
    }

    @Override
    public Command createShell(ChannelSession channel) {
        return new UserProcessCommand(null, acceptEnv);
    }

    @Override
    public Command createCommand(ChannelSession channel, String command) {
        return new UserProcessCommand(command, acceptEnv);
    }
}
