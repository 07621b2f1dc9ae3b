/* proxy.h: the PROXY protocol (HAProxy's spec), v1 text and v2 binary:
 * strict parsing of a received header and building of one to send. Pure
 * functions: no I/O, every length checked. */
#ifndef SHEATH_PROXY_H
#define SHEATH_PROXY_H

#include <stddef.h>
#include <sys/socket.h>

#define PROXY_MAX_HEADER 1024	/* we read no bigger header (v2 may TLV) */

struct proxy_addrs {
	int local;		/* no addresses: LOCAL, UNKNOWN, or unix */
	struct sockaddr_storage src, dst;
	socklen_t srclen, dstlen;
};

/* TLS facts for the v2 TLVs; NULL strings are left out. */
struct proxy_tls {
	const char *alpn, *authority;
	int ssl;		/* the client connected over TLS */
	int cert_conn;		/* it presented a certificate */
	int cert_sess;		/* ... in this (resumed) session */
	int verified;		/* and it verified */
	const char *version, *cipher, *sig_alg, *key_alg, *cn;
	const char *ja4;
};

#define PP2_TYPE_ALPN 0x01
#define PP2_TYPE_AUTHORITY 0x02
#define PP2_TYPE_CRC32C 0x03
#define PP2_TYPE_SSL 0x20
#define PP2_SUBTYPE_SSL_VERSION 0x21
#define PP2_SUBTYPE_SSL_CN 0x22
#define PP2_SUBTYPE_SSL_CIPHER 0x23
#define PP2_SUBTYPE_SSL_SIG_ALG 0x24
#define PP2_SUBTYPE_SSL_KEY_ALG 0x25
#define PP2_TYPE_SHEATH_JA4 0xE4

/** proxy_header_len(buf, len): the length of the header that starts buf:
 * > 0 once known, 0 when more bytes are needed (every byte so far belongs
 * to the header), -1 when buf cannot start a valid header. */
int proxy_header_len(const unsigned char *buf, size_t len);

/** proxy_parse(buf, len, out): parse one complete header of exactly len
 * bytes (from proxy_header_len). 0, or -1 if invalid. */
int proxy_parse(const unsigned char *buf, size_t len, struct proxy_addrs *out);

/** proxy_build_v1(out, cap, a): "PROXY TCP4 ...\r\n" (or UNKNOWN); the
 * length, or 0 if cap is too small. */
size_t proxy_build_v1(char *out, size_t cap, const struct proxy_addrs *a);

/** proxy_build_v2(out, cap, a, tls): binary header with TLVs (tls may be
 * NULL); the length, or 0 if cap is too small. */
size_t proxy_build_v2(unsigned char *out, size_t cap,
    const struct proxy_addrs *a, const struct proxy_tls *tls);

#endif
