/* tls.c: credential loading and session set-up. Every error names the file,
 * the line and the key it came from. */
#include "autoconfig.h"
#include "tls.h"
#include "vcache.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/ocsp.h>
#include <time.h>
#include <gnutls/x509.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
tls_global_init(void)
{
	if (gnutls_check_version("3.7.0") == NULL) {
		log_err("GnuTLS 3.7.0 or later is required (found %s)",
		    gnutls_check_version(NULL));
		return -1;
	}
	if (gnutls_global_init() < 0) {
		log_err("gnutls_global_init failed");
		return -1;
	}
	return 0;
}

static int
tls_line(const struct service_conf *svc, const struct tls_conf *t, int id)
{
	return t->line[id] > 0 ? t->line[id] : svc->def_line;
}

#define TLS_ERR(id, ...) \
	conf_report(err, svc->file, tls_line(svc, t, id), keys[id].name, \
	    __VA_ARGS__)

static void warn_key_mode(const char *path);
static void own_cert_algs(struct tls_ctx *c);

/* Read a small file whole (keys, tickets, PSKs): at most max bytes. */
static int
read_small_file(const char *path, size_t max, gnutls_datum_t *out)
{
	int r = gnutls_load_file(path, out);

	if (r < 0)
		return r;
	if (out->size > max) {
		gnutls_memset(out->data, 0, out->size);
		gnutls_free(out->data);
		out->data = NULL;
		return GNUTLS_E_FILE_ERROR;
	}
	return 0;
}

void
tls_psk_free(struct psk_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].identity);
		if (e[i].key.data) {
			gnutls_memset(e[i].key.data, 0, e[i].key.size);
			free(e[i].key.data);
		}
	}
	free(e);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
tls_psk_parse(const char *text, struct psk_entry **out, size_t *n, char *err,
    size_t errlen)
{
	struct psk_entry *e = NULL;
	size_t ne = 0;
	int lineno = 0;

	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n'), *colon;
		size_t len = end ? (size_t)(end - line) : strlen(line);
		size_t hexlen;

		lineno++;
		while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
			len--;
		if (len == 0 || line[0] == '#')
			goto next;
		colon = memchr(line, ':', len);
		if (colon == NULL || colon == line) {
			snprintf(err, errlen, "line %d: expected identity:hexkey",
			    lineno);
			goto fail;
		}
		hexlen = len - (size_t)(colon + 1 - line);
		if (hexlen == 0 || hexlen % 2 || hexlen > 1024) {
			snprintf(err, errlen, "line %d: the key must be an even "
			    "number of hex digits (at most 512 bytes)", lineno);
			goto fail;
		}
		e = xrealloc(e, (ne + 1) * sizeof(*e));
		e[ne].identity = xmalloc((size_t)(colon - line) + 1);
		memcpy(e[ne].identity, line, (size_t)(colon - line));
		e[ne].identity[colon - line] = '\0';
		e[ne].key.size = (unsigned)(hexlen / 2);
		e[ne].key.data = xmalloc(hexlen / 2);
		ne++;
		for (size_t i = 0; i < hexlen / 2; i++) {
			int hi = hexval(colon[1 + 2 * i]);
			int lo = hexval(colon[2 + 2 * i]);

			if (hi < 0 || lo < 0) {
				snprintf(err, errlen, "line %d: the key is not "
				    "hex", lineno);
				goto fail;
			}
			e[ne - 1].key.data[i] = (unsigned char)(hi << 4 | lo);
		}
next:
		line = end ? end + 1 : NULL;
	}
	if (ne == 0) {
		snprintf(err, errlen, "no identity:hexkey line");
		goto fail;
	}
	*out = e;
	*n = ne;
	return 0;
fail:
	tls_psk_free(e, ne);
	return -1;
}

const struct psk_entry *
tls_psk_find(const struct tls_ctx *c, const void *identity, size_t len)
{
	for (size_t i = 0; c != NULL && i < c->npsk; i++)
		if (strlen(c->psk[i].identity) == len &&
		    memcmp(c->psk[i].identity, identity, len) == 0)
			return &c->psk[i];
	return NULL;
}

