/* verdict.c: the reasons table of verdict.h. */
#include "autoconfig.h"
#include "verdict.h"

#include <gnutls/gnutls.h>

static const struct verdict_info table[V_COUNT] = {
	[V_OK] = { "accepted", -1, "none", 0 },
	[V_NO_CERT] = { "no certificate", GNUTLS_A_CERTIFICATE_REQUIRED,
	    "no_certificate", 0 },
	[V_VERSION] = { "protocol version mismatch",
	    GNUTLS_A_PROTOCOL_VERSION, "protocol_version", 1 },
	[V_EXPIRED] = { "certificate expired", GNUTLS_A_CERTIFICATE_EXPIRED,
	    "expired", 0 },
	[V_UNKNOWN_CA] = { "unknown CA", GNUTLS_A_UNKNOWN_CA, "untrusted", 0 },
	[V_REVOKED] = { "certificate revoked", GNUTLS_A_CERTIFICATE_REVOKED,
	    "revoked", 0 },
	[V_BAD_CERT] = { "bad certificate", GNUTLS_A_BAD_CERTIFICATE,
	    "bad_certificate", 0 },
	[V_KEY_USAGE] = { "wrong key usage", GNUTLS_A_BAD_CERTIFICATE,
	    "key_usage", 0 },
	[V_NAME] = { "name mismatch", GNUTLS_A_BAD_CERTIFICATE,
	    "name_mismatch", 0 },
	[V_NOT_ALLOWED] = { "not in the allow-lists", GNUTLS_A_ACCESS_DENIED,
	    "allow_list", 0 },
	[V_PIN] = { "pin mismatch", GNUTLS_A_ACCESS_DENIED, "pin", 0 },
	[V_PSK_IDENTITY] = { "unknown PSK identity", GNUTLS_A_ACCESS_DENIED,
	    "psk_identity", 0 },
	[V_SEVERAL_CNS] = { "several CNs", GNUTLS_A_BAD_CERTIFICATE,
	    "several_cns", 0 },
	[V_ALPN] = { "no common application protocol",
	    GNUTLS_A_NO_APPLICATION_PROTOCOL, "alpn", 1 },
	[V_RENEGOTIATION] = { "renegotiation", GNUTLS_A_NO_RENEGOTIATION,
	    "renegotiation", 0 },
	[V_HANDSHAKE] = { "handshake failed", GNUTLS_A_HANDSHAKE_FAILURE,
	    "handshake", 1 },
	[V_PROXY_HEADER] = { "invalid PROXY protocol header", -1,
	    "proxy_header", 0 },
	[V_PROXY_SOURCE] = { "PROXY header from untrusted source", -1,
	    "proxy_source", 0 },
};

const struct verdict_info *
verdict_info(enum verdict v)
{
	return (unsigned)v < V_COUNT && v != V_OK ? &table[v] :
	    &table[V_HANDSHAKE];
}

int
verdict_alert(enum verdict v, int tls13)
{
	if (v == V_NO_CERT && !tls13)
		return GNUTLS_A_HANDSHAKE_FAILURE;
	return verdict_info(v)->alert;
}

const char *
verdict_label(int i)
{
	return i > V_OK && i < V_COUNT ? table[i].label : "other";
}
