/* vcache.h: the peer certificate chains a TLS context has accepted lately,
 * so that the same peer presenting the same bytes again (a new connection,
 * or a resumed session) is not verified from scratch: chain verification
 * costs as much CPU as the rest of a resumed handshake.
 *
 * Only acceptances are kept, keyed by SHA-256 over the exact DER bytes of
 * the chain and the name checked. A context is rebuilt on every reload (its
 * CA, CRL, pins and allow-lists with it), so its cache never outlives the
 * configuration that decided. An entry is used only inside the validity of
 * every certificate of the chain and for at most VCACHE_TTL_MS. */
#ifndef SHEATH_VCACHE_H
#define SHEATH_VCACHE_H

#include <gnutls/gnutls.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define VCACHE_SLOTS 64
#define VCACHE_TTL_MS 60000
#define VCACHE_KEY_LEN 32
#define VCACHE_ID_LEN 256

struct vcache;

/** vcache_new() / vcache_free(c) */
struct vcache *vcache_new(void);
void vcache_free(struct vcache *c);

/** vcache_key(certs, n, name, key): the cache key of a chain as the peer
 * sent it, with the name it was checked against (NULL for none). Returns
 * 0, or -1 when hashing failed. */
int vcache_key(const gnutls_datum_t *certs, unsigned n, const char *name,
    unsigned char key[VCACHE_KEY_LEN]);

/** vcache_lookup(c, key, now_ms, now): the identity stored with an
 * accepted chain, or NULL when there is no usable entry. */
const char *vcache_lookup(struct vcache *c,
    const unsigned char key[VCACHE_KEY_LEN], int64_t now_ms, time_t now);

/** vcache_store(c, key, certs, n, identity, now_ms): remember an accepted
 * chain; its validity window is read from the certificates. */
void vcache_store(struct vcache *c, const unsigned char key[VCACHE_KEY_LEN],
    const gnutls_datum_t *certs, unsigned n, const char *identity,
    int64_t now_ms);

#endif