static int
psk_lookup(gnutls_session_t s, const gnutls_datum_t *user,
    gnutls_datum_t *key)
{
	const struct tls_user *u = gnutls_session_get_ptr(s);
	const struct psk_entry *e = tls_psk_find(u ? u->ctx : NULL,
	    user->data, user->size);

	if (e == NULL)
		return -1;	/* unknown identity: the handshake fails */
	key->data = gnutls_malloc(e->key.size);
	if (key->data == NULL)
		return -1;
	memcpy(key->data, e->key.data, e->key.size);
	key->size = e->key.size;
	return 0;
}

static int
load_psk(struct tls_ctx *c, const struct service_conf *svc, FILE *err)
{
	const struct tls_conf *t = c->conf;
	gnutls_datum_t raw = { NULL, 0 };
	char why[256], *text;
	const struct psk_entry *use = NULL;
	int r;

	if (t->psk_file == NULL)
		return 0;
	if ((r = read_small_file(t->psk_file, 1 << 20, &raw)) < 0) {
		TLS_ERR(K_PSK_FILE, "cannot read \"%s\": %s", t->psk_file,
		    gnutls_strerror(r));
		return -1;
	}
	text = xmalloc(raw.size + 1);
	memcpy(text, raw.data, raw.size);
	text[raw.size] = '\0';
	gnutls_memset(raw.data, 0, raw.size);
	gnutls_free(raw.data);
	r = tls_psk_parse(text, &c->psk, &c->npsk, why, sizeof(why));
	gnutls_memset(text, 0, strlen(text));
	free(text);
	if (r == -1) {
		TLS_ERR(K_PSK_FILE, "\"%s\": %s", t->psk_file, why);
		return -1;
	}
	warn_key_mode(t->psk_file);
	if (c->is_server) {
		if (gnutls_psk_allocate_server_credentials(&c->psk_server) < 0)
			return -1;
		gnutls_psk_set_server_credentials_function2(c->psk_server,
		    psk_lookup);
		gnutls_psk_set_server_known_dh_params(c->psk_server,
		    GNUTLS_SEC_PARAM_MEDIUM);
		return 0;
	}
	/* The client presents one identity: psk_identity, else the first. */
	for (size_t i = 0; i < c->npsk && use == NULL; i++)
		if (t->psk_identity == NULL ||
		    strcmp(c->psk[i].identity, t->psk_identity) == 0)
			use = &c->psk[i];
	if (use == NULL) {
		TLS_ERR(K_PSK_IDENTITY, "identity \"%s\" is not in \"%s\"",
		    t->psk_identity, t->psk_file);
		return -1;
	}
	if (gnutls_psk_allocate_client_credentials(&c->psk_client) < 0 ||
	    gnutls_psk_set_client_credentials(c->psk_client, use->identity,
	    &use->key, GNUTLS_PSK_KEY_RAW) < 0) {
		TLS_ERR(K_PSK_FILE, "cannot set up PSK credentials");
		return -1;
	}
	return 0;
}

/* The ticket key of one service: HKDF-SHA256 of the shared file's bytes,
 * with the service name as its info. Instances that share the file and the
 * name make the same key; two services never do, so a ticket issued by one
 * is never accepted by the other (its client does a full handshake). */
static int
derive_ticket_key(const gnutls_datum_t *secret, const char *service,
    gnutls_datum_t *out)
{
	static const char salt[] = "sheath session ticket key v1";
	gnutls_datum_t s = { (unsigned char *)salt, sizeof(salt) - 1 };
	gnutls_datum_t info = { (unsigned char *)service,
	    (unsigned)strlen(service) };
	unsigned char prk[32];
	gnutls_datum_t p = { prk, sizeof(prk) };
	int r;

	out->size = 64;
	if ((out->data = gnutls_malloc(out->size)) == NULL)
		return GNUTLS_E_MEMORY_ERROR;
	r = gnutls_hkdf_extract(GNUTLS_MAC_SHA256, secret, &s, prk);
	if (r >= 0)
		r = gnutls_hkdf_expand(GNUTLS_MAC_SHA256, &p, &info, out->data,
		    out->size);
	gnutls_memset(prk, 0, sizeof(prk));
	if (r < 0) {
		gnutls_free(out->data);
		out->data = NULL;
	}
	return r;
}

