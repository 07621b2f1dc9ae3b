/* relay.c: the relay of an established pair.
 *
 * Each direction (ab: a->b, ba: b->a) is OPEN, DRAIN (its source ended;
 * flush the buffer, then shut the destination's write half) or SHUT.
 * Reads happen only while the direction's buffer has room, so a slow
 * reader stops its writer (backpressure). A pair closes when both
 * directions are SHUT, or when a side fails (side_failed decides how it
 * ended). */
#include "autoconfig.h"
#include "board.h"
#include "conn_int.h"
#include "log.h"

#include <poll.h>

/* Passes through relay_step() per event before yielding to others. */
#define PUMP_ROUNDS 16

static const char *const dstate_names[] = { "open", "drain", "shut" };

/* Move direction d on: OPEN -> DRAIN (its source ended) -> SHUT (the end
 * passed on), logged at debug; any other change is refused (logged as an
 * error, c closed): returns -1 then. */
static int
dir_set(struct conn *c, struct dir *d, enum dstate next)
{
	const char *name = d == &c->ab ? "a->b" : "b->a";

	if (next != d->state + 1) {
		log_err("service=%s peer=%s: refused direction change %s %s -> "
		    "%s", sconf(c)->name, c->peer, name, dstate_names[d->state],
		    dstate_names[next]);
		conn_close(c, OUT_ERROR, "illegal direction change");
		return -1;
	}
	log_debug("service=%s peer=%s %s %s -> %s", sconf(c)->name, c->peer,
	    name, dstate_names[d->state], dstate_names[next]);
	d->state = next;
	return 0;
}

static int
dir_has_room(const struct dir *d, const struct side *dst)
{
	return buf_has_room(&d->buf, dst->io.pending != 0);
}

static short
side_interest(const struct side *x, const struct dir *out,
    const struct dir *in, const struct side *y)
{
	short ev = 0;

	if (out->state == D_OPEN && !x->can_read && dir_has_room(out, y))
		ev |= x->rd_want;
	if (!x->can_write && (buf_len(&in->buf) > 0 || in->state == D_DRAIN))
		ev |= x->wr_want;
	return ev;
}

/* Classify a failed I/O on side x and close the pair: a refused
 * renegotiation is a rejection; a stream cut (io says IO_TRUNC) or any
 * failure of the accepted side is truncated; any other failure of the
 * connect side is the backend's. */
static void
side_failed(struct conn *c, struct side *x, int code)
{
	if (code == IO_RENEG)
		conn_reject(c, x, V_RENEGOTIATION, NULL);
	else if (x == &c->b && code != IO_TRUNC)
		conn_close(c, OUT_BACKEND, io_strerror(&x->io));
	else {
		if (code == IO_ERR)
			log_debug("service=%s peer=%s %s side: %s",
			    sconf(c)->name, c->peer, x == &c->a ? "accept" :
			    "connect", io_strerror(&x->io));
		conn_close(c, OUT_TRUNCATED, NULL);
	}
}

/* Fill d's buffer from src until it is full or src would block: one plain
 * plain read of up to BUF_SIZE, or as many TLS records as fit. Returns 1 on
 * progress, 0 without, -1 when the connection was closed. */
static int
fill_dir(struct conn *c, struct dir *d, struct side *src, struct side *dst,
    int count_read)
{
	int progress = 0;

	while (d->state == D_OPEN && (src->can_read || io_pending(&src->io))) {
		size_t room;
		unsigned char *p = buf_space(&d->buf, dst->io.pending != 0,
		    &room);
		unsigned long long pulled = src->io.pulled;
		ssize_t n;

		if (p == NULL)
			break;
		n = io_read(&src->io, p, room);
		if (n > 0) {
			buf_produced(&d->buf, (size_t)n);
			if (count_read)
				d->bytes += (uint64_t)n;
			progress = 1;
			continue;
		}
		if (buf_len(&d->buf) == 0)
			buf_release(&d->buf);
		switch (n) {
		case IO_WANT_READ:
		case IO_WANT_WRITE:
			src->can_read = 0;
			src->rd_want = n == IO_WANT_READ ? POLLIN : POLLOUT;
			/* Records already read ahead are not poll()'s to
			 * report: another round takes them (only if this read
			 * consumed some, so it can never spin). */
			if (n == IO_WANT_READ && io_pending(&src->io) &&
			    src->io.pulled != pulled)
				progress = 1;
			break;
		case IO_EOF:
			if (dir_set(c, d, D_DRAIN) < 0)
				return -1;
			progress = 1;
			break;
		default:
			side_failed(c, src, (int)n);
			return -1;
		}
		break;
	}
	return progress;
}

