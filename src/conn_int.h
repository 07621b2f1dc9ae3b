/* conn_int.h: what conn.c (the stages and the life cycle) and relay.c (the
 * relay of an established pair) share about a connection. Private to the
 * two: nothing else may include it. */
#ifndef SHEATH_CONN_INT_H
#define SHEATH_CONN_INT_H

#include <stdint.h>

#include "buf.h"
#include "io.h"
#include "metrics.h"
#include "proxy.h"
#include "service.h"
#include "tls.h"
#include "verdict.h"

enum stage { ST_PROXY_IN, ST_HANDSHAKE_A, ST_CONNECT, ST_HANDSHAKE_B,
	ST_RELAY };
enum dstate { D_OPEN, D_DRAIN, D_SHUT };

struct conn;

struct side {
	struct end io;
	struct conn *conn;
	int slot;
	short rd_want, wr_want;	/* event the next read / write waits for */
	short hs_want;		/* event the handshake waits for */
	unsigned can_read : 1, can_write : 1;
};

struct dir {
	struct buf buf;
	enum dstate state;
	uint64_t bytes;
};

struct conn {
	struct conn *prev, *next;		/* every connection */
	struct conn *rprev, *rnext;		/* ready list */
	int on_ready;
	struct service *svc;
	enum stage stage;
	struct side a, b;
	struct dir ab, ba;
	int64_t started, deadline;
	int target;
	int last_errno;
	enum verdict why;		/* of a rejection */
	int a_hs_done, b_hs_done;
	struct tls_user tu;		/* accept side: JA4 of its hello */
	int board;			/* row on the status board, or -1 */
	int shown;			/* the stage the board shows */
	struct proxy_state *px;		/* only with PROXY protocol keys */
	char peer[ADDR_STRLEN];
	char identity[256];
};

/* The addresses a PROXY header carries (what a received header said, or the
 * real ones), and a received header while it is read. */
struct proxy_state {
	struct proxy_addrs addrs;
	unsigned char *in;
	size_t have;
};

static inline const struct service_conf *
sconf(const struct conn *c)
{
	return c->svc->conf;
}

static inline int64_t
ms(double seconds)
{
	return (int64_t)(seconds * 1000.0 + 0.5);
}

/* conn.c */
/** conn_close(c, r, detail): log the connection's line and free it. */
void conn_close(struct conn *c, enum outcome r, const char *detail);
/** conn_reject(c, x, v, reason): turn the peer of side x (NULL: none to tell)
 * away with verdict v, and close. */
void conn_reject(struct conn *c, struct side *x, enum verdict v,
    const char *reason);
/** conn_ready_add(c): run c again after the others had a turn. */
void conn_ready_add(struct conn *c);
/** conn_stage(c, next): move c to stage next, logged at debug; an illegal
 * change is refused (logged as an error, c closed): returns -1 then. */
int conn_stage(struct conn *c, enum stage next);

/** conn_begin(c): after any PROXY header: handshake the accept side, or
 * connect. 1 when started, -1 when c was closed. */
int conn_begin(struct conn *c);

/* proxy_stage.c */
/** proxy_stage_init(c, peer, len): the addresses a PROXY header carries,
 * the real ones until a received header says otherwise. */
void proxy_stage_init(struct conn *c, const struct sockaddr *peer,
    socklen_t len);
/** proxy_stage_free(c): NULL-safe. */
void proxy_stage_free(struct conn *c);
/** proxy_stage_step(c): the PROXY_IN stage's step (accept_proxy): read
 * exactly the header; 1 when done and the next stage begun, 0 to wait, -1
 * when c was closed. */
int proxy_stage_step(struct conn *c);
/** proxy_stage_write(c): write the PROXY header first on the connect side;
 * 0, or -1 when c was closed. */
int proxy_stage_write(struct conn *c);

/* relay.c */
/** relay_start(c): both sides are up (and verified): relay from now on.
 * 0, or -1 when c was closed. */
int relay_start(struct conn *c);
/** relay_step(c): the RELAY stage's step: move bytes both ways until
 * nothing moves; 0 (wait for events), or -1 when c was closed. */
int relay_step(struct conn *c);
/** relay_interest(c, ea, eb): the poll events each side waits for. */
void relay_interest(const struct conn *c, short *ea, short *eb);

#endif