/* session tickets shared by instances: exactly 64 random bytes. */
static int
load_ticket_key(struct tls_ctx *c, const struct service_conf *svc, FILE *err)
{
	gnutls_datum_t k = { NULL, 0 };
	int r;

	if (svc->ticket_key_file == NULL)
		return gnutls_session_ticket_key_generate(&c->ticket_key) < 0 ?
		    -1 : 0;
	r = read_small_file(svc->ticket_key_file, 4096, &k);
	if (r >= 0 && k.size == 64)
		r = derive_ticket_key(&k, svc->name, &c->ticket_key);
	if (r < 0 || k.size != 64)
		conf_report(err, svc->file, svc->line[K_TICKET_KEY_FILE] > 0 ?
		    svc->line[K_TICKET_KEY_FILE] : svc->def_line,
		    "ticket_key_file", "\"%s\": %s", svc->ticket_key_file,
		    r < 0 ? gnutls_strerror(r) : "must hold exactly 64 bytes "
		    "(head -c 64 /dev/urandom)");
	if (k.data) {
		gnutls_memset(k.data, 0, k.size);
		gnutls_free(k.data);
	}
	if (r < 0 || k.size != 64)
		return -1;
	warn_key_mode(svc->ticket_key_file);
	return 0;
}

/* Staple an OCSP response; warn when it is stale already. */
static int
load_ocsp(struct tls_ctx *c, const struct service_conf *svc, FILE *err)
{
	gnutls_datum_t der = { NULL, 0 };
	gnutls_ocsp_resp_t resp;
	time_t next = 0;
	int line = svc->line[K_OCSP_RESPONSE] > 0 ?
	    svc->line[K_OCSP_RESPONSE] : svc->def_line, r;

	if (svc->ocsp_response == NULL)
		return 0;
	r = gnutls_certificate_set_ocsp_status_request_file2(c->cred,
	    svc->ocsp_response, 0, GNUTLS_X509_FMT_DER);
	if (r == GNUTLS_E_EXPIRED) {
		/* A stale staple would only make clients fail: serve without
		 * one until a fresh response is in place (and SIGHUP). */
		log_warn("service %s: the OCSP response in %s is stale (its "
		    "nextUpdate has passed); not stapling it", svc->name,
		    svc->ocsp_response);
		return 0;
	}
	if (r < 0) {
		conf_report(err, svc->file, line, "ocsp_response", "\"%s\": %s",
		    svc->ocsp_response, gnutls_strerror(r));
		return -1;
	}
	if (gnutls_load_file(svc->ocsp_response, &der) == 0 &&
	    gnutls_ocsp_resp_init(&resp) == 0) {
		if (gnutls_ocsp_resp_import(resp, &der) == 0 &&
		    gnutls_ocsp_resp_get_single(resp, 0, NULL, NULL, NULL,
		    NULL, NULL, NULL, &next, NULL, NULL) == 0 &&
		    next != (time_t)-1 && next < time(NULL))
			log_warn("service %s: the OCSP response in %s is stale "
			    "(next update was due %ld seconds ago)", svc->name,
			    svc->ocsp_response, (long)(time(NULL) - next));
		gnutls_ocsp_resp_deinit(resp);
	}
	gnutls_free(der.data);
	return 0;
}

static void
warn_key_mode(const char *path)
{
	struct stat st;

	if (strncmp(path, "pkcs11:", 7) == 0 || stat(path, &st) == -1)
		return;
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		log_warn("private key %s is readable by group or others; "
		    "chmod 600 it", path);
}

