/* verify.c: chain + CRL + name via GnuTLS, then pins and allow-lists via
 * identity.c. One function, one verdict, one reason. */
#include "autoconfig.h"
#include "verify.h"
#include "log.h"
#include "util.h"
#include "vcache.h"
#include "certnames.h"

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/ocsp.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* SHA-256 of the DER SubjectPublicKeyInfo, as `openssl pkey -pubout`. */
static int
spki_sha256(gnutls_x509_crt_t crt, unsigned char out[PIN_LEN])
{
	gnutls_pubkey_t pub;
	gnutls_datum_t der = { NULL, 0 };
	int r;

	if (gnutls_pubkey_init(&pub) < 0)
		return -1;
	r = gnutls_pubkey_import_x509(pub, crt, 0);
	if (r >= 0)
		r = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der);
	if (r >= 0)
		r = gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size,
		    out);
	gnutls_free(der.data);
	gnutls_pubkey_deinit(pub);
	return r < 0 ? -1 : 0;
}

static void
status_reason(unsigned status, const char *name, char *reason, size_t rlen)
{
	gnutls_datum_t txt;

	if (status & GNUTLS_CERT_REVOKED)
		snprintf(reason, rlen, "certificate revoked");
	else if (status & GNUTLS_CERT_EXPIRED)
		snprintf(reason, rlen, "certificate expired");
	else if (status & GNUTLS_CERT_NOT_ACTIVATED)
		snprintf(reason, rlen, "certificate not yet valid");
	else if (status & GNUTLS_CERT_SIGNER_NOT_FOUND)
		snprintf(reason, rlen, "certificate not issued by a trusted CA");
	else if (status & GNUTLS_CERT_UNEXPECTED_OWNER)
		snprintf(reason, rlen, "certificate does not match name \"%s\"",
		    name ? name : "");
	else if (gnutls_certificate_verification_status_print(status,
	    GNUTLS_CRT_X509, &txt, 0) == 0) {
		snprintf(reason, rlen, "certificate verify failed: %s",
		    txt.data);
		gnutls_free(txt.data);
	} else
		snprintf(reason, rlen, "certificate verify failed");
}

int
verify_peer(gnutls_session_t s, const struct tls_ctx *t, const char *name,
    char *identity, size_t idlen, char *reason, size_t rlen)
{
	const gnutls_datum_t *certs;
	unsigned ncerts = 0, status = 0;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t dn = { NULL, 0 };
	unsigned char digest[PIN_LEN];
	struct peer_names pn;
	char pool[CERTNAMES_POOL];
	size_t used = 0;
	int ok = 0, verify = t->conf->verify, cacheable;
	unsigned char key[VCACHE_KEY_LEN];

	snprintf(identity, idlen, "-");
	if (gnutls_auth_get_type(s) == GNUTLS_CRD_PSK) {
		/* The peer proved it holds the key of this identity (the
		 * server looked it up in psk_file; a client's server knew
		 * ours). */
		gnutls_datum_t user = { NULL, 0 };

		if (t->is_server &&
		    gnutls_psk_server_get_username2(s, &user) == 0)
			snprintf(identity, idlen, "psk:%.*s", (int)user.size,
			    user.data);
		else if (!t->is_server)
			snprintf(identity, idlen, "psk:%s",
			    t->conf->psk_identity ? t->conf->psk_identity :
			    t->psk[0].identity);
		for (char *p = identity; *p; p++)
			if (*p == '"' || (unsigned char)*p < ' ' ||
			    (unsigned char)*p > '~')
				*p = '?';
		return 1;
	}
	if (gnutls_certificate_type_get(s) != GNUTLS_CRT_X509 ||
	    (certs = gnutls_certificate_get_peers(s, &ncerts)) == NULL)
		ncerts = 0;
	if (ncerts == 0) {
		if (verify == VERIFY_NONE ||
		    (verify == VERIFY_OPTIONAL && t->npins == 0 &&
		    !identity_any_list(&t->allow)))
			return 1;
		snprintf(reason, rlen, "no certificate");
		return 0;
	}
	/* The same chain, accepted lately by this context: the same verdict
	 * (the handshake itself proved the peer holds its key, or resumed a
	 * ticket that only we can make). A stapled OCSP response is part of
	 * the verdict and is not cached: such peers are always verified. */
	{
		gnutls_datum_t staple;

		cacheable = gnutls_ocsp_status_request_get2(s, 0, &staple) !=
		    0 && vcache_key(certs, ncerts, name, key) == 0;
	}
	if (cacheable) {
		const char *id = vcache_lookup(t->vcache, key, now_ms(),
		    time(NULL));

		if (id != NULL) {
			snprintf(identity, idlen, "%s", id);
			log_debug("peer %s: certificate chain accepted earlier "
			    "by this configuration", identity);
			return 1;
		}
	}
	if (gnutls_x509_crt_init(&crt) < 0 ||
	    gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) < 0) {
		snprintf(reason, rlen, "unparsable certificate");
		goto out;
	}
	if (gnutls_x509_crt_get_dn3(crt, &dn, 0) == 0) {
		snprintf(identity, idlen, "%.*s", (int)dn.size, dn.data);
		for (char *p = identity; *p; p++)
			if (*p == '"' || (unsigned char)*p < ' ')
				*p = '?';
		gnutls_free(dn.data);
	}
	if (verify == VERIFY_NONE) {
		ok = 1;
		goto out;
	}
	if (!t->have_ca && t->npins == 0) {
		/* PSK-only trust: a certificate cannot be checked at all. */
		snprintf(reason, rlen, "no ca or pin_sha256 to verify a "
		    "certificate against");
		goto out;
	}
	if (t->have_ca) {
		int r = gnutls_certificate_verify_peers3(s, name, &status);

		if (r < 0) {
			snprintf(reason, rlen, "certificate verify failed: %s",
			    gnutls_strerror(r));
			goto out;
		}
		if (status != 0) {
			status_reason(status, name, reason, rlen);
			goto out;
		}
	}
	if (t->npins) {
		if (spki_sha256(crt, digest) == -1 ||
		    !identity_pin_match((const unsigned char (*)[PIN_LEN])t->pins,
		    t->npins, digest)) {
			snprintf(reason, rlen, "certificate key not in "
			    "pin_sha256");
			goto out;
		}
	}
	memset(&pn, 0, sizeof(pn));
	certnames_collect(crt, &pn, pool, sizeof(pool), &used);
	ok = identity_allowed(&t->allow, &pn, reason, rlen);
out:
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	if (ok && cacheable)
		vcache_store(t->vcache, key, certs, ncerts, identity,
		    now_ms());
	return ok;
}
