/* identity.h: pure allow-list and pin matching, separate from GnuTLS so it
 * can be unit-tested and fuzzed. */
#ifndef SHEATH_IDENTITY_H
#define SHEATH_IDENTITY_H

#include <stddef.h>

#include "util.h"

#define PIN_LEN 32
#define PEER_NAMES_MAX 32

/* Names found in a peer certificate. */
struct peer_names {
	const char *cn[PEER_NAMES_MAX];
	size_t ncn;
	const char *ou[PEER_NAMES_MAX];
	size_t nou;
	const char *dns[PEER_NAMES_MAX];
	size_t ndns;
	const char *uri[PEER_NAMES_MAX];
	size_t nuri;
};

struct allow_lists {
	const struct strlist *cn, *dns, *uri, *ou;
};

/** identity_any_list(al): whether any allow-list is configured. */
int identity_any_list(const struct allow_lists *al);

/** identity_allowed(al, pn, reason, len): 1 when no allow-list is set or the
 * peer matches at least one entry of any list (CN and OU exact, DNS
 * case-insensitive, URI exact); else 0 and a reason such as
 * "not in allow_cn/allow_dns". */
int identity_allowed(const struct allow_lists *al, const struct peer_names *pn,
    char *reason, size_t len);

/** identity_pin_match(pins, npins, digest): whether digest (SHA-256 of the
 * peer's SubjectPublicKeyInfo) is one of the pins. Constant time per pin. */
int identity_pin_match(const unsigned char (*pins)[PIN_LEN], size_t npins,
    const unsigned char digest[PIN_LEN]);

#endif
