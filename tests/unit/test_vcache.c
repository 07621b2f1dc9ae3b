/* test_vcache.c: the verification cache only ever answers for the exact
 * chain and name it was given, inside the chain's validity and its TTL. */
#include "autoconfig.h"
#include "vcache.h"
#include "unit.h"

#include <gnutls/abstract.h>
#include <gnutls/x509.h>
#include <stdlib.h>

/* A self-signed certificate valid over [nb, na), as DER. */
static gnutls_datum_t
make_cert(time_t nb, time_t na, unsigned char serial)
{
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt;
	gnutls_datum_t der = { NULL, 0 };

	if (gnutls_x509_privkey_init(&key) < 0 ||
	    gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0 ||
	    gnutls_x509_crt_init(&crt) < 0)
		abort();
	gnutls_x509_crt_set_version(crt, 3);
	gnutls_x509_crt_set_serial(crt, &serial, 1);
	gnutls_x509_crt_set_activation_time(crt, nb);
	gnutls_x509_crt_set_expiration_time(crt, na);
	gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
	    "unit", 4);
	gnutls_x509_crt_set_key(crt, key);
	if (gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) < 0 ||
	    gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der) < 0)
		abort();
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	return der;
}

int
main(void)
{
	time_t now = 2000000000;	/* 2033 */
	int64_t ms = 5000;
	gnutls_datum_t chain[2], other[1];
	unsigned char k[VCACHE_KEY_LEN], k_name[VCACHE_KEY_LEN],
	    k_one[VCACHE_KEY_LEN], k_other[VCACHE_KEY_LEN];
	struct vcache *c = vcache_new();

	/* leaf valid [now-100, now+100), "issuer" valid [now-1000, now+50) */
	chain[0] = make_cert(now - 100, now + 100, 1);
	chain[1] = make_cert(now - 1000, now + 50, 2);
	other[0] = make_cert(now - 100, now + 100, 3);

	CHECK(vcache_key(chain, 2, NULL, k) == 0);
	CHECK(vcache_key(chain, 2, "host.example", k_name) == 0);
	CHECK(vcache_key(chain, 1, NULL, k_one) == 0);
	CHECK(vcache_key(other, 1, NULL, k_other) == 0);
	CHECK(memcmp(k, k_name, VCACHE_KEY_LEN) != 0);
	CHECK(memcmp(k, k_one, VCACHE_KEY_LEN) != 0);
	CHECK(memcmp(k_one, k_other, VCACHE_KEY_LEN) != 0);

	/* Nothing before a store; after it, that key only. */
	CHECK(vcache_lookup(c, k, ms, now) == NULL);
	vcache_store(c, k, chain, 2, "CN=unit", ms);
	CHECK_STR(vcache_lookup(c, k, ms, now), "CN=unit");
	CHECK(vcache_lookup(c, k_name, ms, now) == NULL);
	CHECK(vcache_lookup(c, k_one, ms, now) == NULL);
	CHECK(vcache_lookup(c, k_other, ms, now) == NULL);

	/* The window is the intersection of the chain's validity. */
	CHECK_STR(vcache_lookup(c, k, ms, now + 49), "CN=unit");
	CHECK(vcache_lookup(c, k, ms, now + 50) == NULL);
	/* ... and a miss evicts: even "now" misses from then on. */
	CHECK(vcache_lookup(c, k, ms, now) == NULL);
	vcache_store(c, k, chain, 2, "CN=unit", ms);
	CHECK(vcache_lookup(c, k, ms, now - 101) == NULL);
	vcache_store(c, k, chain, 2, "CN=unit", ms);

	/* At most VCACHE_TTL_MS after the store. */
	CHECK_STR(vcache_lookup(c, k, ms + VCACHE_TTL_MS - 1, now), "CN=unit");
	CHECK(vcache_lookup(c, k, ms + VCACHE_TTL_MS, now) == NULL);

	/* An unparsable certificate is never stored. */
	{
		gnutls_datum_t junk = { (unsigned char *)"junk", 4 };
		unsigned char kj[VCACHE_KEY_LEN];

		CHECK(vcache_key(&junk, 1, NULL, kj) == 0);
		vcache_store(c, kj, &junk, 1, "CN=junk", ms);
		CHECK(vcache_lookup(c, kj, ms, now) == NULL);
	}
	/* A NULL cache answers nothing and stores nothing. */
	CHECK(vcache_lookup(NULL, k, ms, now) == NULL);
	vcache_store(NULL, k, chain, 2, "CN=unit", ms);

	vcache_free(c);
	gnutls_free(chain[0].data);
	gnutls_free(chain[1].data);
	gnutls_free(other[0].data);
	return unit_done("test_vcache");
}
