/* io.c: the only file that calls recv/send/gnutls_record_*. It turns their
 * many return conventions into the IO_* codes of io.h. */
#include "autoconfig.h"
#include "io.h"
#include "tls.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* The largest plaintext a TLS record carries: a write longer than this
 * takes several records, and all but the last go out with MSG_MORE. */
#define RECORD_MAX 16384

/* ---- the TLS transport ----------------------------------------------------
 * GnuTLS reads a record header, then its body: two recv() calls per 16 KiB
 * record. Instead, one recv() of up to BUF_SIZE fills e->rx and GnuTLS is
 * fed from memory. The buffer comes from the pool and goes back as soon as
 * it is empty, so an idle connection holds none. GnuTLS only ever sees
 * EAGAIN with e->rx empty, so after IO_WANT_READ poll() is right to wait;
 * bytes still in e->rx are reported by io_pending(). */

static ssize_t
tls_pull(gnutls_transport_ptr_t p, void *data, size_t len)
{
	struct end *e = p;
	size_t n;

	if (buf_len(&e->rx) == 0) {
		size_t room;
		unsigned char *space = buf_space(&e->rx, 0, &room);
		ssize_t r;

		do
			r = recv(e->fd, space, room, 0);
		while (r == -1 && errno == EINTR);
		if (r <= 0) {
			int err = errno;

			buf_release(&e->rx);
			if (r == 0)
				return 0;
			gnutls_transport_set_errno(e->tls, err);
			return -1;
		}
		buf_produced(&e->rx, (size_t)r);
	}
	n = buf_len(&e->rx) < len ? buf_len(&e->rx) : len;
	memcpy(data, e->rx.data + e->rx.head, n);
	buf_consumed(&e->rx, n);
	e->pulled += n;
	return (ssize_t)n;
}

/* GnuTLS also answers GNUTLS_E_AGAIN after a record that carried nothing for
 * the caller (a TLS 1.3 session ticket or key update, a compatibility
 * ChangeCipherSpec). The next records may already sit in e->rx, where poll()
 * cannot see them: call again while that is so and the call consumed
 * something (pulled moved since `before`), or bytes would wait for an event
 * that never comes. */
static int
tls_again_readable(const struct end *e, unsigned long long before)
{
	return buf_len(&e->rx) > 0 && e->pulled != before &&
	    gnutls_record_get_direction(e->tls) == 0;
}

/* The peer vanished at the TCP level (reset, or FIN without close_notify),
 * as GnuTLS reports it. */
static int
transport_cut(int r)
{
	return r == GNUTLS_E_PUSH_ERROR || r == GNUTLS_E_PULL_ERROR ||
	    r == GNUTLS_E_PREMATURE_TERMINATION ||
	    r == GNUTLS_E_UNEXPECTED_PACKET_LENGTH;
}

/* GnuTLS calls this only when it was given a timeout; sheath's own timers
 * bound every wait, so it never blocks. */
static int
tls_pull_timeout(gnutls_transport_ptr_t p, unsigned int ms)
{
	struct end *e = p;
	struct pollfd pfd = { .fd = e->fd, .events = POLLIN };

	(void)ms;
	if (buf_len(&e->rx) > 0)
		return 1;
	return poll(&pfd, 1, 0);
}

static ssize_t
tls_push(gnutls_transport_ptr_t p, const giovec_t *iov, int iovcnt)
{
	struct end *e = p;
	struct msghdr m = { .msg_iov = (struct iovec *)(void *)iov,
	    .msg_iovlen = (size_t)iovcnt };
	ssize_t r;

	do
		r = sendmsg(e->fd, &m, MSG_NOSIGNAL |
		    (e->more ? MSG_MORE : 0));
	while (r == -1 && errno == EINTR);
	if (r == -1)
		gnutls_transport_set_errno(e->tls, errno);
	else if (e->more)
		e->held = 1;
	return r;
}

/* Send what MSG_MORE left in the socket: setting TCP_NODELAY (already on)
 * pushes pending segments out. */
void
io_flush(struct end *e)
{
	if (!e->held)
		return;
	e->held = 0;
	tcp_nodelay(e->fd);
}

void
io_attach_tls(struct end *e, gnutls_session_t s)
{
	e->tls = s;
	gnutls_transport_set_ptr(s, e);
	gnutls_transport_set_pull_function(s, tls_pull);
	gnutls_transport_set_pull_timeout_function(s, tls_pull_timeout);
	gnutls_transport_set_vec_push_function(s, tls_push);
}

int
io_start_tls(struct end *e, const struct tls_ctx *t, const char *sni,
    struct tls_user *user)
{
	gnutls_session_t s;
	int r = tls_session_new(t, e->fd, sni, user, &s);

