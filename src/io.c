/* io.c: the only file that calls recv/send/gnutls_record_*. It turns their
 * many return conventions into the IO_* codes of io.h. */
#include "autoconfig.h"
#include "io.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

ssize_t
io_read(struct end *e, void *buf, size_t len)
{
	ssize_t r;

	if (e->tls == NULL) {
		do
			r = recv(e->fd, buf, len, 0);
		while (r == -1 && errno == EINTR);
		if (r > 0)
			return r;
		if (r == 0)
			return IO_EOF;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return IO_WANT_READ;
		return sys_fail(e);
	}
	for (int tries = 0; tries < 16; tries++) {
		r = gnutls_record_recv(e->tls, buf, len);
		if (r > 0)
			return r;
		if (r == 0)
			return IO_EOF;
		switch (r) {
		case GNUTLS_E_AGAIN:
		case GNUTLS_E_INTERRUPTED:
			return tls_want(e);
		case GNUTLS_E_PREMATURE_TERMINATION:
		case GNUTLS_E_UNEXPECTED_PACKET_LENGTH:
			return IO_TRUNC;
		case GNUTLS_E_PULL_ERROR:
			/* A TCP reset from the TLS peer: the stream was cut. */
			return IO_TRUNC;
		case GNUTLS_E_REHANDSHAKE:
			/* Renegotiation is refused: the peer identity must
			 * never change under an established relay. */
			return tls_fail(e, (int)r);
		default:
			if (gnutls_error_is_fatal((int)r))
				return tls_fail(e, (int)r);
			/* A warning alert: read on. */
		}
	}
	return tls_want(e);
}

ssize_t
io_write(struct end *e, const void *buf, size_t len)
{
	ssize_t r;

	if (e->tls == NULL) {
		do
			r = send(e->fd, buf, len, MSG_NOSIGNAL);
		while (r == -1 && errno == EINTR);
		if (r >= 0)
			return r > 0 ? r : IO_WANT_WRITE;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return IO_WANT_WRITE;
		return sys_fail(e);
	}
	if (e->pending != 0 && len > e->pending)
		len = e->pending;
	r = gnutls_record_send(e->tls, buf, len);
	if (r > 0) {
		e->pending = 0;
		return r;
	}
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
		e->pending = len;
		return tls_want(e);
	}
	e->pending = 0;
	return tls_fail(e, (int)r);
}

size_t
io_pending(const struct end *e)
{
	return e->tls ? gnutls_record_check_pending(e->tls) : 0;
}

int
io_handshake(struct end *e)
{
	for (int tries = 0; tries < 16; tries++) {
		int r = gnutls_handshake(e->tls);

		if (r == 0)
			return 0;
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			return tls_want(e);
		if (gnutls_error_is_fatal(r))
			return tls_fail(e, r);
	}
	return tls_want(e);
}

int
io_shutdown_write(struct end *e)
{
	if (e->tls != NULL) {
		int r = gnutls_bye(e->tls, GNUTLS_SHUT_WR);

		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			return tls_want(e);
		if (r < 0)
			return tls_fail(e, r);
	}
	if (shutdown(e->fd, SHUT_WR) == -1 && errno != ENOTCONN)
		return sys_fail(e);
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
}
