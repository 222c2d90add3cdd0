/*
 * sjshim.c - the native half of SecureJeebs' kernel-shim (Linux only).
 *
 * Four jobs, each a JNI entry point of io.securejeebs.kernel.Native:
 *   - restore0:        build an ESTABLISHED socket with TCP_REPAIR (DESIGN.md §5.3);
 *   - read0:           read the repair state of a live socket and leave it as it was;
 *   - closeSilently0 / detachSilently0 / close0: drop sockets, silently or not;
 *   - swap0 / fdOf0:   put a socket under a JDK channel with dup3 (DESIGN.md §5.1).
 *
 * Every failing system call is reported as an io.securejeebs.kernel.KernelShimException naming
 * the call, its errno and its arguments. Queue payload is never printed.
 *
 * The code below only talks to the kernel through plain structs; the JNI wrappers at the end
 * convert from and to Java.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>

#include "io_securejeebs_kernel_Native.h"

/* Constants shared with Native.java (javac -h emits them as io_securejeebs_kernel_Native_X). */
#define N(x) io_securejeebs_kernel_Native_##x

/* ------------------------------------------------------------------------------------------ */
/* Error reporting                                                                            */
/* ------------------------------------------------------------------------------------------ */

/* The first failure of an operation: which call, its errno, and a description of its arguments. */
struct err {
    const char *call;
    int no;
    char args[384];
};

/* Records a failure and returns -1, so callers can write "return fail(...)". */
__attribute__((format(printf, 4, 5)))
static int fail(struct err *e, const char *call, int no, const char *fmt, ...)
{
    va_list ap;

    e->call = call;
    e->no = no;
    va_start(ap, fmt);
    vsnprintf(e->args, sizeof e->args, fmt, ap);
    va_end(ap);
    return -1;
}

/* Appends a note to the recorded failure (used when cleanup after a failure fails as well). */
__attribute__((format(printf, 2, 3)))
static void note(struct err *e, const char *fmt, ...)
{
    size_t used = strlen(e->args);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(e->args + used, sizeof e->args - used, fmt, ap);
    va_end(ap);
}

/* Throws KernelShimException(call, errno, strerror text, args) through its public constructor.
 * strerrordesc_np gives the untranslated text (the JVM may have set a non-English locale). */
static void throw_err(JNIEnv *env, const struct err *e)
{
    char unknown[32];
    const char *text = strerrordesc_np(e->no);
    jclass cls;
    jmethodID ctor;
    jstring jcall, jtext, jargs;
    jobject ex;

    if (text == NULL) {
        snprintf(unknown, sizeof unknown, "Unknown error %d", e->no);
        text = unknown;
    }
    cls = (*env)->FindClass(env, "io/securejeebs/kernel/KernelShimException");
    if (cls == NULL)
        return; /* NoClassDefFoundError is pending */
    ctor = (*env)->GetMethodID(env, cls, "<init>",
                               "(Ljava/lang/String;ILjava/lang/String;Ljava/lang/String;)V");
    if (ctor == NULL)
        return;
    jcall = (*env)->NewStringUTF(env, e->call);
    jtext = (*env)->NewStringUTF(env, text);
    jargs = (*env)->NewStringUTF(env, e->args);
    if (jcall == NULL || jtext == NULL || jargs == NULL)
        return; /* OutOfMemoryError is pending */
    ex = (*env)->NewObject(env, cls, ctor, jcall, (jint)e->no, jtext, jargs);
    if (ex != NULL)
        (*env)->Throw(env, (jthrowable)ex);
}

/* For malloc failures: no syscall failed, so a plain OutOfMemoryError. */
static void throw_oom(JNIEnv *env, const char *what)
{
    jclass cls = (*env)->FindClass(env, "java/lang/OutOfMemoryError");

    if (cls != NULL)
        (*env)->ThrowNew(env, cls, what);
}

/* "127.0.0.1:22" or "[::1]:22", for error messages. */
static const char *fmt_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        snprintf(buf, len, "%s:%u", ip, ntohs(a->sin_port));
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        snprintf(buf, len, "[%s]:%u", ip, ntohs(a->sin6_port));
    }
    return buf;
}

/* ------------------------------------------------------------------------------------------ */
/* Small syscall wrappers: each records its failure in *e and returns -1                      */
/* ------------------------------------------------------------------------------------------ */

/* setsockopt with an int value. Sequence numbers and timestamps print unsigned. */
static int set_opt(struct err *e, int fd, int level, const char *lname, int opt, const char *oname,
                   int val, int print_unsigned)
{
    if (setsockopt(fd, level, opt, &val, sizeof val) == 0)
        return 0;
    if (print_unsigned)
        return fail(e, "setsockopt", errno, "fd=%d level=%s opt=%s value=%u", fd, lname, oname,
                    (unsigned)val);
    return fail(e, "setsockopt", errno, "fd=%d level=%s opt=%s value=%d", fd, lname, oname, val);
}
#define SET_INT(e, fd, level, opt, val) set_opt(e, fd, level, #level, opt, #opt, val, 0)
#define SET_SEQ(e, fd, level, opt, val) set_opt(e, fd, level, #level, opt, #opt, (int)(val), 1)