/* Write d's buffer to dst until it is empty or dst would block, then pass
 * on a drained end of stream. Returns like fill_dir. */
static int
drain_dir(struct conn *c, struct dir *d, struct side *dst, int count_write)
{
	int progress = 0;

	while (buf_len(&d->buf) > 0 && dst->can_write) {
		/* After the source's end of stream these are the last bytes:
		 * they may wait for the FIN below and share its segment. */
		ssize_t n = io_write(&dst->io, d->buf.data + d->buf.head,
		    buf_len(&d->buf), d->state == D_DRAIN);

		if (n > 0) {
			buf_consumed(&d->buf, (size_t)n);
			if (count_write)
				d->bytes += (uint64_t)n;
			progress = 1;
		} else if (n == IO_WANT_READ || n == IO_WANT_WRITE) {
			dst->can_write = 0;
			dst->wr_want = n == IO_WANT_READ ? POLLIN : POLLOUT;
		} else {
			side_failed(c, dst, (int)n);
			return -1;
		}
	}
	if (d->state == D_DRAIN && buf_len(&d->buf) == 0 && dst->can_write) {
		int r = io_shutdown_write(&dst->io);

		if (r == 0) {
			if (dir_set(c, d, D_SHUT) < 0)
				return -1;
			progress = 1;
		} else if (r == IO_WANT_READ || r == IO_WANT_WRITE) {
			dst->can_write = 0;
			dst->wr_want = r == IO_WANT_READ ? POLLIN : POLLOUT;
		} else {
			side_failed(c, dst, r);
			return -1;
		}
	}
	return progress;
}

/* One round of I/O on direction d (src -> dst): fill, then drain. Large
 * reads and writes keep the syscalls per byte low. Returns 1 on progress,
 * 0 without, -1 when the connection was closed. */
static int
pump_dir(struct conn *c, struct dir *d, struct side *src, struct side *dst,
    int count_read, int count_write)
{
	int p1, p2;

	if ((p1 = fill_dir(c, d, src, dst, count_read)) < 0)
		return -1;
	if ((p2 = drain_dir(c, d, dst, count_write)) < 0)
		return -1;
	return p1 || p2;
}

/* Move bytes both ways until nothing moves. Returns -1 if closed. */
int
relay_step(struct conn *c)
{
	for (int round = 0; round < PUMP_ROUNDS; round++) {
		int p1, p2;

		if ((p1 = pump_dir(c, &c->ab, &c->a, &c->b, 1, 0)) < 0)
			return -1;
		if ((p2 = pump_dir(c, &c->ba, &c->b, &c->a, 0, 1)) < 0)
			return -1;
		if (c->ab.state == D_SHUT && c->ba.state == D_SHUT) {
			conn_close(c, OUT_CLOSED, NULL);
			return -1;
		}
		if (p1 || p2) {
			c->deadline = now_ms() + ms(sconf(c)->timeout_idle);
			board_bytes(c->board, c->ab.bytes, c->ba.bytes);
		}
		if (!p1 && !p2)
			return 0;
	}
	conn_ready_add(c);	/* still busy: come back after others had a turn */
	return 0;
}

int
relay_start(struct conn *c)
{
	if (conn_stage(c, ST_RELAY) < 0)
		return -1;
	c->a.can_read = c->a.can_write = 1;
	c->b.can_read = c->b.can_write = 1;
	c->a.rd_want = c->b.rd_want = POLLIN;
	c->a.wr_want = c->b.wr_want = POLLOUT;
	c->deadline = now_ms() + ms(sconf(c)->timeout_idle);
	return 0;
}

void
relay_interest(const struct conn *c, short *ea, short *eb)
{
	*ea = side_interest(&c->a, &c->ab, &c->ba, &c->b);
	*eb = side_interest(&c->b, &c->ba, &c->ab, &c->a);
}
