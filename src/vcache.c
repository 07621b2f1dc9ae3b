/* vcache.c: accepted peer chains, per TLS context (see vcache.h). */
#include "autoconfig.h"
#include "vcache.h"
#include "util.h"

#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vcache_entry {
	unsigned char key[VCACHE_KEY_LEN];
	int64_t expires_ms;		/* 0: empty */
	time_t not_before, not_after;	/* the whole chain is valid */
	char identity[VCACHE_ID_LEN];
};

struct vcache {
	struct vcache_entry e[VCACHE_SLOTS];
};

struct vcache *
vcache_new(void)
{
	return xcalloc(1, sizeof(struct vcache));
}

void
vcache_free(struct vcache *c)
{
	free(c);
}

int
vcache_key(const gnutls_datum_t *certs, unsigned n, const char *name,
    unsigned char key[VCACHE_KEY_LEN])
{
	gnutls_hash_hd_t h;
	unsigned char len[4];

	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		/* Length-prefixed, so no two chains hash the same input. */
		len[0] = (unsigned char)(certs[i].size >> 24);
		len[1] = (unsigned char)(certs[i].size >> 16);
		len[2] = (unsigned char)(certs[i].size >> 8);
		len[3] = (unsigned char)certs[i].size;
		gnutls_hash(h, len, sizeof(len));
		gnutls_hash(h, certs[i].data, certs[i].size);
	}
	len[0] = len[1] = len[2] = len[3] = 0xff;	/* end of the chain */
	gnutls_hash(h, len, sizeof(len));
	if (name != NULL)
		gnutls_hash(h, name, strlen(name) + 1);
	gnutls_hash_deinit(h, key);
	return 0;
}

static struct vcache_entry *
slot(struct vcache *c, const unsigned char key[VCACHE_KEY_LEN])
{
	/* The key is a SHA-256: any two of its bytes index evenly. */
	return &c->e[((unsigned)key[0] << 8 | key[1]) % VCACHE_SLOTS];
}

const char *
vcache_lookup(struct vcache *c, const unsigned char key[VCACHE_KEY_LEN],
    int64_t now_ms, time_t now)
{
	struct vcache_entry *e;

	if (c == NULL)
		return NULL;
	e = slot(c, key);
	if (e->expires_ms == 0 || memcmp(e->key, key, VCACHE_KEY_LEN) != 0)
		return NULL;
	if (now_ms >= e->expires_ms || now < e->not_before ||
	    now >= e->not_after) {
		e->expires_ms = 0;
		return NULL;
	}
	return e->identity;
}

void
vcache_store(struct vcache *c, const unsigned char key[VCACHE_KEY_LEN],
    const gnutls_datum_t *certs, unsigned n, const char *identity,
    int64_t now_ms)
{
	struct vcache_entry *e;
	time_t nb = 0, na = 0;

	if (c == NULL || n == 0)
		return;
	for (unsigned i = 0; i < n; i++) {
		gnutls_x509_crt_t crt;
		time_t b, a;

		if (gnutls_x509_crt_init(&crt) < 0)
			return;
		if (gnutls_x509_crt_import(crt, &certs[i],
		    GNUTLS_X509_FMT_DER) < 0) {
			gnutls_x509_crt_deinit(crt);
			return;
		}
		b = gnutls_x509_crt_get_activation_time(crt);
		a = gnutls_x509_crt_get_expiration_time(crt);
		gnutls_x509_crt_deinit(crt);
		if (b == (time_t)-1 || a == (time_t)-1)
			return;
		if (i == 0 || b > nb)
			nb = b;
		if (i == 0 || a < na)
			na = a;
	}
	e = slot(c, key);
	memcpy(e->key, key, VCACHE_KEY_LEN);
	e->not_before = nb;
	e->not_after = na;
	snprintf(e->identity, sizeof(e->identity), "%s", identity);
	e->expires_ms = now_ms + VCACHE_TTL_MS;
}