/* setsockopt with a struct value (TCP_REPAIR_OPTIONS, TCP_REPAIR_WINDOW); describe = its fields. */
static int set_buf(struct err *e, int fd, int level, const char *lname, int opt, const char *oname,
                   const void *val, socklen_t len, const char *describe)
{
    if (setsockopt(fd, level, opt, val, len) == 0)
        return 0;
    return fail(e, "setsockopt", errno, "fd=%d level=%s opt=%s %s", fd, lname, oname, describe);
}
#define SET_BUF(e, fd, level, opt, val, len, d) set_buf(e, fd, level, #level, opt, #opt, val, len, d)

/* getsockopt into a buffer of a fixed size. */
static int get_buf(struct err *e, int fd, int level, const char *lname, int opt, const char *oname,
                   void *val, socklen_t len)
{
    socklen_t got = len;

    memset(val, 0, len);
    if (getsockopt(fd, level, opt, val, &got) == 0)
        return 0;
    return fail(e, "getsockopt", errno, "fd=%d level=%s opt=%s len=%u", fd, lname, oname, (unsigned)len);
}
#define GET_BUF(e, fd, level, opt, val, len) get_buf(e, fd, level, #level, opt, #opt, val, len)
#define GET_INT(e, fd, level, opt, ptr) get_buf(e, fd, level, #level, opt, #opt, ptr, sizeof(int))

/* ioctl returning an int: SIOCINQ (= FIONREAD: rcv_nxt - copied_seq, bytes not read yet) and
 * SIOCOUTQ (= TIOCOUTQ: write_seq - snd_una, bytes not acknowledged yet, sent or not). */
static int ioctl_int(struct err *e, int fd, unsigned long req, const char *rname, int *out)
{
    if (ioctl(fd, req, out) == 0)
        return 0;
    return fail(e, "ioctl", errno, "fd=%d request=%s", fd, rname);
}

/* In repair mode send() puts nothing on the wire. With the send queue selected the kernel queues
 * the bytes as sent but unacknowledged (tcp_write_xmit skips transmission and advances snd_nxt);
 * with the receive queue selected it appends them to the receive queue and advances rcv_nxt
 * (tcp_send_rcvq, at most MAX_SKB_FRAGS pages per call - hence the loop on partial sends).
 * MSG_DONTWAIT: if the buffer is too small the call fails with EAGAIN instead of blocking forever
 * (nothing frees space while in repair mode). */