	if (r < 0) {
		e->err = r;
		e->tls_err = 1;
		return IO_ERR;
	}
	io_attach_tls(e, s);
	return 0;
}

void
io_facts(const struct end *e, struct tls_facts *f)
{
	tls_get_facts(e->tls, f);
}

void
io_peer_cn(const struct end *e, char *cn, size_t len)
{
	tls_peer_cn(e->tls, cn, len);
}

void
io_remember_session(const struct end *e, struct tls_ctx *t)
{
	tls_remember_session(t, e->tls);
}

/* ---- reads and writes ---------------------------------------------------- */


static int
tls_want(const struct end *e)
{
	return gnutls_record_get_direction(e->tls) ? IO_WANT_WRITE :
	    IO_WANT_READ;
}

static int
tls_fail(struct end *e, int r)
{
	e->err = r;
	e->tls_err = 1;
	return IO_ERR;
}

static int
sys_fail(struct end *e)
{
	e->err = errno;
	e->tls_err = 0;
	return IO_ERR;
}

/* recv() on a plaintext end, its results as IO_* codes. */
static ssize_t
plain_recv(struct end *e, void *buf, size_t len, int flags)
{
	ssize_t r;

	do
		r = recv(e->fd, buf, len, flags);
	while (r == -1 && errno == EINTR);
	if (r > 0)
		return r;
	if (r == 0)
		return IO_EOF;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return IO_WANT_READ;
	return sys_fail(e);
}

ssize_t
io_peek(struct end *e, void *buf, size_t len)
{
	return plain_recv(e, buf, len, MSG_PEEK);
}

ssize_t
io_read(struct end *e, void *buf, size_t len)
{
	ssize_t r;

	if (e->tls == NULL)
		return plain_recv(e, buf, len, 0);
	for (int tries = 0; tries < 16;) {
		unsigned long long before = e->pulled;

		r = gnutls_record_recv(e->tls, buf, len);
		if (r > 0)
			return r;
		if (r == 0)
			return IO_EOF;
		switch (r) {
		case GNUTLS_E_AGAIN:
		case GNUTLS_E_INTERRUPTED:
			if (tls_again_readable(e, before)) {
				tries++;
				continue;
			}
			return tls_want(e);
		case GNUTLS_E_PREMATURE_TERMINATION:
		case GNUTLS_E_UNEXPECTED_PACKET_LENGTH:
			return IO_TRUNC;
		case GNUTLS_E_PULL_ERROR:
			/* A TCP reset from the TLS peer: the stream was cut. */
			tls_fail(e, (int)r);
			return IO_TRUNC;
		case GNUTLS_E_REHANDSHAKE:
			/* Renegotiation is refused: the peer identity must
			 * never change under an established relay. */
			tls_fail(e, (int)r);
			return IO_RENEG;
		default:
			if (gnutls_error_is_fatal((int)r))
				return tls_fail(e, (int)r);
			/* A warning alert: read on, a bounded number of
			 * times. */
			tries++;
		}
	}
	return tls_want(e);
}

ssize_t
io_write(struct end *e, const void *buf, size_t len, int fin_follows)
{
	ssize_t r;

	if (e->tls == NULL) {
		do
			r = send(e->fd, buf, len, MSG_NOSIGNAL |
			    (fin_follows ? MSG_MORE : 0));
		while (r == -1 && errno == EINTR);
		if (r >= 0)
			return r > 0 ? r : IO_WANT_WRITE;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return IO_WANT_WRITE;
		return sys_fail(e);
	}
	if (e->pending != 0 && len > e->pending)
		len = e->pending;
	/* Tell the kernel more records follow, so it can send them as one
	 * segment; the last record of a write goes out without the hint,
	 * unless close_notify and the FIN follow it at once. */
	e->more = len > RECORD_MAX || fin_follows;
	r = gnutls_record_send(e->tls, buf, len);
	e->more = 0;
	e->held = 0;	/* the last record, or the FIN after it, pushes */
	if (r > 0) {
		e->pending = 0;
		return r;
	}
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
		e->pending = len;
		return tls_want(e);
	}
	e->pending = 0;
	tls_fail(e, (int)r);
	return transport_cut((int)r) ? IO_TRUNC : IO_ERR;
}

size_t
io_pending(const struct end *e)
{
	return e->tls ? gnutls_record_check_pending(e->tls) +
	    buf_len(&e->rx) : 0;
}

