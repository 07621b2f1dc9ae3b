/* fuzz_certnames.c: the names of a peer certificate (certnames_collect)
 * from arbitrary DER. The input is imported with gnutls_x509_crt_import;
 * whatever GnuTLS accepts goes to certnames_collect, once with the
 * daemon's pool size and once with a pool of the size the input's last
 * byte picks (names that do not fit must be left out, never overflow it).
 *
 * Invariants: every count <= PEER_NAMES_MAX; used <= poolsize; every name
 * lies inside the pool's used part, is NUL-terminated there and has no
 * embedded NUL (strlen ends at the terminator pool_add wrote); names do
 * not overlap; the pool is malloc'd to its exact size so ASan sees any
 * write past it; a second collection into the same pool appends. */
#include "autoconfig.h"
#include "certnames.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *what, size_t i)
{
	fprintf(stderr, "fuzz_certnames: %s (name %zu)\n", what, i);
	abort();
}

/* Check one list of names; *end collects the highest byte used. */
static void
check_list(const char *const *names, size_t n, const char *pool,
    size_t from, size_t used, unsigned char *owner)
{
	if (n > PEER_NAMES_MAX)
		fail("more names than PEER_NAMES_MAX", n);
	for (size_t i = 0; i < n; i++) {
		const char *p = names[i];
		size_t off, len;

		if (p == NULL || p < pool + from || p >= pool + used)
			fail("name outside the used pool", i);
		off = (size_t)(p - pool);
		/* memchr, not strlen: a missing terminator must be
		 * reported, not read past. */
		if (memchr(p, '\0', used - off) == NULL)
			fail("name not NUL-terminated in the pool", i);
		len = strlen(p);
		for (size_t k = off; k <= off + len; k++) {
			if (owner[k])
				fail("names overlap", i);
			owner[k] = 1;
		}
	}
}

static void
collect(gnutls_x509_crt_t crt, size_t poolsize)
{
	struct peer_names pn, again;
	char *pool = malloc(poolsize ? poolsize : 1);
	unsigned char *owner = calloc(1, poolsize + 1);
	size_t used = 0, used2;

	if (pool == NULL || owner == NULL)
		abort();
	memset(&pn, 0, sizeof(pn));
	certnames_collect(crt, &pn, pool, poolsize, &used);
	if (used > poolsize)
		fail("used > poolsize", used);
	check_list(pn.cn, pn.ncn, pool, 0, used, owner);
	check_list(pn.ou, pn.nou, pool, 0, used, owner);
	check_list(pn.dns, pn.ndns, pool, 0, used, owner);
	check_list(pn.uri, pn.nuri, pool, 0, used, owner);

	/* The same certificate again, appended: the earlier names stay
	 * untouched and the new ones come after them. */
	memset(&again, 0, sizeof(again));
	used2 = used;
	certnames_collect(crt, &again, pool, poolsize, &used2);
	if (used2 < used || used2 > poolsize)
		fail("appending moved used backwards or past the pool", used2);
	memset(owner, 0, poolsize + 1);
	check_list(again.cn, again.ncn, pool, used, used2, owner);
	check_list(again.ou, again.nou, pool, used, used2, owner);
	check_list(again.dns, again.ndns, pool, used, used2, owner);
	check_list(again.uri, again.nuri, pool, used, used2, owner);
	for (size_t i = 0; i < pn.ncn; i++)
		if (memchr(pn.cn[i], '\0', used - (size_t)(pn.cn[i] - pool))
		    == NULL)
			fail("an earlier name was overwritten", i);
	free(owner);
	free(pool);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	gnutls_x509_crt_t crt;
	gnutls_datum_t d = { (unsigned char *)(uintptr_t)data,
	    (unsigned)size };

	if (size == 0 || size > 65536)
		return 0;
	if (gnutls_x509_crt_init(&crt) < 0)
		abort();
	if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) == 0) {
		collect(crt, CERTNAMES_POOL);
		/* A small pool: 0..255 bytes, from the last byte. */
		collect(crt, data[size - 1]);
	}
	gnutls_x509_crt_deinit(crt);
	return 0;
}
