package io.securejeebs.keyexport.primary;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.sshd.common.channel.PtyMode;

/**
 * Turns the terminal modes of a pty-req (RFC 4254 §8) into {@code stty} arguments, which the session runs on
 * its new pty before the shell starts. Modes Linux has no stty name for (VDSUSP, VSTATUS, VFLUSH, VSWTCH)
 * and the line speeds (meaningless on a pty) are left out.
 */
final class SttyModes {
    private static final Map<PtyMode, String> CHARACTERS = new EnumMap<>(PtyMode.class);
    private static final Map<PtyMode, String> FLAGS = new EnumMap<>(PtyMode.class);

    static {
        CHARACTERS.put(PtyMode.VINTR, "intr");
        CHARACTERS.put(PtyMode.VQUIT, "quit");
        CHARACTERS.put(PtyMode.VERASE, "erase");
        CHARACTERS.put(PtyMode.VKILL, "kill");
        CHARACTERS.put(PtyMode.VEOF, "eof");
        CHARACTERS.put(PtyMode.VEOL, "eol");
        CHARACTERS.put(PtyMode.VEOL2, "eol2");
        CHARACTERS.put(PtyMode.VSTART, "start");
        CHARACTERS.put(PtyMode.VSTOP, "stop");
        CHARACTERS.put(PtyMode.VSUSP, "susp");
        CHARACTERS.put(PtyMode.VREPRINT, "rprnt");
        CHARACTERS.put(PtyMode.VWERASE, "werase");
        CHARACTERS.put(PtyMode.VLNEXT, "lnext");
        CHARACTERS.put(PtyMode.VDISCARD, "discard");
        for (PtyMode m : List.of(PtyMode.IGNPAR, PtyMode.PARMRK, PtyMode.INPCK, PtyMode.ISTRIP, PtyMode.INLCR,
                PtyMode.IGNCR, PtyMode.ICRNL, PtyMode.IUCLC, PtyMode.IXON, PtyMode.IXANY, PtyMode.IXOFF,
                PtyMode.IMAXBEL, PtyMode.IUTF8, PtyMode.ISIG, PtyMode.ICANON, PtyMode.XCASE, PtyMode.ECHO,
                PtyMode.ECHOE, PtyMode.ECHOK, PtyMode.ECHONL, PtyMode.NOFLSH, PtyMode.TOSTOP, PtyMode.IEXTEN,
                PtyMode.ECHOCTL, PtyMode.ECHOKE, PtyMode.PENDIN, PtyMode.OPOST, PtyMode.OLCUC, PtyMode.ONLCR,
                PtyMode.OCRNL, PtyMode.ONOCR, PtyMode.ONLRET, PtyMode.PARENB, PtyMode.PARODD)) {
            FLAGS.put(m, m.name().toLowerCase(java.util.Locale.ROOT));
        }
    }

    private SttyModes() {}

    static List<String> args(Map<PtyMode, Integer> modes) {
        List<String> args = new ArrayList<>();
        // stable order: characters, then flags, then the character size
        for (Map.Entry<PtyMode, Integer> e : new TreeMap<>(modes).entrySet()) {
            String name = CHARACTERS.get(e.getKey());
            if (name != null) {
                args.add(name);
                args.add(character(e.getValue()));
            }
        }
        for (Map.Entry<PtyMode, Integer> e : new TreeMap<>(modes).entrySet()) {
            String name = FLAGS.get(e.getKey());
            if (name != null) {
                args.add(e.getValue() != 0 ? name : "-" + name);
            }
        }
        if (modes.getOrDefault(PtyMode.CS8, 0) != 0) {
            args.add("cs8");
        } else if (modes.getOrDefault(PtyMode.CS7, 0) != 0) {
            args.add("cs7");
        }
        return args;
    }

    /** A control character as stty takes it: ^X notation, "undef", or its number (never one digit: stty would take it literally). */
    private static String character(int value) {
        if (value == 255 || value < 0) {
            return "undef"; // OpenSSH sends 255 for _POSIX_VDISABLE
        }
        if (value < 32) {
            return "^" + (char) (value + 64);
        }
        if (value == 127) {
            return "^?";
        }
        return Integer.toString(value); // 32..254: two or three digits, which stty parses as a number
    }
}
