/* certnames.c: see certnames.h. */
#include "autoconfig.h"
#include "certnames.h"

#include <string.h>

/* Copy the value of a certificate field into the pool; skip values with an
 * embedded NUL (a classic way to fool name checks). */
static const char *
pool_add(char *pool, size_t poolsize, size_t *used, const char *v,
    size_t len)
{
	char *dst;

	if (memchr(v, '\0', len) != NULL || *used + len + 1 > poolsize)
		return NULL;
	dst = pool + *used;
	memcpy(dst, v, len);
	dst[len] = '\0';
	*used += len + 1;
	return dst;
}

static void
collect_dn(gnutls_x509_crt_t crt, const char *oid, const char **out,
    size_t *n, char *pool, size_t poolsize, size_t *used)
{
	for (unsigned i = 0; *n < PEER_NAMES_MAX; i++) {
		char buf[1024];
		size_t len = sizeof(buf);

		if (gnutls_x509_crt_get_dn_by_oid(crt, oid, i, 0, buf,
		    &len) < 0)
			break;
		if ((out[*n] = pool_add(pool, poolsize, used, buf,
		    len)) != NULL)
			(*n)++;
	}
}

void
certnames_collect(gnutls_x509_crt_t crt, struct peer_names *pn, char *pool,
    size_t poolsize, size_t *used)
{
	collect_dn(crt, GNUTLS_OID_X520_COMMON_NAME, pn->cn, &pn->ncn, pool,
	    poolsize, used);
	collect_dn(crt, GNUTLS_OID_X520_ORGANIZATIONAL_UNIT_NAME, pn->ou,
	    &pn->nou, pool, poolsize, used);
	for (unsigned i = 0; i < 256; i++) {
		char buf[1024];
		size_t len = sizeof(buf);
		int type = gnutls_x509_crt_get_subject_alt_name(crt, i, buf,
		    &len, NULL);

		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (type == GNUTLS_SAN_DNSNAME && pn->ndns < PEER_NAMES_MAX) {
			if ((pn->dns[pn->ndns] = pool_add(pool, poolsize,
			    used, buf, len)) != NULL)
				pn->ndns++;
		} else if (type == GNUTLS_SAN_URI &&
		    pn->nuri < PEER_NAMES_MAX) {
			if ((pn->uri[pn->nuri] = pool_add(pool, poolsize,
			    used, buf, len)) != NULL)
				pn->nuri++;
		}
	}
}


size_t
certnames_count_cn(gnutls_x509_crt_t crt)
{
	size_t n = 0;

	for (unsigned i = 0; i < 64; i++) {
		size_t len = 0;
		int r = gnutls_x509_crt_get_dn_by_oid(crt,
		    GNUTLS_OID_X520_COMMON_NAME, i, 0, NULL, &len);

		if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		n++;
	}
	return n;
}
