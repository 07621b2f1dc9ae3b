/* conn.c: a connection pair, its stages and its life cycle.
 *
 * Stages: [PROXY_IN] -> [HANDSHAKE_A] -> CONNECT -> [HANDSHAKE_B] -> RELAY.
 * Side a is the accepted connection, side b the one we open to `connect`.
 * A TLS accept side is handshaken and verified before anything is
 * connected; a TLS connect side is handshaken and verified before anything
 * from a is read. RELAY is relay.c's. conn_close() is the one place that
 * frees.
 */
#include "autoconfig.h"
#include "conn.h"
#include "conn_int.h"
#include "board.h"
#include "buf.h"
#include "io.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "proxy.h"
#include "service.h"
#include "verify.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static struct conn *all;
static struct conn *ready;
static int nconns;

static const char *stage_name(enum stage s);
static int next_target(struct conn *c);

int
conn_count(void)
{
	return nconns;
}

void
conn_ready_add(struct conn *c)
{
	if (c->on_ready)
		return;
	c->on_ready = 1;
	c->rprev = NULL;
	c->rnext = ready;
	if (ready)
		ready->rprev = c;
	ready = c;
}

static void
ready_remove(struct conn *c)
{
	if (!c->on_ready)
		return;
	if (c->rprev)
		c->rprev->rnext = c->rnext;
	else
		ready = c->rnext;
	if (c->rnext)
		c->rnext->rprev = c->rprev;
	c->on_ready = 0;
}

static void
update_interest(struct conn *c)
{
	short ea = 0, eb = 0;

	if (c->shown != (int)c->stage) {
		board_set(c->board, stage_name(c->stage), NULL, NULL);
		c->shown = (int)c->stage;
	}
	switch (c->stage) {
	case ST_PROXY_IN:
		ea = POLLIN;
		break;
	case ST_HANDSHAKE_A:
		ea = c->a.hs_want;
		break;
	case ST_CONNECT:
		eb = POLLOUT;
		break;
	case ST_HANDSHAKE_B:
		eb = c->b.hs_want;
		break;
	case ST_RELAY:
		relay_interest(c, &ea, &eb);
		break;
	}
	loop_mod(c->a.slot, ea);
	loop_mod(c->b.slot, eb);
}

/* ---- handshake and connect ------------------------------------------------ */

/* The name a client-side handshake must verify, and the SNI it sends. */
static const char *
target_host(const struct conn *c)
{
	const struct addr_spec *a =
	    &sconf(c)->connect_addr[c->svc->targets[c->target].spec];

	return a->kind == ADDR_INET && a->host[0] ? a->host : NULL;
}

static const char *
connect_sni(const struct conn *c)
{
	const struct tls_conf *t = c->svc->connect_tls->conf;
	const char *h = t->sni ? t->sni : target_host(c);

	return h != NULL && !addr_is_ip_literal(h) ? h : NULL;
}

static const char *
connect_verify_name(const struct conn *c)
{
	const struct tls_conf *t = c->svc->connect_tls->conf;

	if (t->verify_name)
		return t->verify_name;
	if (t->sni)
		return t->sni;
	return target_host(c);
}

/* Turn the peer of side x away: the alert that names verdict v, the log
 * line with reason (the verdict's words when NULL), the metric's label.
 * x is NULL where no TLS peer is there to tell. */
void
conn_reject(struct conn *c, struct side *x, enum verdict v, const char *reason)
{
	if (x != NULL)
		io_reject(&x->io, v);
	c->why = v;
	conn_close(c, OUT_REJECTED, reason ? reason : verdict_info(v)->words);
}

/* The connect side is up: handshake it, or relay. Returns 1, or -1 when
 * closed. */