/* GnuTLS sends a flight's messages with one push each (a TLS 1.3 server:
 * ServerHello, then the encrypted rest; a client: the compatibility
 * ChangeCipherSpec, then Finished). They are held with MSG_MORE while
 * gnutls_handshake() runs and leave together when it returns, in one
 * segment instead of several. The last flight (a client's Finished, a
 * server's session tickets) stays held for the caller's first record
 * or io_flush(). */
static int
handshake_step(struct end *e)
{
	int r;

	e->more = 1;
	r = gnutls_handshake(e->tls);
	e->more = 0;
	if (r != 0)
		io_flush(e);
	return r;
}

int
io_handshake(struct end *e)
{
	for (int tries = 0; tries < 16;) {
		unsigned long long before = e->pulled;
		int r = handshake_step(e);

		if (r == 0)
			return 0;
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			if (tls_again_readable(e, before)) {
				tries++;
				continue;
			}
			return tls_want(e);
		}
		if (gnutls_error_is_fatal(r)) {
			/* A peer that went away is a cut; bytes that are not
			 * TLS (a bad record length) are a failed handshake. */
			tls_fail(e, r);
			return transport_cut(r) &&
			    r != GNUTLS_E_UNEXPECTED_PACKET_LENGTH ? IO_TRUNC :
			    IO_ERR;
		}
		tries++;	/* a warning alert */
	}
	return tls_want(e);
}

enum verdict
io_handshake_verdict(const struct end *e, char *text, size_t len)
{
	enum verdict v = e->tls_err ? tls_handshake_verdict(e->tls, e->err) :
	    V_HANDSHAKE;

	if (v == V_HANDSHAKE)
		snprintf(text, len, "%s: %s", verdict_info(v)->words,
		    io_strerror(e));
	else
		snprintf(text, len, "%s", verdict_info(v)->words);
	return v;
}

int
io_resumed(const struct end *e)
{
	return e->tls != NULL && gnutls_session_is_resumed(e->tls) != 0;
}

void
io_reject(struct end *e, enum verdict v)
{
	int alert, level = GNUTLS_AL_FATAL;
	char sink[4096];

	if (e->tls == NULL || (e->tls_err &&
	    e->err == GNUTLS_E_FATAL_ALERT_RECEIVED))
		return;
	alert = verdict_alert(v, gnutls_protocol_get_version(e->tls) ==
	    GNUTLS_TLS1_3);
	if (v == V_HANDSHAKE && e->tls_err)
		alert = gnutls_error_to_alert(e->err, &level);
	if (v == V_RENEGOTIATION)
		level = GNUTLS_AL_WARNING;	/* never fatal (RFC 5246) */
	if (alert >= 0 && gnutls_alert_send(e->tls, (gnutls_alert_level_t)
	    level, (gnutls_alert_description_t)alert) >= 0)
		io_flush(e);
	/* A close() with unread input sends a reset, which can discard the
	 * alert before the peer reads it: FIN after it, and read what is
	 * already here. */
	shutdown(e->fd, SHUT_WR);
	for (int i = 0; i < 16 && recv(e->fd, sink, sizeof(sink),
	    MSG_DONTWAIT) > 0; i++)
		;
}

int
io_shutdown_write(struct end *e)
{
	if (e->tls != NULL) {
		int r;

		/* close_notify waits for the FIN: one segment carries both
		 * (and the last records, written with fin_follows). */
		e->more = 1;
		r = gnutls_bye(e->tls, GNUTLS_SHUT_WR);
		e->more = 0;

		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			return tls_want(e);
		if (r < 0) {
			tls_fail(e, r);
			return transport_cut(r) ? IO_TRUNC : IO_ERR;
		}
	}
	if (shutdown(e->fd, SHUT_WR) == -1 && errno != ENOTCONN)
		return sys_fail(e);
	e->held = 0;	/* the FIN pushed it all */
	return 0;
}

const char *
io_strerror(const struct end *e)
{
	if (e->tls_err) {
		if (e->err == GNUTLS_E_FATAL_ALERT_RECEIVED && e->tls) {
			const char *a = gnutls_alert_get_name(
			    gnutls_alert_get(e->tls));

			return a ? a : "fatal alert received";
		}
		return gnutls_strerror(e->err);
	}
	return strerror(e->err);
}

void
io_close(struct end *e, int reset)
{
	if (e->tls != NULL) {
		gnutls_deinit(e->tls);
		e->tls = NULL;
	}
	buf_release(&e->rx);
	if (e->fd >= 0) {
		if (reset) {
			struct linger l = { 1, 0 };

			setsockopt(e->fd, SOL_SOCKET, SO_LINGER, &l,
			    sizeof(l));
		}
		close(e->fd);
		e->fd = -1;
	}
	e->pending = 0;
	e->held = 0;
}