/* A key URI as it may be shown: pin-value is never printed. */
static const char *
redact(const char *uri, char *buf, size_t len)
{
	const char *p = strstr(uri, "pin-value=");
	size_t n;

	if (p == NULL)
		return uri;
	n = (size_t)(p - uri) + strlen("pin-value=");
	snprintf(buf, len, "%.*s***%s", (int)n, uri, strchr(p, ';') ?
	    strchr(p, ';') : "");
	return buf;
}

/* GnuTLS reads pin-value from a PKCS#11 URI but not pin-source: turn
 * "pin-source=file:/path" into pin-value with the file's first line. The
 * result (which holds the PIN) must be wiped and freed by the caller. */
static char *
resolve_pin_source(const char *uri, char *why, size_t whylen)
{
	const char *p = strstr(uri, "pin-source=");
	const char *end, *path;
	char file[4096], pin[256], *out;
	size_t plen = 0, cap;
	FILE *f;

	if (strncmp(uri, "pkcs11:", 7) != 0 || p == NULL)
		return xstrdup(uri);
	path = p + strlen("pin-source=");
	if (strncmp(path, "file:", 5) == 0)
		path += 5;
	end = strchr(path, ';');
	snprintf(file, sizeof(file), "%.*s", (int)(end ? (size_t)(end - path) :
	    strlen(path)), path);
	/* percent-decoding of the path is not needed for plain paths */
	if ((f = fopen(file, "re")) == NULL) {
		snprintf(why, whylen, "pin-source %.200s: %s", file,
		    strerror(errno));
		return NULL;
	}
	if (fgets(pin, sizeof(pin), f) == NULL)
		pin[0] = '\0';
	fclose(f);
	pin[strcspn(pin, "\r\n")] = '\0';
	cap = strlen(uri) + 3 * strlen(pin) + 16;
	out = xmalloc(cap);
	plen = (size_t)(p - uri);
	memcpy(out, uri, plen);
	plen += (size_t)snprintf(out + plen, cap - plen, "pin-value=");
	for (const unsigned char *q = (const unsigned char *)pin; *q; q++)
		plen += (size_t)snprintf(out + plen, cap - plen,
		    (isalnum(*q) ? "%c" : "%%%02X"), *q);
	snprintf(out + plen, cap - plen, "%s", end ? end : "");
	gnutls_memset(pin, 0, sizeof(pin));
	return out;
}

static int
check_chain_file(const char *path, char *why, size_t len)
{
	gnutls_datum_t pem = { NULL, 0 };
	gnutls_x509_crt_t *list = NULL;
	unsigned n = 0;
	int r;

	if ((r = gnutls_load_file(path, &pem)) < 0) {
		snprintf(why, len, "%s", strerror(errno ? errno : EIO));
		return -1;
	}
	r = gnutls_x509_crt_list_import2(&list, &n, &pem, GNUTLS_X509_FMT_PEM,
	    0);
	gnutls_free(pem.data);
	if (r < 0) {
		snprintf(why, len, "%s", gnutls_strerror(r));
		return -1;
	}
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(list[i]);
	gnutls_free(list);
	if (n == 0) {
		snprintf(why, len, "no certificate found");
		return -1;
	}
	return 0;
}