static int
connected(struct conn *c)
{
	if (sconf(c)->proxy_protocol != PROXY_OFF && proxy_stage_write(c) < 0)
		return -1;
	if (c->svc->connect_tls == NULL)
		return relay_start(c) < 0 ? -1 : 1;
	if (io_start_tls(&c->b.io, c->svc->connect_tls, connect_sni(c),
	    NULL) < 0) {
		conn_close(c, OUT_ERROR, io_strerror(&c->b.io));
		return -1;
	}
	if (conn_stage(c, ST_HANDSHAKE_B) < 0)
		return -1;
	c->b.hs_want = POLLOUT;
	c->deadline = now_ms() + ms(sconf(c)->timeout_handshake);
	return 1;
}

static void
drop_target_fd(struct conn *c)
{
	loop_del(&c->b.slot);
	io_close(&c->b.io, 0);
}

static void side_event(void *arg, short revents);

/* Whether sheath writes on the connect side as soon as it is up: a TLS
 * ClientHello, a PROXY header, or bytes already received from the
 * accepted side. */
static int
speaks_first(const struct conn *c)
{
	return c->svc->connect_tls != NULL ||
	    sconf(c)->proxy_protocol != PROXY_OFF || io_pending(&c->a.io) > 0;
}

/* The last ACK of the TCP handshake may then wait for those first bytes
 * and travel with them: one segment less per connection. Only then: the
 * kernel holds that ACK up to 200 ms, and a server that speaks first
 * could not accept before it arrives. */
static void
delay_handshake_ack(int fd)
{
	int zero = 0;

	setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof(zero));
}

/* Try connect addresses in order from c->target + 1. Returns 0 while a
 * connect is under way, -1 when none is left (c is closed). */
static int
next_target(struct conn *c)
{
	while (++c->target < c->svc->ntargets) {
		const struct sockaddr_any *sa = &c->svc->targets[c->target].sa;
		int fd = socket(sa->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0), r;

		if (fd == -1) {
			c->last_errno = errno;
			if (errno == EMFILE || errno == ENFILE)
				listener_fds_exhausted(sconf(c)->name);
			continue;
		}
		if (sa->ss.ss_family != AF_UNIX) {
			tcp_nodelay(fd);
			tcp_keepalive(fd, sconf(c)->tcp_keepalive);
			if (speaks_first(c))
				delay_handshake_ack(fd);
		}
		c->b.io.fd = fd;
		c->b.can_write = 0;
		loop_add(&c->b.slot, fd, POLLOUT, side_event, &c->b);
		r = connect(fd, (const struct sockaddr *)&sa->ss, sa->len);
		if (r == 0 || errno == EINPROGRESS) {
			/* SO_ERROR is read once POLLOUT says it is final. */
			c->b.can_write = r == 0;
			if (conn_stage(c, ST_CONNECT) < 0)
				return -1;
			c->deadline = now_ms() +
			    ms(sconf(c)->timeout_connect);
			return 0;
		}
		c->last_errno = errno;
		drop_target_fd(c);
	}
	conn_close(c, OUT_BACKEND, strerror(c->last_errno ? c->last_errno :
	    ECONNREFUSED));
	return -1;
}

