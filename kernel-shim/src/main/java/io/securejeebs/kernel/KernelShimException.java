package io.securejeebs.kernel;

import java.io.IOException;

/**
 * A system call made by the kernel shim failed.
 *
 * <p>Raised from the native code (and, for a few consistency checks, from the Java side) for
 * every failing call; the shim never fails silently. The message has the form
 * {@code syscall(arguments): errnoText (errno N)}, for example
 * {@code setsockopt(fd=12 level=SOL_TCP opt=TCP_MAXSEG value=50): Invalid argument (errno 22)}.
 * Neither the message nor the arguments ever contain queue payload.
 */
public class KernelShimException extends IOException {

    private static final long serialVersionUID = 1L;

    private final String syscall;
    private final int errno;
    private final String errnoText;
    private final String arguments;

    /**
     * Called from C (FindClass/GetMethodID/NewObject/Throw) and by the Java side.
     *
     * @param syscall   name of the failing call, e.g. {@code "setsockopt"}
     * @param errno     the errno it returned
     * @param errnoText strerror-style text for {@code errno}
     * @param arguments human-readable description of the call's arguments
     */
    public KernelShimException(String syscall, int errno, String errnoText, String arguments) {
        super(syscall + "(" + arguments + "): " + errnoText + " (errno " + errno + ")");
        this.syscall = syscall;
        this.errno = errno;
        this.errnoText = errnoText;
        this.arguments = arguments;
    }

    /** Name of the failing system call, e.g. {@code "connect"}. */
    public String syscall() {
        return syscall;
    }

    /** The errno value the call failed with. */
    public int errno() {
        return errno;
    }

    /** The (untranslated) strerror text of {@link #errno()}. */
    public String errnoText() {
        return errnoText;
    }

    /** The call's arguments, e.g. {@code "fd=12 level=SOL_TCP opt=TCP_QUEUE_SEQ value=123456"}. */
    public String arguments() {
        return arguments;
    }
}
