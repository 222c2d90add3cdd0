package io.securejeebs.keyexport.primary;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.PointerByReference;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.sshd.server.auth.AsyncAuthException;
import org.apache.sshd.server.auth.keyboard.InteractiveChallenge;
import org.apache.sshd.server.auth.keyboard.KeyboardInteractiveAuthenticator;
import org.apache.sshd.server.auth.password.PasswordAuthenticator;
import org.apache.sshd.server.session.ServerSession;
import org.jvnet.libpam.impl.CLibrary;
import org.jvnet.libpam.impl.PAMLibrary;
import org.jvnet.libpam.impl.PAMLibrary.pam_conv;
import org.jvnet.libpam.impl.PAMLibrary.pam_handle_t;
import org.jvnet.libpam.impl.PAMLibrary.pam_message;
import org.jvnet.libpam.impl.PAMLibrary.pam_response;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Password and keyboard-interactive logins checked by the system's PAM stack, through libpam4j's JNA
 * bindings of libpam: {@code pam_start(service)}, PAM_RHOST and PAM_TTY set as sshd sets them,
 * {@code pam_authenticate} and {@code pam_acct_mgmt} (both with PAM_DISALLOW_NULL_AUTHTOK, so an empty
 * password never logs in), {@code pam_end}.
 *
 * <p>PAM runs on its own small thread pool and MINA is answered asynchronously ({@link AsyncAuthException}):
 * a failed password makes pam_unix sleep about 2 s, and that must not stall the I/O thread every other
 * session shares.
 *
 * <p>keyboard-interactive asks one question, "Password:", and gives the answer to PAM, like sshd with
 * KbdInteractiveAuthentication and a password-only PAM stack. PAM prompts beyond the first password (e.g. a
 * one-time code module) are not relayed to the client: the conversation then fails and so does the login.
 *
 * <p>A failed login is logged with the user and the client address, never with the password.
 */
