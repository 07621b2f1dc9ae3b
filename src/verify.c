/* verify.c: chain + CRL + name + key usage via GnuTLS, then pins and
 * allow-lists via identity.c. One entry point, one typed verdict, one
 * reason in plain words. */
#include "autoconfig.h"
#include "verify.h"
#include "log.h"
#include "util.h"
#include "vcache.h"
#include "certnames.h"
#include "verdict.h"

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/ocsp.h>
#include <gnutls/x509.h>
#include <stdint.h>
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

/* A certificate field as the log may show it: no quotes, no control
 * characters. */
static void
printable_dn(char *p)
{
	for (; *p; p++)
		if (*p == '"' || (unsigned char)*p < ' ' ||
		    (unsigned char)*p == 0x7f)
			*p = '?';
}

static void
dn_text(gnutls_x509_crt_t crt, int issuer, char *out, size_t len)
{
	gnutls_datum_t dn = { NULL, 0 };
	int r = issuer ? gnutls_x509_crt_get_issuer_dn3(crt, &dn, 0) :
	    gnutls_x509_crt_get_dn3(crt, &dn, 0);

	if (r == 0)
		snprintf(out, len, "%.*s", (int)dn.size, dn.data);
	else
		snprintf(out, len, "-");
	gnutls_free(dn.data);
	printable_dn(out);
}

/* Reject with v: the reason is `words` (the verdict's own when NULL) and,
 * for a certificate, its subject and issuer. */
static enum verdict
reject_as(enum verdict v, const char *words, gnutls_x509_crt_t crt,
    char *reason, size_t rlen)
{
	size_t off = (size_t)snprintf(reason, rlen, "%s", words ? words :
	    verdict_info(v)->words);
	char subject[256], issuer[256];

	if (crt != NULL && off < rlen) {
		dn_text(crt, 0, subject, sizeof(subject));
		dn_text(crt, 1, issuer, sizeof(issuer));
		snprintf(reason + off, rlen - off, ": subject \"%s\" issuer "
		    "\"%s\"", subject, issuer);
	}
	return v;
}

/* GnuTLS's verification status as a verdict, the most telling first. */
static enum verdict
status_verdict(unsigned status, const char *name, char *words, size_t len)
{
	gnutls_datum_t txt;

	words[0] = '\0';
	if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA))
		return V_UNKNOWN_CA;
	if (status & GNUTLS_CERT_REVOKED)
		return V_REVOKED;
	if (status & GNUTLS_CERT_NOT_ACTIVATED) {
		snprintf(words, len, "certificate not yet valid");
		return V_EXPIRED;
	}
	if (status & GNUTLS_CERT_EXPIRED)
		return V_EXPIRED;
	if (status & GNUTLS_CERT_PURPOSE_MISMATCH)
		return V_KEY_USAGE;
	if (status & GNUTLS_CERT_UNEXPECTED_OWNER) {
		snprintf(words, len, "name mismatch (expected \"%s\")",
		    name ? name : "");
		return V_NAME;
	}
	if (gnutls_certificate_verification_status_print(status,
	    GNUTLS_CRT_X509, &txt, 0) == 0) {
		snprintf(words, len, "bad certificate (%s)", txt.data);
		gnutls_free(txt.data);
	}
	return V_BAD_CERT;
}

/* Extended Key Usage, where GnuTLS's chain verification did not check it
 * (a pin without a CA): none at all, or the wanted purpose (or any). */
static int
key_purpose_ok(gnutls_x509_crt_t crt, const char *want)
{
	for (unsigned i = 0; i < 64; i++) {
		char oid[128];
		size_t len = sizeof(oid);
		int r = gnutls_x509_crt_get_key_purpose_oid(crt, i, oid, &len,
		    NULL);

		if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			return i == 0;
		if (r == 0 && (strcmp(oid, want) == 0 ||
		    strcmp(oid, GNUTLS_KP_ANY) == 0))
			return 1;
	}
	return 0;
}

/* A PSK peer: on the accept side its identity (from the handshake, or
 * from the ticket it resumed) must be in the psk_file loaded now; a side
 * without one takes no PSK session at all. A connect side only ever
 * offers its own identity. */
static enum verdict
verify_psk(gnutls_session_t s, const struct tls_ctx *t, char *identity,
    size_t idlen, char *reason, size_t rlen)
{
	gnutls_datum_t user = { NULL, 0 };

	if (!t->is_server) {
		if (t->psk_client == NULL)
			return reject_as(V_PSK_IDENTITY, NULL, NULL, reason,
			    rlen);
		snprintf(identity, idlen, "psk:%s", t->conf->psk_identity ?
		    t->conf->psk_identity : t->psk[0].identity);
		return V_OK;
	}
	if (gnutls_psk_server_get_username2(s, &user) < 0)
		return reject_as(V_PSK_IDENTITY, NULL, NULL, reason, rlen);
	snprintf(identity, idlen, "psk:%.*s", (int)user.size, user.data);
	printable_dn(identity);
	if (tls_psk_find(t, user.data, user.size) == NULL)
		return reject_as(V_PSK_IDENTITY, NULL, NULL, reason, rlen);
	return V_OK;
}