static int
load_files(struct tls_ctx *c, const struct service_conf *svc, FILE *err)
{
	const struct tls_conf *t = c->conf;
	int r;

	if (t->ca != NULL) {
		if (strcmp(t->ca, "system") == 0)
			r = gnutls_certificate_set_x509_system_trust(c->cred);
		else
			r = gnutls_certificate_set_x509_trust_file(c->cred,
			    t->ca, GNUTLS_X509_FMT_PEM);
		if (r <= 0) {
			TLS_ERR(K_CA, "cannot load trust anchors from \"%s\": "
			    "%s", t->ca, r == 0 ? "no certificate found" :
			    gnutls_strerror(r));
			return -1;
		}
		c->have_ca = 1;
	}
	if (t->crl != NULL) {
		r = gnutls_certificate_set_x509_crl_file(c->cred, t->crl,
		    GNUTLS_X509_FMT_PEM);
		if (r <= 0) {
			TLS_ERR(K_CRL, "cannot load CRL from \"%s\": %s",
			    t->crl, r == 0 ? "no CRL found" :
			    gnutls_strerror(r));
			return -1;
		}
	}
	if (t->cert != NULL) {
		char why[256], shown[4096];
		char *key;

		/* Parse the chain on its own first: a clearer error (the
		 * certificate, not the key), and GnuTLS 3.7.9 leaks when
		 * gnutls_certificate_set_x509_key_file2 meets a truncated
		 * PEM file. */
		if (check_chain_file(t->cert, why, sizeof(why)) == -1) {
			TLS_ERR(K_CERT, "cannot load certificate \"%s\": %s",
			    t->cert, why);
			return -1;
		}
		key = resolve_pin_source(t->key, why, sizeof(why));

		if (key == NULL) {
			TLS_ERR(K_KEY, "%s", why);
			return -1;
		}
		r = gnutls_certificate_set_x509_key_file2(c->cred, t->cert,
		    key, GNUTLS_X509_FMT_PEM, NULL, 0);
		gnutls_memset(key, 0, strlen(key));
		free(key);
		if (r < 0) {
			/* Tell which of the two files is at fault. */
			int id = K_CERT;
			const char *what = t->cert;

			if (access(t->cert, R_OK) == 0) {
				id = K_KEY;
				what = t->key;
			}
			TLS_ERR(id, "cannot load certificate \"%s\" with key "
			    "\"%s\": %s%s%s", t->cert, redact(t->key, shown,
			    sizeof(shown)),
			    gnutls_strerror(r), !strncmp(what, "pkcs11:", 7) ||
			    access(what, R_OK) == 0 ? "" : ": ",
			    !strncmp(what, "pkcs11:", 7) || access(what,
			    R_OK) == 0 ? "" : strerror(errno));
			return -1;
		}
		warn_key_mode(t->key);
	}
	return 0;
}

static int
load_pins(struct tls_ctx *c)
{
	const struct strlist *p = &c->conf->pin_sha256;

	c->npins = p->n;
	c->pins = c->npins ? xcalloc(c->npins, PIN_LEN) : NULL;
	for (size_t i = 0; i < p->n; i++) {
		gnutls_datum_t in = { (unsigned char *)p->v[i],
			(unsigned)strlen(p->v[i]) }, out = { NULL, 0 };

		if (gnutls_base64_decode2(&in, &out) != 0)
			return -1;	/* validated already */
		if (out.size == PIN_LEN)
			memcpy(c->pins[i], out.data, PIN_LEN);
		gnutls_free(out.data);
	}
	return 0;
}

struct tls_ctx *
tls_ctx_new(const struct service_conf *svc, const struct tls_conf *t,
    int is_server, FILE *err)
{
	struct tls_ctx *c = xcalloc(1, sizeof(*c));

	c->vcache = vcache_new();
	/* PSK only with (EC)DHE, for forward secrecy. */
	const char *prio = t->priority ? t->priority : t->psk_file ?
	    DEFAULT_PRIORITY ":+ECDHE-PSK:+DHE-PSK" : DEFAULT_PRIORITY;
	const char *errpos = NULL;
	int r;

	c->is_server = is_server;
	c->resumption = svc->session_resumption;
	c->conf = t;
	c->allow.cn = &t->allow_cn;
	c->allow.dns = &t->allow_dns;
	c->allow.uri = &t->allow_uri;
	c->allow.ou = &t->allow_ou;
	if ((r = gnutls_certificate_allocate_credentials(&c->cred)) < 0) {
		TLS_ERR(K_CERT, "%s", gnutls_strerror(r));
		goto err;
	}
	gnutls_certificate_set_flags(c->cred,
	    GNUTLS_CERTIFICATE_VERIFY_CRLS);
	if (load_files(c, svc, err) == -1 || load_psk(c, svc, err) == -1)
		goto err;
	if (is_server && load_ocsp(c, svc, err) == -1)
		goto err;
	if (is_server)
		own_cert_algs(c);
	if (is_server)
		gnutls_certificate_set_known_dh_params(c->cred,
		    GNUTLS_SEC_PARAM_MEDIUM);
	if ((r = gnutls_priority_init(&c->prio, prio, &errpos)) < 0) {
		TLS_ERR(K_PRIORITY, "bad priority string \"%s\"%s%s: %s", prio,
		    errpos ? " near " : "", errpos ? errpos : "",
		    gnutls_strerror(r));
		c->prio = NULL;
		goto err;
	}
	if (load_pins(c) == -1) {
		TLS_ERR(K_PIN_SHA256, "bad pin");
		goto err;
	}
	if (t->alpn.n) {
		c->alpn = xcalloc(t->alpn.n, sizeof(*c->alpn));
		for (size_t i = 0; i < t->alpn.n; i++) {
			c->alpn[i].data = (unsigned char *)t->alpn.v[i];
			c->alpn[i].size = (unsigned)strlen(t->alpn.v[i]);
		}
		c->nalpn = (unsigned)t->alpn.n;
	}
	if (is_server && load_ticket_key(c, svc, err) == -1)
		goto err;
	return c;
err:
	tls_ctx_free(c);
	return NULL;
}