public final class PamAuthenticator implements PasswordAuthenticator, KeyboardInteractiveAuthenticator, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(PamAuthenticator.class);

    private static final int PAM_TTY = 3;
    private static final int PAM_RHOST = 4;
    private static final int PAM_DISALLOW_NULL_AUTHTOK = 0x0001;
    private static final int PAM_SUCCESS = 0;
    private static final int PAM_BUF_ERR = 5;
    private static final int PAM_CONV_ERR = 19;
    private static final int PAM_NEW_AUTHTOK_REQD = 12;

    private final String service;
    private final boolean rootPasswordAllowed;
    private final ExecutorService pamThreads;

    /** @param rootPasswordAllowed whether root may log in with a password (auth.root-login = yes) */
    public PamAuthenticator(String service, boolean rootPasswordAllowed) {
        this.service = service;
        this.rootPasswordAllowed = rootPasswordAllowed;
        AtomicInteger n = new AtomicInteger();
        this.pamThreads = new ThreadPoolExecutor(4, 4, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(256), r -> {
            Thread t = new Thread(r, "pam-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        ((ThreadPoolExecutor) pamThreads).allowCoreThreadTimeOut(true);
    }

    @Override
    public boolean authenticate(String username, String password, ServerSession session) {
        throw check(username, password, session, "password");
    }

    @Override
    public InteractiveChallenge generateChallenge(ServerSession session, String username, String lang, String subMethods) {
        InteractiveChallenge challenge = new InteractiveChallenge();
        challenge.setInteractionName("");
        challenge.setInteractionInstruction("");
        challenge.setLanguageTag("");
        challenge.addPrompt("Password: ", false);
        return challenge;
    }

    @Override
    public boolean authenticate(ServerSession session, String username, List<String> responses) {
        if (responses == null || responses.size() != 1) {
            log.warn("Failed keyboard-interactive for {} from {}: {} answers to one prompt", username,
                    describe(session.getClientAddress()), responses == null ? 0 : responses.size());
            return false;
        }
        throw check(username, responses.get(0), session, "keyboard-interactive");
    }

    /** Starts the PAM transaction on a PAM thread; MINA waits for the returned exception's verdict. */
    private AsyncAuthException check(String username, String password, ServerSession session, String method) {
        AsyncAuthException verdict = new AsyncAuthException();
        String from = describe(session.getClientAddress());
        String rhost = session.getClientAddress() instanceof InetSocketAddress a
                ? a.getAddress().getHostAddress() : null;
        try {
            pamThreads.execute(() -> {
                String failure;
                try {
                    failure = isRootRefused(username) ? "root may not log in with a password (auth.root-login)"
                            : runPam(username, password, rhost);
                } catch (RuntimeException | LinkageError e) {
                    failure = "PAM could not be run: " + e;
                }
                if (failure == null) {
                    log.info("Accepted {} for {} from {}", method, username, from);
                    verdict.setAuthed(true);
                } else {
                    log.warn("Failed {} for {} from {}: {}", method, username, from, failure);
                    verdict.setAuthed(false);
                }
            });
        } catch (RejectedExecutionException e) {
            log.warn("Failed {} for {} from {}: too many PAM checks waiting", method, username, from);
            verdict.setAuthed(false);
        }
        return verdict;
    }

    private boolean isRootRefused(String username) {
        if (rootPasswordAllowed) {
            return false;
        }
        try {
            return UnixAccount.lookup(username).map(a -> a.uid() == 0).orElse(false);
        } catch (java.io.IOException e) {
            return true; // cannot tell: refuse
        }
    }

    /** @return null on success, else why not (never the password) */
    private String runPam(String username, String password, String rhost) {
        PAMLibrary pam = PAMLibrary.libpam;
        AtomicInteger passwordPrompts = new AtomicInteger();
        pam_conv conv = new pam_conv((numMsg, msg, resp, appdata) -> {
            if (numMsg <= 0 || numMsg > 32) {
                return PAM_CONV_ERR;
            }
            Pointer answers = CLibrary.libc.calloc(pam_response.SIZE, numMsg);
            if (answers == null) {
                return PAM_BUF_ERR;
            }
            for (int i = 0; i < numMsg; i++) {
                pam_message m = new pam_message(msg.getPointer((long) Native.POINTER_SIZE * i));
                boolean relayable = switch (m.msg_style) {
                    // The first hidden question is the password; a second (one-time code, new password...)
                    // and any visible question cannot be relayed to the client.
                    case PAMLibrary.PAM_PROMPT_ECHO_OFF -> passwordPrompts.incrementAndGet() == 1;
                    case PAMLibrary.PAM_PROMPT_ECHO_ON -> false;
                    default -> true; // PAM_ERROR_MSG, PAM_TEXT_INFO: nothing to answer
                };
                if (!relayable) {
                    log.debug("PAM asked a question the primary cannot relay to the client: '{}'", m.msg);
                    freeAnswers(answers, numMsg);
                    return PAM_CONV_ERR;
                }
                if (m.msg_style == PAMLibrary.PAM_PROMPT_ECHO_OFF) {
                    pam_response r = new pam_response(answers.share((long) pam_response.SIZE * i));
                    r.setResp(password);
                    r.write();
                } else {
                    log.debug("PAM message ({}): {}", m.msg_style, m.msg);
                }
            }
            resp.setPointer(0, answers); // libpam frees the array and the strings
            return PAM_SUCCESS;
        });
        PointerByReference handleRef = new PointerByReference();
        int rc = pam.pam_start(service, username, conv, handleRef);
        if (rc != PAM_SUCCESS) {
            return "pam_start(" + service + ") failed with " + rc;
        }
        pam_handle_t handle = new pam_handle_t(handleRef.getValue());
        int status = rc;
        try {
            pam.pam_set_item(handle, PAM_TTY, "ssh");
            if (rhost != null) {
                pam.pam_set_item(handle, PAM_RHOST, rhost);
            }
            status = pam.pam_authenticate(handle, PAM_DISALLOW_NULL_AUTHTOK);
            if (status != PAM_SUCCESS) {
                return "pam_authenticate: " + pam.pam_strerror(handle, status);
            }
            status = pam.pam_acct_mgmt(handle, PAM_DISALLOW_NULL_AUTHTOK);
            if (status == PAM_NEW_AUTHTOK_REQD) {
                return "the password has expired; it must be changed on the machine first";
            }
            if (status != PAM_SUCCESS) {
                return "pam_acct_mgmt: " + pam.pam_strerror(handle, status);
            }
            return null;
        } finally {
            pam.pam_end(handle, status);
            // keep the callback reachable until libpam can no longer call it
            java.lang.ref.Reference.reachabilityFence(conv);
        }
    }

    private static void freeAnswers(Pointer answers, int count) {
        for (int i = 0; i < count; i++) {
            Pointer str = answers.getPointer((long) pam_response.SIZE * i);
            if (str != null) {
                LibC.INSTANCE.free(str);
            }
        }
        LibC.INSTANCE.free(answers);
    }

    static String describe(SocketAddress address) {
        if (address instanceof InetSocketAddress a) {
            return a.getAddress().getHostAddress() + " port " + a.getPort();
        }
        return String.valueOf(address);
    }

    @Override
    public void close() {
        pamThreads.shutdownNow();
    }
}