static int send_all(struct err *e, int fd, const char *qname, const char *p, size_t len)
{
    size_t off = 0;

    while (off < len) {
        ssize_t n = send(fd, p + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(e, "send", errno, "fd=%d queue=%s offset=%zu len=%zu", fd, qname, off, len - off);
        if (n == 0)
            return fail(e, "send", EIO, "fd=%d queue=%s offset=%zu len=%zu: no progress", fd, qname,
                        off, len - off);
        off += (size_t)n;
    }
    return 0;
}

/* Queued bytes are never freed in repair mode, so the socket buffer must hold all of them plus
 * skb overhead: sk_sndbuf for the send queue (else send() gets EAGAIN), sk_rcvbuf for the receive
 * queue (else tcp_send_rcvq gets ENOMEM). The kernel doubles the value given; the *FORCE variants
 * ignore wmem_max/rmem_max (CAP_NET_ADMIN). Only raised when needed, because setting a size
 * switches off the kernel's buffer autotuning for this socket for good. */
static int ensure_buf(struct err *e, int fd, int get_opt, const char *gname, int force_opt,
                      const char *fname, size_t queued)
{
    int cur;
    size_t need;

    if (queued == 0)
        return 0;
    if (get_buf(e, fd, SOL_SOCKET, "SOL_SOCKET", get_opt, gname, &cur, sizeof cur) < 0)
        return -1;
    need = 2 * queued + 65536;
    if (need > INT32_MAX / 2)
        need = INT32_MAX / 2;
    if (cur >= 0 && (size_t)cur >= need)
        return 0;
    return set_opt(e, fd, SOL_SOCKET, "SOL_SOCKET", force_opt, fname, (int)(need / 2 + 1), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Restore                                                                                    */
/* ------------------------------------------------------------------------------------------ */

struct restore_req {
    struct sockaddr_storage local, remote;
    socklen_t addrlen;
    uint32_t send_seq, recv_seq;   /* first byte of each queue (snd_una; rcv_nxt before recv data) */
    int mss, options, snd_wscale, rcv_wscale;
    uint32_t timestamp, snd_wnd, rcv_wnd;
    int repair_off;                /* TCP_REPAIR_OFF (0) or TCP_REPAIR_OFF_NO_WP (-1) */
    const char *sendq, *recvq;
    size_t sendq_len, recvq_len;
};

/* The DESIGN §5.3 sequence, steps numbered as there. Relies on these kernel behaviours:
 *  - TCP_REPAIR sets sk_reuse = SK_FORCE_REUSE, so bind() succeeds next to a listener on the same
 *    address; a later SO_REUSEADDR would overwrite that, hence SO_REUSEADDR before repair on.
 *  - IP_FREEBIND lets bind() take an address that is not (yet) local.
 *  - TCP_QUEUE_SEQ is only accepted in TCP_CLOSE state: it sets write_seq (send queue) or
 *    rcv_nxt/copied_seq (receive queue). connect() in repair mode keeps write_seq (snd_una = snd_nxt
 *    = write_seq), sends no SYN and calls tcp_finish_connect: the socket is ESTABLISHED.
 *  - TCP_MAXSEG sets user_mss; it must precede connect, where it becomes mss_clamp and shapes
 *    mss_cache (TCP_REPAIR_OPTIONS later sets mss_clamp but does not resync mss_cache, which would
 *    stay at 536 - 12 bytes).
 *  - The window clamp chosen at connect decides rcv_wscale when the peer did not agree to window
 *    scaling: clamping to 65535 beforehand makes that shift 0.
 *  - TCP_REPAIR_OPTIONS is only accepted when ESTABLISHED and before any byte was sent.
 *  - TCP_TIMESTAMP sets tsoffset so that our TSval clock reads the given value now; bit 0 selects
 *    usec timestamps (Linux >= 6.7), so it is cleared to stay at ms like the original.
 *  - TCP_REPAIR_WINDOW requires max_window >= snd_wnd, snd_wl1 <= rcv_nxt + rcv_wnd and
 *    rcv_wup <= rcv_nxt, checked against rcv_nxt before the receive queue data is added.
 *  - TCP_REPAIR off with 0 sends a window probe (an ACK of rcv_nxt); with -1 nothing.
 *  - close() in repair mode calls tcp_disconnect without sending FIN or RST.
 * Returns the fd, or -1 with *e filled in and nothing left open. */
static int do_restore(struct err *e, const struct restore_req *r)
{
    char la[64], ra[64], desc[160];
    int v4 = r->local.ss_family == AF_INET;
    int fd;

    fmt_addr(&r->local, la, sizeof la);
    fmt_addr(&r->remote, ra, sizeof ra);

    /* 1. socket() */
    fd = socket(r->local.ss_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0)
        return fail(e, "socket", errno, "domain=%s type=SOCK_STREAM|SOCK_CLOEXEC protocol=IPPROTO_TCP",
                    v4 ? "AF_INET" : "AF_INET6");

    /* 2. SO_REUSEADDR and IP_FREEBIND before repair on; no receive shift without window scaling. */
    if (SET_INT(e, fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0)
        goto out;
    if (v4 ? SET_INT(e, fd, SOL_IP, IP_FREEBIND, 1) < 0 : SET_INT(e, fd, SOL_IPV6, IPV6_FREEBIND, 1) < 0)
        goto out;
    if (!(r->options & N(OPT_WSCALE)) && SET_INT(e, fd, SOL_TCP, TCP_WINDOW_CLAMP, 65535) < 0)
        goto out;

    /* 3. repair on */
    if (SET_INT(e, fd, SOL_TCP, TCP_REPAIR, TCP_REPAIR_ON) < 0)
        goto out;

    /* 4., 5. initial sequence numbers of both queues */
    if (SET_INT(e, fd, SOL_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) < 0 ||
        SET_SEQ(e, fd, SOL_TCP, TCP_QUEUE_SEQ, r->send_seq) < 0)
        goto out;
    if (SET_INT(e, fd, SOL_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE) < 0 ||
        SET_SEQ(e, fd, SOL_TCP, TCP_QUEUE_SEQ, r->recv_seq) < 0)
        goto out;

    /* 6. bind(local) */
    if (bind(fd, (const struct sockaddr *)&r->local, r->addrlen) < 0) {
        fail(e, "bind", errno, "fd=%d addr=%s", fd, la);
        goto out;
    }

    /* 7. TCP_MAXSEG before connect. The kernel accepts 88 (TCP_MIN_MSS) .. 32767 (MAX_TCP_WINDOW)
     * here; a larger MSS (loopback: 65495) is set to 32767 now and in full by TCP_REPAIR_OPTIONS. */
    if (SET_INT(e, fd, SOL_TCP, TCP_MAXSEG, r->mss > 32767 ? 32767 : r->mss) < 0)
        goto out;

    /* 8. connect: no SYN in repair mode, straight to ESTABLISHED */
    if (connect(fd, (const struct sockaddr *)&r->remote, r->addrlen) < 0) {
        fail(e, "connect", errno, "fd=%d local=%s remote=%s (repair mode)", fd, la, ra);
        goto out;
    }

    /* 9. negotiated options */
    {
        struct tcp_repair_opt opts[4];
        int n = 0;
        opts[n].opt_code = TCPOPT_MAXSEG;
        opts[n++].opt_val = (uint32_t)r->mss;
        if (r->options & N(OPT_WSCALE)) {
            opts[n].opt_code = TCPOPT_WINDOW;
            opts[n++].opt_val = (uint32_t)r->snd_wscale | ((uint32_t)r->rcv_wscale << 16);
        }
        if (r->options & N(OPT_SACK)) {
            opts[n].opt_code = TCPOPT_SACK_PERMITTED;
            opts[n++].opt_val = 0;
        }
        if (r->options & N(OPT_TIMESTAMPS)) {
            opts[n].opt_code = TCPOPT_TIMESTAMP;
            opts[n++].opt_val = 0;
        }
        snprintf(desc, sizeof desc, "mss=%d wscale=%s snd_wscale=%d rcv_wscale=%d sack=%s timestamps=%s",
                 r->mss, r->options & N(OPT_WSCALE) ? "yes" : "no", r->snd_wscale, r->rcv_wscale,
                 r->options & N(OPT_SACK) ? "yes" : "no", r->options & N(OPT_TIMESTAMPS) ? "yes" : "no");
        if (SET_BUF(e, fd, SOL_TCP, TCP_REPAIR_OPTIONS, opts, (socklen_t)(n * sizeof opts[0]), desc) < 0)
            goto out;
    }

    /* 10. TSval clock, low bit cleared (an odd value selects usec timestamps) */
    if ((r->options & N(OPT_TIMESTAMPS)) && SET_SEQ(e, fd, SOL_TCP, TCP_TIMESTAMP, r->timestamp & ~1u) < 0)
        goto out;

    /* 11. windows; reads back as zeros until set, so always set */
    {
        struct tcp_repair_window w = {
            .snd_wl1 = r->recv_seq,
            .snd_wnd = r->snd_wnd,
            .max_window = r->snd_wnd,
            .rcv_wnd = r->rcv_wnd,
            .rcv_wup = r->recv_seq,
        };
        snprintf(desc, sizeof desc, "snd_wl1=%u snd_wnd=%u max_window=%u rcv_wnd=%u rcv_wup=%u",
                 w.snd_wl1, w.snd_wnd, w.max_window, w.rcv_wnd, w.rcv_wup);
        if (SET_BUF(e, fd, SOL_TCP, TCP_REPAIR_WINDOW, &w, sizeof w, desc) < 0)
            goto out;
    }

    /* room for both queues */
    if (ensure_buf(e, fd, SO_SNDBUF, "SO_SNDBUF", SO_SNDBUFFORCE, "SO_SNDBUFFORCE", r->sendq_len) < 0 ||
        ensure_buf(e, fd, SO_RCVBUF, "SO_RCVBUF", SO_RCVBUFFORCE, "SO_RCVBUFFORCE", r->recvq_len) < 0)
        goto out;

    /* 12. unacknowledged bytes: queued as sent, retransmitted by the kernel later */
    if (r->sendq_len > 0 &&
        (SET_INT(e, fd, SOL_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) < 0 ||
         send_all(e, fd, "TCP_SEND_QUEUE", r->sendq, r->sendq_len) < 0))
        goto out;

    /* 13. unread bytes: the application reads them first */
    if (r->recvq_len > 0 &&
        (SET_INT(e, fd, SOL_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE) < 0 ||
         send_all(e, fd, "TCP_RECV_QUEUE", r->recvq, r->recvq_len) < 0))
        goto out;

    /* 14. queue none, repair off */
    if (SET_INT(e, fd, SOL_TCP, TCP_REPAIR_QUEUE, TCP_NO_QUEUE) < 0 ||
        SET_INT(e, fd, SOL_TCP, TCP_REPAIR, r->repair_off) < 0)
        goto out;
    return fd;

out:
    /* Still in repair mode (or never connected): close() puts nothing on the wire. */
    close(fd);
    note(e, " [restore %s <- %s aborted, socket closed]", la, ra);
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Read                                                                                       */
/* ------------------------------------------------------------------------------------------ */

struct queue_snap {
    uint32_t end;   /* TCP_QUEUE_SEQ: write_seq for the send queue, rcv_nxt for the receive queue */
    int len;        /* SIOCOUTQ / SIOCINQ */
    char *data;     /* malloc'ed, len bytes */
};

/* Snapshot of one queue under repair. recv(MSG_PEEK) with the send queue selected copies the
 * retransmit queue then the write queue (tcp_peek_sndq), i.e. the bytes from snd_una to write_seq;
 * it fails with EFAULT if the buffer is shorter than that. With the receive queue selected it
 * copies the in-order unread bytes from copied_seq on. Returns 1 if the queue changed between the
 * calls (caller retries), 0 on success, -1 on error. */
static int snap_queue(struct err *e, int fd, int queue, struct queue_snap *q)
{
    int is_send = queue == TCP_SEND_QUEUE;
    const char *qname = is_send ? "TCP_SEND_QUEUE" : "TCP_RECV_QUEUE";
    int len2;
    ssize_t n = 0;

    free(q->data);
    q->data = NULL;
    if (SET_INT(e, fd, SOL_TCP, TCP_REPAIR_QUEUE, queue) < 0 ||
        GET_INT(e, fd, SOL_TCP, TCP_QUEUE_SEQ, &q->end) < 0)
        return -1;
    if (is_send ? ioctl_int(e, fd, SIOCOUTQ, "SIOCOUTQ", &q->len) < 0
                : ioctl_int(e, fd, SIOCINQ, "SIOCINQ", &q->len) < 0)
        return -1;
    if (q->len < 0)
        return fail(e, "ioctl", EINVAL, "fd=%d request=%s returned %d", fd, is_send ? "SIOCOUTQ" : "SIOCINQ",
                    q->len);
    q->data = malloc(q->len > 0 ? (size_t)q->len : 1);
    if (q->data == NULL)
        return fail(e, "malloc", ENOMEM, "len=%d", q->len);
    if (q->len > 0) {
        do
            n = recv(fd, q->data, (size_t)q->len, MSG_PEEK | MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0 && is_send && errno == EFAULT)
            return 1; /* grew since SIOCOUTQ */
        if (n < 0)
            return fail(e, "recv", errno, "fd=%d len=%d flags=MSG_PEEK|MSG_DONTWAIT queue=%s", fd, q->len, qname);
    }
    if (is_send ? ioctl_int(e, fd, SIOCOUTQ, "SIOCOUTQ", &len2) < 0
                : ioctl_int(e, fd, SIOCINQ, "SIOCINQ", &len2) < 0)
        return -1;
    return (n != q->len || len2 != q->len) ? 1 : 0;
}

struct read_res {
    struct queue_snap sendq, recvq;
    struct tcp_info info;
    int mss, timestamp;
    struct tcp_repair_window win;
    struct sockaddr_storage local, remote;
};

/* Reads *r from a live socket. Relies on: TCP_REPAIR being allowed on an ESTABLISHED socket (with
 * CAP_NET_ADMIN); TCP_QUEUE_SEQ getsockopt returning the queue's end; TCP_MAXSEG returning
 * mss_clamp (the peer's MSS) in repair mode; TCP_TIMESTAMP returning our current TSval clock;
 * TCP_REPAIR_WINDOW returning snd_wl1/snd_wnd/max_window/rcv_wnd/rcv_wup; TCP_REPAIR_OFF_NO_WP
 * leaving repair mode without sending anything. Leaving repair mode resets sk_reuse, so
 * SO_REUSEADDR is put back if it was set. */
static int do_read(struct err *e, int fd, struct read_res *r)
{
    int reuse = 0, attempt, rc = 0;
    socklen_t alen;

    if (GET_BUF(e, fd, SOL_TCP, TCP_INFO, &r->info, sizeof r->info) < 0)
        return -1;
    if (r->info.tcpi_state != TCP_ESTABLISHED)
        return fail(e, "getsockopt", ENOTCONN, "fd=%d level=SOL_TCP opt=TCP_INFO: tcpi_state=%u, not ESTABLISHED",
                    fd, r->info.tcpi_state);
    if (GET_INT(e, fd, SOL_SOCKET, SO_REUSEADDR, &reuse) < 0 ||
        SET_INT(e, fd, SOL_TCP, TCP_REPAIR, TCP_REPAIR_ON) < 0)
        return -1;

    for (attempt = 0; attempt < 3; attempt++) {
        uint32_t send_end, recv_end;
        int rs = snap_queue(e, fd, TCP_SEND_QUEUE, &r->sendq);
        int rr = rs < 0 ? -1 : snap_queue(e, fd, TCP_RECV_QUEUE, &r->recvq);
        if (rs < 0 || rr < 0) {
            rc = -1;
            goto out;
        }
        rc = rs | rr;
        if (rc == 0) {
            /* both queues were consistent on their own; check neither end moved meanwhile */
            if (SET_INT(e, fd, SOL_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) < 0 ||
                GET_INT(e, fd, SOL_TCP, TCP_QUEUE_SEQ, &send_end) < 0 ||
                SET_INT(e, fd, SOL_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE) < 0 ||
                GET_INT(e, fd, SOL_TCP, TCP_QUEUE_SEQ, &recv_end) < 0) {
                rc = -1;
                goto out;
            }
            if (send_end == r->sendq.end && recv_end == r->recvq.end)
                break;
            rc = 1;
        }
    }
    if (rc != 0) {
        rc = fail(e, "recv", EAGAIN, "fd=%d flags=MSG_PEEK: the queues kept changing while being read", fd);
        goto out;
    }

    alen = sizeof r->local;
    if (SET_INT(e, fd, SOL_TCP, TCP_REPAIR_QUEUE, TCP_NO_QUEUE) < 0 ||
        GET_INT(e, fd, SOL_TCP, TCP_MAXSEG, &r->mss) < 0 ||
        GET_INT(e, fd, SOL_TCP, TCP_TIMESTAMP, &r->timestamp) < 0 ||
        GET_BUF(e, fd, SOL_TCP, TCP_REPAIR_WINDOW, &r->win, sizeof r->win) < 0) {
        rc = -1;
        goto out;
    }
    if (getsockname(fd, (struct sockaddr *)&r->local, &alen) < 0) {
        rc = fail(e, "getsockname", errno, "fd=%d", fd);
        goto out;
    }
    alen = sizeof r->remote;
    if (getpeername(fd, (struct sockaddr *)&r->remote, &alen) < 0) {
        rc = fail(e, "getpeername", errno, "fd=%d", fd);
        goto out;
    }

out:
    /* Leave the live socket as it was, without a window probe, even after a failure. */
    if (setsockopt(fd, SOL_TCP, TCP_REPAIR, &(int){TCP_REPAIR_OFF_NO_WP}, sizeof(int)) < 0) {
        int no = errno;
        if (rc == 0)
            return fail(e, "setsockopt", no, "fd=%d level=SOL_TCP opt=TCP_REPAIR value=%d",
                        fd, TCP_REPAIR_OFF_NO_WP);
        note(e, " [then TCP_REPAIR off failed too: errno %d]", no);
        return -1;
    }
    if (reuse && SET_INT(e, fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0 && rc == 0)
        return -1;
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* JNI: array and address conversion                                                          */
/* ------------------------------------------------------------------------------------------ */

/* Fills *ss from a Java byte[] of 4 (IPv4) or 16 (IPv6) bytes; returns the sockaddr length. */
static socklen_t to_sockaddr(JNIEnv *env, jbyteArray raw, int port, int scope, struct sockaddr_storage *ss)
{
    jsize n = (*env)->GetArrayLength(env, raw);

    memset(ss, 0, sizeof *ss);
    if (n == 4) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        (*env)->GetByteArrayRegion(env, raw, 0, 4, (jbyte *)&a->sin_addr);
        return sizeof *a;
    }
    if (n == 16) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        a->sin6_scope_id = (uint32_t)scope;
        (*env)->GetByteArrayRegion(env, raw, 0, 16, (jbyte *)&a->sin6_addr);
        return sizeof *a;
    }
    return 0;
}

/* The inverse: raw address bytes as a new byte[]; port and scope id through pointers. */
static jbyteArray from_sockaddr(JNIEnv *env, const struct sockaddr_storage *ss, jint *port, jint *scope)
{
    const void *src;
    jsize n;
    jbyteArray out;

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        src = &a->sin_addr;
        n = 4;
        *port = ntohs(a->sin_port);
        *scope = 0;
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        src = &a->sin6_addr;
        n = 16;
        *port = ntohs(a->sin6_port);
        *scope = (jint)a->sin6_scope_id;
    }
    out = (*env)->NewByteArray(env, n);
    if (out != NULL)
        (*env)->SetByteArrayRegion(env, out, 0, n, (const jbyte *)src);
    return out;
}

/* malloc'ed copy of a Java byte[] (the queues are copied once; no JNI critical section is held
 * across system calls). */
static char *copy_bytes(JNIEnv *env, jbyteArray arr, size_t *len)
{
    jsize n = (*env)->GetArrayLength(env, arr);
    char *p = malloc(n > 0 ? (size_t)n : 1);

    if (p == NULL) {
        throw_oom(env, "kernel-shim: queue copy");
        return NULL;
    }
    (*env)->GetByteArrayRegion(env, arr, 0, n, (jbyte *)p);
    *len = (size_t)n;
    return p;
}

/* A new Java byte[] holding len bytes of p (NULL with OutOfMemoryError pending on failure). */
static jbyteArray new_bytes(JNIEnv *env, const char *p, int len)
{
    jbyteArray out = (*env)->NewByteArray(env, len);

    if (out != NULL && len > 0)
        (*env)->SetByteArrayRegion(env, out, 0, len, (const jbyte *)p);
    return out;
}

/* ------------------------------------------------------------------------------------------ */
/* JNI entry points                                                                           */
/* ------------------------------------------------------------------------------------------ */

/* restore0: unpacks the Java arguments (index constants from Native.java) and runs do_restore.
 * Returns the new fd, or -1 with KernelShimException pending. */
JNIEXPORT jint JNICALL Java_io_securejeebs_kernel_Native_restore0(
    JNIEnv *env, jclass cls, jintArray params, jbyteArray local, jbyteArray remote,
    jbyteArray sendq, jbyteArray recvq)
{
    jint p[N(RP_COUNT)];
    struct restore_req r;
    struct err e = {0};
    char *sq = NULL, *rq = NULL;
    int fd = -1;

    (void)cls;
    memset(&r, 0, sizeof r);
    (*env)->GetIntArrayRegion(env, params, 0, N(RP_COUNT), p);
    if ((*env)->ExceptionCheck(env))
        return -1;
    r.addrlen = to_sockaddr(env, local, p[N(RP_LOCAL_PORT)], p[N(RP_SCOPE_ID)], &r.local);
    if (to_sockaddr(env, remote, p[N(RP_REMOTE_PORT)], p[N(RP_SCOPE_ID)], &r.remote) != r.addrlen ||
        r.addrlen == 0) {
        fail(&e, "socket", EAFNOSUPPORT, "local and remote must both be 4-byte or both 16-byte addresses");
        throw_err(env, &e);
        return -1;
    }
    r.send_seq = (uint32_t)p[N(RP_SEND_SEQ)];
    r.recv_seq = (uint32_t)p[N(RP_RECV_SEQ)];
    r.mss = p[N(RP_MSS)];
    r.options = p[N(RP_OPTIONS)];
    r.snd_wscale = p[N(RP_SND_WSCALE)];
    r.rcv_wscale = p[N(RP_RCV_WSCALE)];
    r.timestamp = (uint32_t)p[N(RP_TIMESTAMP)];
    r.snd_wnd = (uint32_t)p[N(RP_SND_WND)];
    r.rcv_wnd = (uint32_t)p[N(RP_RCV_WND)];
    r.repair_off = p[N(RP_REPAIR_OFF)];
    if ((sq = copy_bytes(env, sendq, &r.sendq_len)) == NULL ||
        (rq = copy_bytes(env, recvq, &r.recvq_len)) == NULL)
        goto done;
    r.sendq = sq;
    r.recvq = rq;
    fd = do_restore(&e, &r);
    if (fd < 0)
        throw_err(env, &e);
done:
    free(sq);
    free(rq);
    return fd;
}

/* read0: runs do_read and hands the results back through result[] and bytes[] (filled only on
 * success). tcpi_snd_wscale is the peer's shift, tcpi_rcv_wscale ours, valid with TCPI_OPT_WSCALE. */
JNIEXPORT void JNICALL Java_io_securejeebs_kernel_Native_read0(
    JNIEnv *env, jclass cls, jint fd, jintArray result, jobjectArray bytes)
{
    struct read_res r;
    struct err e = {0};
    jint out[N(RS_COUNT)];
    jbyteArray arr;

    (void)cls;
    memset(&r, 0, sizeof r);
    memset(out, 0, sizeof out);
    if (do_read(&e, fd, &r) < 0) {
        throw_err(env, &e);
        goto done;
    }
    out[N(RS_SEND_END)] = (jint)r.sendq.end;
    out[N(RS_OUTQ)] = r.sendq.len;
    out[N(RS_RCV_NXT)] = (jint)r.recvq.end;
    out[N(RS_INQ)] = r.recvq.len;
    out[N(RS_MSS)] = r.mss;
    out[N(RS_OPTIONS)] = r.info.tcpi_options & (TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE);
    out[N(RS_SND_WSCALE)] = r.info.tcpi_snd_wscale;
    out[N(RS_RCV_WSCALE)] = r.info.tcpi_rcv_wscale;
    out[N(RS_TIMESTAMP)] = r.timestamp;
    out[N(RS_SND_WL1)] = (jint)r.win.snd_wl1;
    out[N(RS_SND_WND)] = (jint)r.win.snd_wnd;
    out[N(RS_MAX_WINDOW)] = (jint)r.win.max_window;
    out[N(RS_RCV_WND)] = (jint)r.win.rcv_wnd;
    out[N(RS_RCV_WUP)] = (jint)r.win.rcv_wup;

    if ((arr = new_bytes(env, r.sendq.data, r.sendq.len)) == NULL)
        goto done;
    (*env)->SetObjectArrayElement(env, bytes, N(RB_SEND_QUEUE), arr);
    if ((arr = new_bytes(env, r.recvq.data, r.recvq.len)) == NULL)
        goto done;
    (*env)->SetObjectArrayElement(env, bytes, N(RB_RECV_QUEUE), arr);
    if ((arr = from_sockaddr(env, &r.local, &out[N(RS_LOCAL_PORT)], &out[N(RS_LOCAL_SCOPE)])) == NULL)
        goto done;
    (*env)->SetObjectArrayElement(env, bytes, N(RB_LOCAL_ADDR), arr);
    if ((arr = from_sockaddr(env, &r.remote, &out[N(RS_REMOTE_PORT)], &out[N(RS_REMOTE_SCOPE)])) == NULL)
        goto done;
    (*env)->SetObjectArrayElement(env, bytes, N(RB_REMOTE_ADDR), arr);
    (*env)->SetIntArrayRegion(env, result, 0, N(RS_COUNT), out);
done:
    free(r.sendq.data);
    free(r.recvq.data);
}

/* TCP_REPAIR on, then close: tcp_close sees tp->repair and calls tcp_disconnect, which neither
 * sends FIN nor RST (not even with unread data). If repair cannot be switched on, the fd is left
 * open: a normal close would reset a connection that now lives elsewhere. */
JNIEXPORT void JNICALL Java_io_securejeebs_kernel_Native_closeSilently0(JNIEnv *env, jclass cls, jint fd)
{
    struct err e = {0};

    (void)cls;
    if (SET_INT(&e, fd, SOL_TCP, TCP_REPAIR, TCP_REPAIR_ON) < 0) {
        note(&e, " [fd left open]");
        throw_err(env, &e);
        return;
    }
    if (close(fd) < 0) {
        fail(&e, "close", errno, "fd=%d (in repair mode)", fd);
        throw_err(env, &e);
    }
}

/* Silently drops the socket behind a JDK channel's fd while keeping the fd number valid:
 * TCP_REPAIR on, then dup3 an unconnected throwaway socket over it. dup3 releases the channel's
 * reference to the old socket; being the last one, the old socket is closed in repair mode (no FIN,
 * no RST) and its epoll registrations go with it. The channel can then be closed normally. */
JNIEXPORT void JNICALL Java_io_securejeebs_kernel_Native_detachSilently0(JNIEnv *env, jclass cls, jint fd)
{
    struct err e = {0};
    int t;

    (void)cls;
    t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    if (t < 0) {
        fail(&e, "socket", errno, "domain=AF_INET type=SOCK_STREAM|SOCK_CLOEXEC protocol=IPPROTO_TCP");
        throw_err(env, &e);
        return;
    }
    if (SET_INT(&e, fd, SOL_TCP, TCP_REPAIR, TCP_REPAIR_ON) < 0) {
        close(t);
        note(&e, " [channel left untouched]");
        throw_err(env, &e);
        return;
    }
    if (dup3(t, fd, O_CLOEXEC) < 0) {
        fail(&e, "dup3", errno, "oldfd=%d newfd=%d flags=O_CLOEXEC", t, fd);
        close(t);
        if (setsockopt(fd, SOL_TCP, TCP_REPAIR, &(int){TCP_REPAIR_OFF_NO_WP}, sizeof(int)) < 0)
            note(&e, " [then TCP_REPAIR off failed too: errno %d]", errno);
        throw_err(env, &e);
        return;
    }
    if (close(t) < 0) {
        fail(&e, "close", errno, "fd=%d (throwaway socket, already dup'ed onto fd %d)", t, fd);
        throw_err(env, &e);
    }
}

/* SO_LINGER {on, 0}, then close: tcp_close sends an RST (seq = snd_nxt, ack = rcv_nxt) and frees the
 * socket at once. Used to end a connection that cannot be recovered, so that its client learns it now
 * rather than after minutes of retransmissions (or never, when it had nothing to retransmit). */
JNIEXPORT void JNICALL Java_io_securejeebs_kernel_Native_reset0(JNIEnv *env, jclass cls, jint fd)
{
    struct err e = {0};
    struct linger l = { .l_onoff = 1, .l_linger = 0 };

    (void)cls;
    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) < 0) {
        fail(&e, "setsockopt", errno, "fd=%d SOL_SOCKET SO_LINGER {1, 0}", fd);
        close(fd);
        throw_err(env, &e);
        return;
    }
    if (close(fd) < 0) {
        fail(&e, "close", errno, "fd=%d (SO_LINGER 0: reset)", fd);
        throw_err(env, &e);
    }
}

/* Plain close(). On Linux the fd is gone even when close reports an error, so never retried. */
JNIEXPORT void JNICALL Java_io_securejeebs_kernel_Native_close0(JNIEnv *env, jclass cls, jint fd)
{
    struct err e = {0};

    (void)cls;
    if (close(fd) < 0) {
        fail(&e, "close", errno, "fd=%d", fd);
        throw_err(env, &e);
    }
}

/* O_NONBLOCK to match the target channel, then dup3(newfd, targetfd, O_CLOEXEC): targetfd now
 * refers to the restored socket (atomically; the old socket loses this reference and, if it was
 * the last, is closed and leaves every epoll set). The JDK's EPollPort then gets ENOENT from its
 * next EPOLL_CTL_MOD and falls back to EPOLL_CTL_ADD. newfd stays open; the caller closes it. */
JNIEXPORT void JNICALL Java_io_securejeebs_kernel_Native_swap0(
    JNIEnv *env, jclass cls, jint newfd, jint targetfd, jboolean nonblocking)
{
    struct err e = {0};
    int flags, want;

    (void)cls;
    flags = fcntl(newfd, F_GETFL);
    if (flags < 0) {
        fail(&e, "fcntl", errno, "fd=%d cmd=F_GETFL", newfd);
        throw_err(env, &e);
        return;
    }
    want = nonblocking ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    if (want != flags && fcntl(newfd, F_SETFL, want) < 0) {
        fail(&e, "fcntl", errno, "fd=%d cmd=F_SETFL flags=0x%x (%s)", newfd, (unsigned)want,
             nonblocking ? "O_NONBLOCK set" : "O_NONBLOCK cleared");
        throw_err(env, &e);
        return;
    }
    if (dup3(newfd, targetfd, O_CLOEXEC) < 0) {
        fail(&e, "dup3", errno, "oldfd=%d newfd=%d flags=O_CLOEXEC", newfd, targetfd);
        throw_err(env, &e);
    }
}

/* The JDK keeps the fd number of SocketChannelImpl and UnixAsynchronousSocketChannelImpl in a
 * private final int field fdVal. JNI field access ignores Java access checks and module
 * encapsulation, so no --add-opens is needed. */
JNIEXPORT jint JNICALL Java_io_securejeebs_kernel_Native_fdOf0(JNIEnv *env, jclass cls, jobject channel)
{
    jclass c = (*env)->GetObjectClass(env, channel);
    jfieldID f = (*env)->GetFieldID(env, c, "fdVal", "I");

    (void)cls;
    if (f == NULL) {
        jclass iae;
        (*env)->ExceptionClear(env); /* NoSuchFieldError */
        iae = (*env)->FindClass(env, "java/lang/IllegalArgumentException");
        if (iae != NULL)
            (*env)->ThrowNew(env, iae, "channel class has no int field fdVal (not a JDK socket channel?)");
        return -1;
    }
    return (*env)->GetIntField(env, channel, f);
}