/* The chain (with CRL, name and key usage) against the CA, then the pins. */
static enum verdict
verify_chain(gnutls_session_t s, const struct tls_ctx *t, const char *name,
    gnutls_x509_crt_t crt, char *reason, size_t rlen)
{
	const char *purpose = t->is_server ? GNUTLS_KP_TLS_WWW_CLIENT :
	    GNUTLS_KP_TLS_WWW_SERVER;
	unsigned char digest[PIN_LEN];
	char words[300];

	if (t->have_ca) {
		gnutls_typed_vdata_st data[2] = {
			{ GNUTLS_DT_KEY_PURPOSE_OID,
			  (unsigned char *)(uintptr_t)purpose, 0 },
			{ GNUTLS_DT_DNS_HOSTNAME,
			  (unsigned char *)(uintptr_t)name, 0 },
		};
		unsigned status = 0;
		int r = gnutls_certificate_verify_peers(s, data, name ? 2 : 1,
		    &status);

		if (r < 0) {
			snprintf(words, sizeof(words), "bad certificate (%s)",
			    gnutls_strerror(r));
			return reject_as(V_BAD_CERT, words, crt, reason, rlen);
		}
		if (status != 0) {
			enum verdict v = status_verdict(status, name, words,
			    sizeof(words));

			return reject_as(v, words[0] ? words : NULL, crt,
			    reason, rlen);
		}
	} else if (!key_purpose_ok(crt, purpose)) {
		return reject_as(V_KEY_USAGE, NULL, crt, reason, rlen);
	}
	if (t->npins && (spki_sha256(crt, digest) == -1 ||
	    !identity_pin_match((const unsigned char (*)[PIN_LEN])t->pins,
	    t->npins, digest)))
		return reject_as(V_PIN, NULL, crt, reason, rlen);
	return V_OK;
}

/* The allow-lists, on the names of the certificate. With allow_cn, one CN
 * only: it is the CN that PROXY v2 forwards, so it must be the one
 * checked. */
static enum verdict
verify_names(const struct tls_ctx *t, gnutls_x509_crt_t crt, char *reason,
    size_t rlen)
{
	struct peer_names pn;
	char pool[CERTNAMES_POOL], words[128];
	size_t used = 0;

	if (!identity_any_list(&t->allow))
		return V_OK;
	memset(&pn, 0, sizeof(pn));
	certnames_collect(crt, &pn, pool, sizeof(pool), &used);
	if (t->allow.cn->n && certnames_count_cn(crt) > 1)
		return reject_as(V_SEVERAL_CNS, NULL, crt, reason, rlen);
	if (!identity_allowed(&t->allow, &pn, words, sizeof(words)))
		return reject_as(V_NOT_ALLOWED, words, crt, reason, rlen);
	return V_OK;
}

/* A peer without a certificate passes only where none is asked for. */
static enum verdict
verify_no_cert(const struct tls_ctx *t, char *reason, size_t rlen)
{
	int verify = t->conf->verify;

	if (verify == VERIFY_NONE || (verify == VERIFY_OPTIONAL &&
	    t->npins == 0 && !identity_any_list(&t->allow)))
		return V_OK;
	return reject_as(V_NO_CERT, NULL, NULL, reason, rlen);
}

/* A certificate peer: a chain this context accepted lately gets the same
 * verdict (the handshake proved the peer holds its key, or resumed a
 * ticket only this service can make); otherwise every check runs. A
 * stapled OCSP response is part of the verdict and is never cached. */
static enum verdict
verify_cert(gnutls_session_t s, const struct tls_ctx *t, const char *name,
    const gnutls_datum_t *certs, unsigned ncerts, char *identity,
    size_t idlen, char *reason, size_t rlen)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t staple;
	unsigned char key[VCACHE_KEY_LEN];
	enum verdict v;
	int cacheable = gnutls_ocsp_status_request_get2(s, 0, &staple) != 0 &&
	    vcache_key(certs, ncerts, name, key) == 0;

	if (cacheable) {
		const char *id = vcache_lookup(t->vcache, key, now_ms(),
		    time(NULL));

		if (id != NULL) {
			snprintf(identity, idlen, "%s", id);
			log_debug("peer %s: certificate chain accepted earlier "
			    "by this configuration", identity);
			return V_OK;
		}
	}
	if (gnutls_x509_crt_init(&crt) < 0 ||
	    gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) < 0) {
		if (crt != NULL)
			gnutls_x509_crt_deinit(crt);
		return reject_as(V_BAD_CERT, "unparsable certificate", NULL,
		    reason, rlen);
	}
	dn_text(crt, 0, identity, idlen);
	if (t->conf->verify == VERIFY_NONE)
		v = V_OK;
	else if (!t->have_ca && t->npins == 0)
		/* PSK-only trust: a certificate cannot be checked at all. */
		v = reject_as(V_UNKNOWN_CA, "unknown CA (no ca or pin_sha256 "
		    "to verify a certificate against)", crt, reason, rlen);
	else if ((v = verify_chain(s, t, name, crt, reason, rlen)) == V_OK)
		v = verify_names(t, crt, reason, rlen);
	gnutls_x509_crt_deinit(crt);
	if (v == V_OK && cacheable)
		vcache_store(t->vcache, key, certs, ncerts, identity,
		    now_ms());
	return v;
}

enum verdict
verify_peer(gnutls_session_t s, const struct tls_ctx *t, const char *name,
    char *identity, size_t idlen, char *reason, size_t rlen)
{
	const gnutls_datum_t *certs = NULL;
	unsigned ncerts = 0;

	snprintf(identity, idlen, "-");
	if (gnutls_auth_get_type(s) == GNUTLS_CRD_PSK)
		return verify_psk(s, t, identity, idlen, reason, rlen);
	if (gnutls_certificate_type_get(s) == GNUTLS_CRT_X509)
		certs = gnutls_certificate_get_peers(s, &ncerts);
	if (certs == NULL || ncerts == 0)
		return verify_no_cert(t, reason, rlen);
	return verify_cert(s, t, name, certs, ncerts, identity, idlen, reason,
	    rlen);
}
