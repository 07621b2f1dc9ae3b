/* proxy_stage.c: the PROXY protocol around a connection: the header read
 * before anything else on the accepted side (accept_proxy, the first
 * stage of the pipeline), and the header written first on the connect side
 * (proxy_protocol). The header formats themselves are proxy.c's. */
#include "autoconfig.h"
#include "board.h"
#include "conn_int.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

void
proxy_stage_init(struct conn *c, const struct sockaddr *peer,
    socklen_t len)
{
	struct proxy_state *px = c->px = xcalloc(1, sizeof(*c->px));

	if (peer->sa_family != AF_INET && peer->sa_family != AF_INET6) {
		px->addrs.local = 1;
		return;
	}
	memcpy(&px->addrs.src, peer, len);
	px->addrs.srclen = len;
	px->addrs.dstlen = sizeof(px->addrs.dst);
	if (getsockname(c->a.io.fd, (struct sockaddr *)&px->addrs.dst,
	    &px->addrs.dstlen) == -1)
		px->addrs.local = 1;
}

void
proxy_stage_free(struct conn *c)
{
	if (c->px == NULL)
		return;
	free(c->px->in);
	free(c->px);
	c->px = NULL;
}

/* accept_proxy: read exactly the header (peek, then consume only its
 * bytes, so what follows stays for TLS or the relay). Returns 1 when done,
 * 0 to wait, -1 when closed. */
int
proxy_stage_step(struct conn *c)
{
	struct proxy_state *px = c->px;
	struct proxy_addrs got;
	ssize_t n;
	int hl;
	size_t take;

	n = io_peek(&c->a.io, px->in + px->have, PROXY_MAX_HEADER - px->have);
	if (n == IO_WANT_READ)
		return 0;
	if (n <= 0 && px->have == 0) {
		conn_close(c, OUT_TRUNCATED, NULL);	/* a health check */
		return -1;
	}
	if (n <= 0) {
		conn_reject(c, NULL, V_PROXY_HEADER, "connection closed before a "
		    "PROXY protocol header");
		return -1;
	}
	hl = proxy_header_len(px->in, px->have + (size_t)n);
	if (hl < 0) {
		conn_reject(c, NULL, V_PROXY_HEADER, NULL);
		return -1;
	}
	/* Until the length is known every byte belongs to the header; once
	 * it is, take no byte beyond it (the rest may not be here yet). */
	take = (size_t)n;
	if (hl > 0 && (size_t)hl - px->have < take)
		take = (size_t)hl - px->have;
	if (io_read(&c->a.io, px->in + px->have, take) != (ssize_t)take) {
		conn_close(c, OUT_TRUNCATED, NULL);
		return -1;
	}
	px->have += take;
	if (hl == 0 || px->have < (size_t)hl)
		return 0;
	if (proxy_parse(px->in, px->have, &got) == -1) {
		conn_reject(c, NULL, V_PROXY_HEADER, NULL);
		return -1;
	}
	if (!got.local) {
		/* The balancer's word for who the client is. */
		px->addrs = got;
		addr_format((struct sockaddr *)&got.src, got.srclen, c->peer,
		    sizeof(c->peer));
		board_set(c->board, NULL, NULL, c->peer);
	}
	free(px->in);
	px->in = NULL;
	return conn_begin(c);
}

/* proxy_protocol: the header goes first on the connect side, before any
 * TLS there. The socket is fresh and empty, so it is written whole. */
int
proxy_stage_write(struct conn *c)
{
	unsigned char buf[2048];
	struct tls_facts f;
	struct proxy_tls t;
	char cn[256];
	size_t len;

	if (sconf(c)->proxy_protocol == PROXY_V1) {
		len = proxy_build_v1((char *)buf, sizeof(buf), &c->px->addrs);
	} else {
		memset(&t, 0, sizeof(t));
		if (c->a_hs_done) {
			io_facts(&c->a.io, &f);
			t.alpn = f.alpn;
			t.authority = f.sni;
			t.ssl = 1;
			/* HAProxy's meaning: a certificate on this very
			 * connection, or once in its TLS session. */
			t.cert_conn = f.peer_cert && !f.resumed;
			t.cert_sess = f.peer_cert;
			t.verified = f.peer_cert &&
			    c->svc->accept_tls->conf->verify != VERIFY_NONE;
			t.version = f.version;
			t.cipher = f.cipher;
			io_peer_cn(&c->a.io, cn, sizeof(cn));
			t.cn = cn;
			t.sig_alg = f.sig_alg;
			t.key_alg = f.key_alg;
			t.ja4 = c->tu.ja4;
		}
		len = proxy_build_v2(buf, sizeof(buf), &c->px->addrs,
		    c->a_hs_done ? &t : NULL);
	}
	if (len == 0 || io_write(&c->b.io, buf, len, 0) != (ssize_t)len) {
		conn_close(c, OUT_BACKEND, "cannot send the PROXY header");
		return -1;
	}
	return 0;
}