/* Returns 1 when connected, 0 while waiting, -1 when closed. */
static int
step_connect(struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (!c->b.can_write)
		return 0;
	if (getsockopt(c->b.io.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err == 0)
		return connected(c);
	c->last_errno = err;
	drop_target_fd(c);
	return next_target(c);
}

/* The handshake of side x is done: verify its peer. Returns 1 when it
 * passed, -1 when it was rejected (c is closed). */
static int
verify_side(struct conn *c, struct side *x)
{
	char reason[768], id[256];
	int accept_side = x == &c->a;
	const struct tls_ctx *t = accept_side ? c->svc->accept_tls :
	    c->svc->connect_tls;
	enum verdict v = verify_peer(x->io.tls, t, accept_side ? NULL :
	    connect_verify_name(c), id, sizeof(id), reason, sizeof(reason));

	/* The identity the log shows: the accepted peer's, or a client's
	 * server (a client has no other). */
	if (accept_side || c->a.io.tls == NULL) {
		snprintf(c->identity, sizeof(c->identity), "%s", id);
		board_set(c->board, NULL, c->identity, NULL);
	}
	if (v != V_OK) {
		conn_reject(c, x, v, reason);
		return -1;
	}
	if (accept_side || c->a.io.tls == NULL)
		metrics_handshake(c->svc->metrics_slot, now_ms() - c->started,
		    io_resumed(&x->io));
	return 1;
}

/* Drive the handshake of side x; on success verify and move on. Returns 1
 * when the stage advanced, 0 when waiting, -1 when closed. */
static int
step_handshake(struct conn *c, struct side *x)
{
	char reason[512];
	int r = io_handshake(&x->io);

	if (r == IO_WANT_READ || r == IO_WANT_WRITE) {
		x->hs_want = r == IO_WANT_READ ? POLLIN : POLLOUT;
		return 0;
	}
	if (r == IO_TRUNC) {
		/* The peer went away mid-handshake: a cut, not a verdict. */
		log_debug("service=%s peer=%s handshake cut: %s",
		    sconf(c)->name, c->peer, io_strerror(&x->io));
		conn_close(c, OUT_TRUNCATED, NULL);
		return -1;
	}
	if (r != 0) {
		enum verdict v = io_handshake_verdict(&x->io, reason,
		    sizeof(reason));

		conn_reject(c, x, v, reason);
		return -1;
	}
	if (x == &c->a)
		c->a_hs_done = 1;
	else
		c->b_hs_done = 1;
	if (verify_side(c, x) < 0)
		return -1;
	if (x == &c->a) {
		c->target = -1;
		return next_target(c) < 0 ? -1 : 1;
	}
	return relay_start(c) < 0 ? -1 : 1;
}

/* ---- the stage pipeline ---------------------------------------------------
 * Each stage is a step function (1: advanced, so run the next; 0: wait for
 * an event; -1: c was closed) and the stages it may lead to. A new stage in
 * front of TLS (SNI peek, protocol upgrade, proxy dialogue) is a file with
 * its step function and one line here. */

static int
step_handshake_a(struct conn *c)
{
	return step_handshake(c, &c->a);
}

static int
step_handshake_b(struct conn *c)
{
	return step_handshake(c, &c->b);
}

#define TO(s) (1u << (s))

static const struct stage_def {
	const char *name;		/* as /status and the debug log say */
	int (*step)(struct conn *);
	unsigned next;			/* stages it may change to */
} stage_defs[] = {
	[ST_PROXY_IN] = { "proxy-header", proxy_stage_step,
	    TO(ST_HANDSHAKE_A) | TO(ST_CONNECT) },
	[ST_HANDSHAKE_A] = { "handshake", step_handshake_a, TO(ST_CONNECT) },
	[ST_CONNECT] = { "connect", step_connect,
	    TO(ST_CONNECT) | TO(ST_HANDSHAKE_B) | TO(ST_RELAY) },
	[ST_HANDSHAKE_B] = { "handshake-upstream", step_handshake_b,
	    TO(ST_RELAY) },
	[ST_RELAY] = { "relay", relay_step, 0 },
};

static const char *
stage_name(enum stage s)
{
	return stage_defs[s].name;
}

int
conn_stage(struct conn *c, enum stage next)
{
	if (!(stage_defs[c->stage].next & TO(next))) {
		log_err("service=%s peer=%s: refused stage change %s -> %s",
		    sconf(c)->name, c->peer, stage_defs[c->stage].name,
		    stage_defs[next].name);
		conn_close(c, OUT_ERROR, "illegal stage change");
		return -1;
	}
	if (next != c->stage)
		log_debug("service=%s peer=%s stage %s -> %s", sconf(c)->name,
		    c->peer, stage_defs[c->stage].name, stage_defs[next].name);
	c->stage = next;
	return 0;
}

/* Run the connection as far as it goes now, then declare interest. */
static void
conn_run(struct conn *c)
{
	int r = 1;

	while (r > 0)
		r = stage_defs[c->stage].step(c);
	if (r < 0)
		return;		/* c is gone */
	/* A finished handshake's last flight waited for the first records
	 * (a client's Finished and its first data share a segment); nothing
	 * more comes before the next event. */
	io_flush(&c->a.io);
	io_flush(&c->b.io);
	update_interest(c);
}

static void
side_event(void *arg, short revents)
{
	struct side *x = arg;
	struct conn *c = x->conn;

	if (revents & (x->rd_want | POLLERR | POLLHUP))
		x->can_read = 1;
	if (revents & (x->wr_want | POLLERR | POLLHUP))
		x->can_write = 1;
	if (c->stage != ST_RELAY && x == &c->a && c->stage != ST_HANDSHAKE_A &&
	    c->stage != ST_PROXY_IN) {
		/* The accepted peer waits, unread, while the connect side is
		 * set up; only its disappearance matters now (poll would
		 * report it again and again). */
		if (revents & (POLLERR | POLLHUP))
			conn_close(c, OUT_TRUNCATED, NULL);
		return;
	}
	conn_run(c);
}

/* ---- life cycle ------------------------------------------------------------ */

/* After any PROXY header: handshake the accept side, or connect. Returns 1
 * when started, -1 when c was closed. */
int
conn_begin(struct conn *c)
{
	struct service *svc = c->svc;

	if (svc->accept_tls != NULL) {
		if (io_start_tls(&c->a.io, svc->accept_tls, NULL, &c->tu) < 0) {
			conn_close(c, OUT_ERROR, io_strerror(&c->a.io));
			return -1;
		}
		if (conn_stage(c, ST_HANDSHAKE_A) < 0)
			return -1;
		c->a.hs_want = POLLIN;
		/* One deadline from accept to a verified peer, a PROXY
		 * header included. */
		c->deadline = c->started + ms(svc->conf->timeout_handshake);
		return 1;
	}
	c->target = -1;
	return next_target(c) < 0 ? -1 : 1;
}

void
conn_start(struct service *svc, int fd, const struct sockaddr *peer,
    socklen_t len)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->svc = svc;
	service_ref(svc);
	svc->active++;
	metrics_accepted(svc->metrics_slot);
	nconns++;
	c->next = all;
	if (all)
		all->prev = c;
	all = c;
	c->started = now_ms();
	c->a.conn = c->b.conn = c;
	c->a.io.fd = fd;
	c->b.io.fd = -1;
	c->a.slot = c->b.slot = -1;
	c->a.rd_want = c->b.rd_want = POLLIN;
	c->a.wr_want = c->b.wr_want = POLLOUT;
	snprintf(c->identity, sizeof(c->identity), "-");
	addr_format(peer, len, c->peer, sizeof(c->peer));
	c->board = board_add(svc->conf->name, c->peer, c->started);
	c->shown = -1;
	loop_add(&c->a.slot, fd, 0, side_event, &c->a);
	if (svc->conf->accept_proxy || svc->conf->proxy_protocol != PROXY_OFF)
		proxy_stage_init(c, peer, len);
	if (svc->conf->accept_proxy) {
		if (svc->conf->nproxy_from > 0 &&
		    !addr_prefix_match(svc->conf->proxy_from,
		    svc->conf->nproxy_from, peer)) {
			/* Not a balancer we trust: not a byte is read. */
			conn_reject(c, NULL, V_PROXY_SOURCE, NULL);
			return;
		}
		/* ST_PROXY_IN, the first stage, is where c starts */
		c->px->in = xmalloc(PROXY_MAX_HEADER);
		c->deadline = c->started + ms(svc->conf->timeout_handshake);
		update_interest(c);
		return;
	}
	if (conn_begin(c) > 0)
		update_interest(c);
}

