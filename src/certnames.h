/* certnames.h: the names of a peer certificate (CNs, OUs, DNS and URI SANs)
 * collected for the allow-lists, apart from GnuTLS's verification so that it
 * can be fuzzed with arbitrary DER. */
#ifndef SHEATH_CERTNAMES_H
#define SHEATH_CERTNAMES_H

#include <gnutls/x509.h>
#include <stddef.h>

#include "identity.h"

/* Room for the names of one certificate; names that do not fit are left
 * out (an allow-list then cannot match them). */
#define CERTNAMES_POOL 8192

/** certnames_collect(crt, pn, pool, poolsize, used): fill pn with pointers
 * into pool (poolsize bytes, *used of them taken). Values with an embedded
 * NUL are skipped. */
void certnames_collect(gnutls_x509_crt_t crt, struct peer_names *pn,
    char *pool, size_t poolsize, size_t *used);

/** certnames_count_cn(crt): how many CN values the subject holds (also
 * those certnames_collect skips), at most 64. */
size_t certnames_count_cn(gnutls_x509_crt_t crt);

#endif
