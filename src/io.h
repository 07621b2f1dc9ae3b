/* io.h: one interface over a plaintext socket and a GnuTLS session, so the
 * relay in conn.c never cares which kind of end it talks to. */
#ifndef SHEATH_IO_H
#define SHEATH_IO_H

#include "buf.h"
#include "verdict.h"

#include <gnutls/gnutls.h>
#include <stddef.h>
#include <sys/types.h>

/* Results other than a byte count (all negative). */
enum {
	IO_WANT_READ = -1,	/* retry when the fd is readable */
	IO_WANT_WRITE = -2,	/* retry when the fd is writable */
	IO_EOF = -3,		/* clean end: FIN, or TLS close_notify */
	IO_TRUNC = -4,		/* TLS peer vanished without close_notify */
	IO_ERR = -5,		/* anything else; see end->err */
	IO_RENEG = -6,		/* TLS peer asked to renegotiate (refused) */
};

struct end {
	int fd;
	gnutls_session_t tls;	/* NULL on a plaintext end */
	size_t pending;		/* TLS: length of a send that must be retried */
	struct buf rx;		/* TLS: ciphertext read ahead, not yet parsed */
	unsigned long long pulled;	/* TLS: bytes GnuTLS took from rx */
	int more;		/* TLS: more records follow this one (MSG_MORE) */
	int held;		/* TLS: sent with MSG_MORE, not yet pushed out */
	int err;		/* errno or GnuTLS code of the last IO_ERR */
	int tls_err;		/* whether err is a GnuTLS code */
};

/** io_attach_tls(e, s): make s the TLS session of e and give it sheath's
 * transport: one large recv() feeds several records (read-ahead), and
 * records go out with sendmsg(). e must not move while s lives. */
void io_attach_tls(struct end *e, gnutls_session_t s);

/** io_start_tls(e, t, sni, user): a TLS session over e's socket, a server
 * or a client as t says, with sheath's transport (io_attach_tls). sni may
 * be NULL; user (accept side) receives the JA4. Returns 0, or IO_ERR with
 * the reason for io_strerror(). */
struct tls_ctx;
struct tls_user;
struct tls_facts;
int io_start_tls(struct end *e, const struct tls_ctx *t, const char *sni,
    struct tls_user *user);

/** io_facts(e, f): the TLS facts of e's established session. */
void io_facts(const struct end *e, struct tls_facts *f);

/** io_peer_cn(e, cn, len): the first CN of e's peer certificate. */
void io_peer_cn(const struct end *e, char *cn, size_t len);

/** io_remember_session(e, t): keep e's finished client session in t, so
 * the next connection resumes it. */
void io_remember_session(const struct end *e, struct tls_ctx *t);

/** io_peek(e, buf, len): plaintext bytes that wait on e, copied and left
 * there (a PROXY header is read this way before TLS): > 0, or IO_WANT_READ,
 * IO_EOF or IO_ERR. */
ssize_t io_peek(struct end *e, void *buf, size_t len);

/** io_read(e, buf, len): > 0 bytes read, or an IO_* code. */
ssize_t io_read(struct end *e, void *buf, size_t len);

/** io_write(e, buf, len, fin_follows): > 0 bytes written, or an IO_*
 * code. After IO_WANT_* on a TLS end the next call must pass at least the
 * same bytes at the same address: io_write resends exactly those (GnuTLS
 * rule). fin_follows: these are the stream's last bytes and
 * io_shutdown_write() comes next, so the kernel may hold them (MSG_MORE)
 * and send them in the FIN's segment. */
ssize_t io_write(struct end *e, const void *buf, size_t len,
    int fin_follows);

/** io_pending(e): bytes poll() cannot see: decrypted by GnuTLS, or read
 * ahead and not yet parsed. */
size_t io_pending(const struct end *e);

/** io_handshake(e): 0 when done, or an IO_* code: IO_TRUNC when the peer
 * went away mid-handshake, IO_ERR when the handshake failed (see
 * io_handshake_verdict). When done, the last
 * flight may still be held: it leaves with the next io_write(), or at
 * io_flush(), which must come before the caller waits for events. */
int io_handshake(struct end *e);

/** io_handshake_verdict(e, text, len): why the handshake of e failed, as a
 * verdict, with the reason in plain words in text. */
enum verdict io_handshake_verdict(const struct end *e, char *text,
    size_t len);

/** io_resumed(e): whether e's finished handshake resumed a session. */
int io_resumed(const struct end *e);

/** io_reject(e, v): tell the TLS peer of e why it is turned away (the
 * alert of verdict v; after a failed handshake, the alert that names its
 * error), best effort and without waiting, then end the write side so the
 * alert is not lost to a reset. Nothing is sent on a plaintext end or when
 * the peer itself sent a fatal alert. */
void io_reject(struct end *e, enum verdict v);

/** io_flush(e): push out records held with MSG_MORE. */
void io_flush(struct end *e);

/** io_shutdown_write(e): close_notify (TLS) and FIN, in one segment with
 * any bytes held by fin_follows: 0 when done, or an IO_* code. */
int io_shutdown_write(struct end *e);

/** io_strerror(e): text for the last IO_ERR. */
const char *io_strerror(const struct end *e);

/** io_close(e, reset): free the session and close the fd; reset sends a TCP
 * RST instead of a FIN where the fd is TCP. */
void io_close(struct end *e, int reset);

#endif
