/* verify.h: the one place that decides whether a TLS peer is accepted. */
#ifndef SHEATH_VERIFY_H
#define SHEATH_VERIFY_H

#include <gnutls/gnutls.h>
#include <stddef.h>

#include "tls.h"

/** verify_peer(s, t, name, identity, idlen, reason, rlen): after a finished
 * handshake, check chain, CRL, name (client side: name is the verify_name,
 * else NULL), allow-lists and pins. Returns 1 when the peer is accepted, 0
 * with a reason otherwise. identity receives the peer's subject DN, or "-". */
int verify_peer(gnutls_session_t s, const struct tls_ctx *t, const char *name,
    char *identity, size_t idlen, char *reason, size_t rlen);

#endif