/* A peer that went away before sending a byte, with nothing relayed: a
 * load balancer's TCP health check, not a cut TLS session. */
static int
no_data(const struct conn *c, enum outcome r)
{
	return (r == OUT_TRUNCATED || r == OUT_CLOSED) && !c->a_hs_done &&
	    c->a.io.pulled == 0 && c->ab.bytes == 0 && c->ba.bytes == 0;
}

/* The one line per connection (and the notice of a rejection). */
static void
conn_log(struct conn *c, enum outcome r, const char *detail)
{
	struct tls_facts f;
	char end[600];
	int64_t dur = now_ms() - c->started;
	const struct end *tls = c->a_hs_done ? &c->a.io : c->b_hs_done ?
	    &c->b.io : NULL;
	int quoted = strcmp(c->identity, "-") != 0;
	int level = r == OUT_NO_DATA ? LOG_DEBUG : LOG_INFO;

	if (tls != NULL)
		io_facts(tls, &f);
	else
		memset(&f, 0, sizeof(f));
	snprintf(end, sizeof(end), "%s%s%s", metrics_outcome_name(r),
	    detail ? ": " : "", detail ? detail : "");
	if (r == OUT_REJECTED)
		log_notice("service=%s peer=%s %s", sconf(c)->name, c->peer,
		    end);
	log_msg(level, "service=%s peer=%s identity=%s%s%s version=%s "
	    "cipher=%s alpn=%s ja4=%s resumed=%s bytes_in=%llu "
	    "bytes_out=%llu duration=%lld.%03lld end=%s", sconf(c)->name,
	    c->peer, quoted ? "\"" : "", c->identity, quoted ? "\"" : "",
	    f.proto[0] ? f.proto : "-", f.cipher[0] ? f.cipher : "-",
	    f.alpn[0] ? f.alpn : "-", c->tu.ja4[0] ? c->tu.ja4 : "-",
	    f.resumed ? "yes" : "no", (unsigned long long)c->ab.bytes,
	    (unsigned long long)c->ba.bytes, (long long)(dur / 1000),
	    (long long)(dur % 1000), end);
}

