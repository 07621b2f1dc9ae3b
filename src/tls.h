/* tls.h: GnuTLS credentials and settings for one TLS side of a service,
 * built once per (re)load and shared read-only by its connections. */
#ifndef SHEATH_TLS_H
#define SHEATH_TLS_H

#include <gnutls/gnutls.h>
#include <stdio.h>

#include "config.h"
#include "identity.h"
#include "ja4.h"
#include "verdict.h"

struct tls_ctx {
	int is_server;			/* this side accepts TLS */
	int resumption;			/* session_resumption */
	const struct tls_conf *conf;	/* owned by the struct conf */
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
	int have_ca;
	unsigned char (*pins)[PIN_LEN];
	size_t npins;
	struct allow_lists allow;
	gnutls_datum_t *alpn;
	unsigned nalpn;
	gnutls_datum_t ticket_key;	/* server side, for session tickets */
	gnutls_datum_t session;		/* client side: the last session, to
					 * resume */
	struct psk_entry *psk;		/* psk_file, loaded */
	size_t npsk;
	gnutls_psk_server_credentials_t psk_server;
	gnutls_psk_client_credentials_t psk_client;
	char own_sig_alg[64], own_key_alg[32];	/* of our certificate */
	struct vcache *vcache;		/* peer chains accepted lately */
};

struct psk_entry {
	char *identity;
	gnutls_datum_t key;
};

/* What a session's callbacks need: its context, and where the JA4 of the
 * ClientHello goes (server side). Owned by the connection. */
struct tls_user {
	const struct tls_ctx *ctx;
	char ja4[JA4_LEN + 1];		/* "" until a ClientHello was seen */
};

/* TLS facts of an established session, for the log line and the PROXY v2
 * TLVs ("" where not available). version is OpenSSL's spelling for PROXY
 * v2 ("TLSv1.3"), proto GnuTLS's for the log ("TLS1.3"). */
struct tls_facts {
	char alpn[256], sni[256], version[16], proto[16], cipher[64];
	char sig_alg[64], key_alg[32];
	int peer_cert, resumed;
};

/** tls_global_init(): gnutls_global_init and library checks; -1 on error. */
int tls_global_init(void);

/** tls_ctx_new(svc, conf, is_server, err): load certificates, keys, CA, CRL
 * and check the priority string. Errors are printed to err with the file,
 * line and key; returns NULL then. */
struct tls_ctx *tls_ctx_new(const struct service_conf *svc,
    const struct tls_conf *conf, int is_server, FILE *err);

/** tls_ctx_free(t): NULL is a no-op. */
void tls_ctx_free(struct tls_ctx *t);

/** tls_session_new(t, fd, sni, user, out): a non-blocking session on fd.
 * sni may be NULL (client side only); user (server side) receives the JA4.
 * Returns 0 or a GnuTLS error code. */
int tls_session_new(const struct tls_ctx *t, int fd, const char *sni,
    struct tls_user *user, gnutls_session_t *out);

/** tls_get_facts(s, f): the TLS facts of an established session. */
void tls_get_facts(gnutls_session_t s, struct tls_facts *f);

/** tls_peer_cn(s, cn, len): the first CN of the peer certificate, made
 * printable ("" without one). */
void tls_peer_cn(gnutls_session_t s, char *cn, size_t len);

/** tls_handshake_verdict(s, err): the verdict for a handshake that failed
 * with GnuTLS error err (a version mismatch, a missing certificate, ALPN,
 * else V_HANDSHAKE). */
enum verdict tls_handshake_verdict(gnutls_session_t s, int err);

/** tls_remember_session(t, s): keep the session of a finished client-side
 * connection so the next one resumes it. */
void tls_remember_session(struct tls_ctx *t, gnutls_session_t s);

/** tls_psk_parse(text, out, n, err, errlen): parse psktool lines
 * "identity:hexkey" (blank lines and # comments skipped). Returns 0, or -1
 * with the line number and reason in err. */
int tls_psk_parse(const char *text, struct psk_entry **out, size_t *n,
    char *err, size_t errlen);

/** tls_psk_find(t, identity, len): the entry of that identity in t's
 * psk_file as loaded now, or NULL. */
const struct psk_entry *tls_psk_find(const struct tls_ctx *t,
    const void *identity, size_t len);

/** tls_psk_free(e, n): wipe and free parsed entries. */
void tls_psk_free(struct psk_entry *e, size_t n);

#endif
