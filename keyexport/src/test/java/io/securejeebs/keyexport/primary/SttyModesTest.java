package io.securejeebs.keyexport.primary;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.apache.sshd.common.channel.PtyMode;
import org.junit.jupiter.api.Test;

class SttyModesTest {
    @Test
    void modesBecomeSttyArguments() {
        Map<PtyMode, Integer> modes = new EnumMap<>(PtyMode.class);
        modes.put(PtyMode.VINTR, 3);
        modes.put(PtyMode.VERASE, 127);
        modes.put(PtyMode.VEOL, 255);
        modes.put(PtyMode.VQUIT, 97);
        modes.put(PtyMode.ECHO, 1);
        modes.put(PtyMode.ICRNL, 0);
        modes.put(PtyMode.CS8, 1);
        modes.put(PtyMode.TTY_OP_ISPEED, 38400);
        modes.put(PtyMode.VSTATUS, 20);
        assertEquals(List.of("intr", "^C", "quit", "97", "erase", "^?", "eol", "undef", "-icrnl",
                "echo", "cs8"), SttyModes.args(modes));
    }
}