void
conn_close(struct conn *c, enum outcome r, const char *detail)
{
	int reset = r != OUT_CLOSED;

	if (no_data(c, r))
		r = OUT_NO_DATA;
	conn_log(c, r, detail);
	if (c->b_hs_done && c->svc->connect_tls && r == OUT_CLOSED)
		io_remember_session(&c->b.io, c->svc->connect_tls);

	/* A plaintext peer learns of an unclean end through a reset; a TLS
	 * peer through the missing close_notify. */
	loop_del(&c->a.slot);
	loop_del(&c->b.slot);
	io_close(&c->a.io, reset && c->a.io.tls == NULL);
	io_close(&c->b.io, reset && c->b.io.tls == NULL);
	buf_release(&c->ab.buf);
	buf_release(&c->ba.buf);
	proxy_stage_free(c);
	ready_remove(c);
	board_remove(c->board);
	if (c->prev)
		c->prev->next = c->next;
	else
		all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	nconns--;
	c->svc->active--;
	metrics_ended(c->svc->metrics_slot, (enum outcome)r, c->why,
	    c->ab.bytes, c->ba.bytes);
	service_unref(c->svc);
	free(c);
}

void
conn_sweep(int64_t now)
{
	struct conn *c, *next;

	for (c = all; c != NULL; c = next) {
		next = c->next;
		if (now < c->deadline)
			continue;
		if (c->stage == ST_CONNECT) {
			c->last_errno = ETIMEDOUT;
			drop_target_fd(c);
			if (next_target(c) == 0)
				update_interest(c);
		} else {
			conn_close(c, OUT_TIMEOUT, c->stage == ST_RELAY ? "idle" :
			    "handshake");
		}
	}
}

int
conn_has_ready(void)
{
	return ready != NULL;
}

void
conn_run_ready(void)
{
	struct conn *c = ready, *next;

	ready = NULL;
	/* Detach the list first: relay_step() may re-add. */
	for (; c != NULL; c = next) {
		next = c->rnext;
		c->on_ready = 0;
		c->rprev = c->rnext = NULL;
		if (next)
			next->rprev = NULL;
		conn_run(c);
	}
}

void
conn_abort_all(const char *why)
{
	while (all != NULL)
		conn_close(all, OUT_TIMEOUT, why);
}