void
tls_ctx_free(struct tls_ctx *c)
{
	if (c == NULL)
		return;
	if (c->cred)
		gnutls_certificate_free_credentials(c->cred);
	if (c->prio)
		gnutls_priority_deinit(c->prio);
	if (c->ticket_key.data) {
		gnutls_memset(c->ticket_key.data, 0, c->ticket_key.size);
		gnutls_free(c->ticket_key.data);
	}
	free(c->pins);
	free(c->alpn);
	if (c->psk_server)
		gnutls_psk_free_server_credentials(c->psk_server);
	if (c->psk_client)
		gnutls_psk_free_client_credentials(c->psk_client);
	tls_psk_free(c->psk, c->npsk);
	gnutls_free(c->session.data);
	vcache_free(c->vcache);
	free(c);
}

void
tls_remember_session(struct tls_ctx *c, gnutls_session_t s)
{
	gnutls_datum_t d;

	if (!c->resumption)
		return;
	/* TLS 1.3 tickets arrive after the handshake: only a session that
	 * received one can be resumed. */
	if (gnutls_protocol_get_version(s) == GNUTLS_TLS1_3 &&
	    !(gnutls_session_get_flags(s) & GNUTLS_SFLAGS_SESSION_TICKET))
		return;
	if (gnutls_session_get_data2(s, &d) < 0)
		return;
	gnutls_free(c->session.data);
	c->session = d;
}

/* Whether a ClientHello offered no TLS version sheath could speak: its
 * JA4 names the highest one it offered ("t13", "t12", "t11", ...). */
static int
hello_too_old(gnutls_session_t s)
{
	const struct tls_user *u = gnutls_session_get_ptr(s);

	return u != NULL && u->ja4[0] == 't' && strncmp(u->ja4 + 1, "13", 2)
	    != 0 && strncmp(u->ja4 + 1, "12", 2) != 0;
}

enum verdict
tls_handshake_verdict(gnutls_session_t s, int err)
{
	switch (err) {
	case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
		return V_VERSION;
	case GNUTLS_E_NO_CERTIFICATE_FOUND:
	case GNUTLS_E_CERTIFICATE_REQUIRED:
		return V_NO_CERT;
	case GNUTLS_E_NO_APPLICATION_PROTOCOL:
		return V_ALPN;
	case GNUTLS_E_NO_CIPHER_SUITES:
	case GNUTLS_E_UNKNOWN_CIPHER_SUITE:
	case GNUTLS_E_INSUFFICIENT_CREDENTIALS:
		/* GnuTLS's words for a client of an older version. */
		return hello_too_old(s) ? V_VERSION : V_HANDSHAKE;
	default:
		return V_HANDSHAKE;
	}
}

/* The raw ClientHello, for its JA4 fingerprint (the first one only: a
 * HelloRetryRequest makes the client send a second). */
