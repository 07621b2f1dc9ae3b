/* tls.c: credential loading and session set-up. Every error names the file,
 * the line and the key it came from. */
#include "autoconfig.h"
#include "tls.h"
#include "log.h"

#include <errno.h>
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
		r = gnutls_certificate_set_x509_key_file2(c->cred, t->cert,
		    t->key, GNUTLS_X509_FMT_PEM, NULL, 0);
		if (r < 0) {
			/* Tell which of the two files is at fault. */
			int id = K_CERT;
			const char *what = t->cert;

			if (access(t->cert, R_OK) == 0 &&
			    strncmp(t->key, "pkcs11:", 7) != 0) {
				id = K_KEY;
				what = t->key;
			}
			TLS_ERR(id, "cannot load certificate \"%s\" with key "
			    "\"%s\": %s%s%s", t->cert, t->key,
			    gnutls_strerror(r), access(what, R_OK) ? ": " : "",
			    access(what, R_OK) ? strerror(errno) : "");
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
			(unsigned)strlen(p->v[i]) }, out;

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
	const char *prio = t->priority ? t->priority : DEFAULT_PRIORITY;
	const char *errpos = NULL;
	int r;

	c->is_server = is_server;
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
	if (load_files(c, svc, err) == -1)
		goto err;
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
	if (is_server &&
	    (r = gnutls_session_ticket_key_generate(&c->ticket_key)) < 0) {
		TLS_ERR(K_CERT, "cannot generate a session ticket key: %s",
		    gnutls_strerror(r));
		goto err;
	}
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
	free(c);
}

int
tls_session_new(const struct tls_ctx *c, int fd, const char *sni,
    gnutls_session_t *out)
{
	gnutls_session_t s;
	unsigned flags = GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL;
	int r;

	flags |= c->is_server ? GNUTLS_SERVER : GNUTLS_CLIENT;
	if ((r = gnutls_init(&s, flags)) < 0)
		return r;
	if ((r = gnutls_priority_set(s, c->prio)) < 0 ||
	    (r = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE,
	    c->cred)) < 0)
		goto err;
	if (c->is_server) {
		gnutls_certificate_server_set_request(s,
		    c->conf->verify == VERIFY_REQUIRE ? GNUTLS_CERT_REQUIRE :
		    c->conf->verify == VERIFY_OPTIONAL ? GNUTLS_CERT_REQUEST :
		    GNUTLS_CERT_IGNORE);
		if ((r = gnutls_session_ticket_enable_server(s,
		    &c->ticket_key)) < 0)
			goto err;
	} else if (sni != NULL && (r = gnutls_server_name_set(s,
	    GNUTLS_NAME_DNS, sni, strlen(sni))) < 0) {
		goto err;
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

void
tls_describe(gnutls_session_t s, const char **version, const char **cipher,
    char *alpn, size_t alpnlen)
{
	gnutls_datum_t proto;
	const char *v, *ci;

	v = gnutls_protocol_get_name(gnutls_protocol_get_version(s));
	ci = gnutls_cipher_get_name(gnutls_cipher_get(s));
	*version = v ? v : "-";
	*cipher = ci ? ci : "-";
	if (gnutls_alpn_get_selected_protocol(s, &proto) == 0 &&
	    proto.size < alpnlen) {
		memcpy(alpn, proto.data, proto.size);
		alpn[proto.size] = '\0';
		for (size_t i = 0; i < proto.size; i++)
			if (alpn[i] <= ' ' || alpn[i] > '~')
				alpn[i] = '?';
	} else {
		snprintf(alpn, alpnlen, "-");
	}
}
