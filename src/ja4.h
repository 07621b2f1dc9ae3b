/* ja4.h: the JA4 fingerprint of a TLS ClientHello (FoxIO JA4 definition),
 * computed from the raw message captured during the handshake. */
#ifndef SHEATH_JA4_H
#define SHEATH_JA4_H

#include <stddef.h>

#define JA4_LEN 36	/* "t13d1516h2_8daaf6152771_d8a2da3f94cd" */

/** ja4_compute(msg, len, out): fingerprint of a ClientHello body (with or
 * without its 4-byte handshake header). Returns 0, or -1 if the message is
 * malformed (out is then "-"). Pure: no I/O, bounds-checked throughout. */
int ja4_compute(const unsigned char *msg, size_t len, char out[JA4_LEN + 1]);

#endif