static int
client_hello_hook(gnutls_session_t s, unsigned htype, unsigned when,
    unsigned incoming, const gnutls_datum_t *msg)
{
	struct tls_user *u = gnutls_session_get_ptr(s);

	if (u != NULL && incoming && htype == GNUTLS_HANDSHAKE_CLIENT_HELLO &&
	    when == GNUTLS_HOOK_PRE && u->ja4[0] == '\0')
		ja4_compute(msg->data, msg->size, u->ja4);
	return 0;
}

int
tls_session_new(const struct tls_ctx *c, int fd, const char *sni,
    struct tls_user *user, gnutls_session_t *out)
{
	gnutls_session_t s;
	unsigned flags = GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL;
	int r;

	/* A client sends one key share, for the first group of its priority
	 * (as OpenSSL does), not two: a server without that group answers
	 * with a HelloRetryRequest, one round trip more. */
	flags |= c->is_server ? GNUTLS_SERVER :
	    GNUTLS_CLIENT | GNUTLS_KEY_SHARE_TOP;
	if ((r = gnutls_init(&s, flags)) < 0)
		return r;
	if ((r = gnutls_priority_set(s, c->prio)) < 0 ||
	    (r = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE,
	    c->cred)) < 0)
		goto err;
	if (c->psk_server && (r = gnutls_credentials_set(s, GNUTLS_CRD_PSK,
	    c->psk_server)) < 0)
		goto err;
	if (c->psk_client && (r = gnutls_credentials_set(s, GNUTLS_CRD_PSK,
	    c->psk_client)) < 0)
		goto err;
	if (user != NULL) {
		user->ctx = c;
		user->ja4[0] = '\0';
		gnutls_session_set_ptr(s, user);
	}
	if (c->is_server) {
		gnutls_certificate_server_set_request(s,
		    c->conf->verify == VERIFY_REQUIRE ? GNUTLS_CERT_REQUIRE :
		    c->conf->verify == VERIFY_OPTIONAL ? GNUTLS_CERT_REQUEST :
		    GNUTLS_CERT_IGNORE);
		if (c->resumption && (r = gnutls_session_ticket_enable_server(s,
		    &c->ticket_key)) < 0)
			goto err;
		gnutls_handshake_set_hook_function(s,
		    GNUTLS_HANDSHAKE_CLIENT_HELLO, GNUTLS_HOOK_PRE,
		    client_hello_hook);
	} else {
		if (sni != NULL && (r = gnutls_server_name_set(s,
		    GNUTLS_NAME_DNS, sni, strlen(sni))) < 0)
			goto err;
		if (c->conf->verify != VERIFY_NONE && c->psk_client == NULL &&
		    (r = gnutls_ocsp_status_request_enable_client(s, NULL, 0,
		    NULL)) < 0)
			goto err;
		if (c->resumption && c->session.data != NULL)
			gnutls_session_set_data(s, c->session.data,
			    c->session.size);
	}
	if (c->nalpn && (r = gnutls_alpn_set_protocols(s, c->alpn, c->nalpn,
	    c->is_server ? GNUTLS_ALPN_SERVER_PRECEDENCE : 0)) < 0)
		goto err;
	/* Our own timers bound the handshake; GnuTLS must never wait. */
	gnutls_handshake_set_timeout(s, 0);
	gnutls_transport_set_int(s, fd);
	*out = s;
	return 0;
err:
	gnutls_deinit(s);
	return r;
}

/* Signature and key algorithm of our own certificate ("ECDSA-SHA256",
 * "EC256", "RSA2048"), for the PROXY v2 SSL TLV: read once at load, since a
 * resumed session carries no certificate. */
