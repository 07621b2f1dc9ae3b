/* verify.h: the one place that decides whether a TLS peer is accepted. */
#ifndef SHEATH_VERIFY_H
#define SHEATH_VERIFY_H

#include <gnutls/gnutls.h>
#include <stddef.h>

#include "tls.h"
#include "verdict.h"

/** verify_peer(s, t, name, identity, idlen, reason, rlen): after a finished
 * handshake, full or resumed, check chain, CRL, name (client side: name is
 * the verify_name, else NULL), key usage, allow-lists and pins, or a PSK
 * identity against the psk_file loaded now. Returns V_OK when the peer is
 * accepted, else the verdict with the reason in plain words (with the
 * certificate's subject and issuer). identity receives the peer's subject
 * DN, "psk:NAME", or "-". */
enum verdict verify_peer(gnutls_session_t s, const struct tls_ctx *t, const char *name,
    char *identity, size_t idlen, char *reason, size_t rlen);

#endif
