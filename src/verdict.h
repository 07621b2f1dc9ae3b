/* verdict.h: why a peer was turned away. One table gives each reason its
 * words for the log, the TLS alert the peer is told and the label of the
 * rejection metric, so the three can never disagree. */
#ifndef SHEATH_VERDICT_H
#define SHEATH_VERDICT_H

#include <stddef.h>

enum verdict {
	V_OK,
	V_NO_CERT,		/* no certificate where one is required */
	V_VERSION,		/* no common TLS version */
	V_EXPIRED,		/* expired or not yet valid */
	V_UNKNOWN_CA,		/* chain to no trusted CA */
	V_REVOKED,
	V_BAD_CERT,		/* bad signature, unparsable, other status */
	V_KEY_USAGE,		/* EKU without serverAuth / clientAuth */
	V_NAME,			/* verify_name not in the certificate */
	V_NOT_ALLOWED,		/* allow_cn / allow_dns / allow_uri / allow_ou */
	V_PIN,			/* key not in pin_sha256 */
	V_PSK_IDENTITY,		/* PSK identity not in the current psk_file */
	V_SEVERAL_CNS,		/* several CNs with allow_cn set */
	V_ALPN,			/* no common application protocol */
	V_RENEGOTIATION,	/* a renegotiation attempt */
	V_HANDSHAKE,		/* any other handshake failure */
	V_PROXY_HEADER,		/* accept_proxy: no valid PROXY header */
	V_PROXY_SOURCE,		/* accept_proxy_from: source not allowed */
	V_COUNT
};

struct verdict_info {
	const char *words;	/* the log's reason, as a person says it */
	int alert;		/* gnutls_alert_description_t, -1: none */
	const char *label;	/* reason="" of the rejection metric */
	int handshake;		/* counts as a failed TLS handshake */
};

/** verdict_info(v): the table row of v (V_OK and out-of-range values get
 * the row of V_HANDSHAKE). */
const struct verdict_info *verdict_info(enum verdict v);

/** verdict_alert(v, tls13): the alert that tells the peer about v; a
 * missing certificate is certificate_required in TLS 1.3 and
 * handshake_failure before. -1 when no alert applies. */
int verdict_alert(enum verdict v, int tls13);

/** verdict_label(i): the metric label of verdict i, for rendering. */
const char *verdict_label(int i);

#endif