static void
own_cert_algs(struct tls_ctx *c)
{
	gnutls_x509_crt_t *crts = NULL;
	unsigned n = 0, bits = 0;
	int pk, sign;

	if (gnutls_certificate_get_x509_crt(c->cred, 0, &crts, &n) < 0 ||
	    n == 0)
		return;
	sign = gnutls_x509_crt_get_signature_algorithm(crts[0]);
	if (sign > 0 && gnutls_sign_get_name(sign))
		snprintf(c->own_sig_alg, sizeof(c->own_sig_alg), "%s",
		    gnutls_sign_get_name(sign));
	pk = gnutls_x509_crt_get_pk_algorithm(crts[0], &bits);
	if (pk == GNUTLS_PK_RSA)
		snprintf(c->own_key_alg, sizeof(c->own_key_alg), "RSA%u", bits);
	else if (pk == GNUTLS_PK_ECDSA)
		snprintf(c->own_key_alg, sizeof(c->own_key_alg), "EC%u", bits);
	else if (pk > 0 && gnutls_pk_get_name(pk))
		snprintf(c->own_key_alg, sizeof(c->own_key_alg), "%s",
		    gnutls_pk_get_name(pk));
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
}

static void
printable(char *p)
{
	for (; *p; p++)
		if ((unsigned char)*p < ' ' || (unsigned char)*p > '~')
			*p = '?';
}

void
tls_peer_cn(gnutls_session_t s, char *cn, size_t len)
{
	const gnutls_datum_t *certs;
	gnutls_x509_crt_t crt;
	unsigned n = 0;
	size_t cl = len;

	cn[0] = '\0';
	if (gnutls_certificate_type_get(s) != GNUTLS_CRT_X509 ||
	    (certs = gnutls_certificate_get_peers(s, &n)) == NULL || n == 0 ||
	    gnutls_x509_crt_init(&crt) < 0)
		return;
	/* The first CN: with allow_cn the only one, the one checked. */
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == 0 &&
	    gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
	    0, cn, &cl) == 0)
		printable(cn);
	else
		cn[0] = '\0';
	gnutls_x509_crt_deinit(crt);
}

void
tls_get_facts(gnutls_session_t s, struct tls_facts *f)
{
	const gnutls_datum_t *certs;
	gnutls_datum_t proto;
	unsigned n = 0, type;
	size_t len = sizeof(f->sni) - 1;
	const char *v;
	const struct tls_user *u;

	memset(f, 0, sizeof(*f));
	if (gnutls_alpn_get_selected_protocol(s, &proto) == 0 &&
	    proto.size < sizeof(f->alpn)) {
		memcpy(f->alpn, proto.data, proto.size);
		printable(f->alpn);
	}
	if (gnutls_server_name_get(s, f->sni, &len, &type, 0) == 0 &&
	    type == GNUTLS_NAME_DNS) {
		f->sni[len < sizeof(f->sni) ? len : sizeof(f->sni) - 1] = '\0';
		printable(f->sni);
	} else {
		f->sni[0] = '\0';
	}
	switch (gnutls_protocol_get_version(s)) {
	case GNUTLS_TLS1_3: v = "TLSv1.3"; break;
	case GNUTLS_TLS1_2: v = "TLSv1.2"; break;
	default: v = "";
	}
	snprintf(f->version, sizeof(f->version), "%s", v);
	v = gnutls_protocol_get_name(gnutls_protocol_get_version(s));
	snprintf(f->proto, sizeof(f->proto), "%s", v ? v : "");
	/* The IANA name, as OpenSSL and HAProxy print it; a TLS 1.2 name
	 * carries the key exchange (TLS_ECDHE_ECDSA_WITH_...). */
	snprintf(f->cipher, sizeof(f->cipher), "%s",
	    gnutls_ciphersuite_get(s) ? gnutls_ciphersuite_get(s) : "");
	f->resumed = gnutls_session_is_resumed(s);
	f->peer_cert = gnutls_certificate_type_get(s) == GNUTLS_CRT_X509 &&
	    (certs = gnutls_certificate_get_peers(s, &n)) != NULL && n > 0;
	u = gnutls_session_get_ptr(s);
	if (u != NULL && u->ctx != NULL) {
		snprintf(f->sig_alg, sizeof(f->sig_alg), "%s",
		    u->ctx->own_sig_alg);
		snprintf(f->key_alg, sizeof(f->key_alg), "%s",
		    u->ctx->own_key_alg);
	}
}
