/* fuzz_proxy_v2.c: proxy_build_v2() with TLS TLVs, from fuzzed addresses,
 * TLS facts and buffer size. Input layout:
 *
 *   byte 0   bits 0-1 source kind, 2-3 destination kind (0 IPv4, 1 IPv6,
 *            2 v4-mapped IPv6, 3 AF_UNIX); bit 4 local; bit 5 no TLS facts
 *            (tls = NULL); bit 6 ssl; bit 7 verified
 *   byte 1   bit 0 cert_conn, bit 1 cert_sess
 *   bytes 2-3  the output buffer's size (big-endian, modulo 2400)
 *   bytes 4-39 source address (16), destination address (16), ports (2+2)
 *   the rest   alpn, authority, version, cipher, cn, sig_alg, key_alg, ja4:
 *            NUL-separated; fields past the end of the input are NULL
 *
 * Oracle: a second encoder written from HAProxy's spec and proxy.h's
 * promises (v4-mapped addresses written as IPv4, mixed families as IPv6,
 * unusable ones as UNSPEC; empty or NULL strings left out, longer ones cut
 * to 255 bytes; the SSL TLV's length covers its sub-TLVs). The builder
 * must return 0 exactly when the header does not fit, never write past the
 * buffer (malloc'd to its size), and otherwise produce the reference bytes.
 * A header sheath can read back (at most PROXY_MAX_HEADER bytes) must give
 * proxy_header_len() == its length, 0 for every prefix too short to know,
 * and proxy_parse() the same addresses. */
#include "autoconfig.h"
#include "proxy.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REF_MAX 4096

static const unsigned char sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
	0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

static void
fail(const char *what, size_t n)
{
	fprintf(stderr, "fuzz_proxy_v2: %s (%zu)\n", what, n);
	abort();
}

static void
set(struct sockaddr_storage *ss, socklen_t *len, int kind,
    const uint8_t *a, unsigned port)
{
	memset(ss, 0, sizeof(*ss));
	if (kind == 0) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a, 4);
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
	} else if (kind == 1 || kind == 2) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, a, 16);
		if (kind == 2) {
			memset(&s6->sin6_addr, 0, 10);
			s6->sin6_addr.s6_addr[10] = 0xff;
			s6->sin6_addr.s6_addr[11] = 0xff;
		}
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
	} else {
		struct sockaddr_un *su = (struct sockaddr_un *)ss;

		su->sun_family = AF_UNIX;
		memcpy(su->sun_path, "/x", 3);
		*len = sizeof(*su);
	}
}

/* Reference encoding of one address: 16 bytes (an IPv4 one in the first
 * 4), its port, and 4 or 6; 0 for other families. */
static int
ref_addr(const struct sockaddr_storage *ss, unsigned char out[16],
    unsigned *port)
{
	memset(out, 0, 16);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		memcpy(out, &s4->sin_addr, 4);
		*port = ntohs(s4->sin_port);
		return 4;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		*port = ntohs(s6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			memcpy(out, &s6->sin6_addr.s6_addr[12], 4);
			return 4;
		}
		memcpy(out, &s6->sin6_addr, 16);
		return 6;
	}
	return 0;
}

static void
to_mapped(unsigned char a[16])
{
	memmove(a + 12, a, 4);
	memset(a, 0, 10);
	a[10] = a[11] = 0xff;
}

struct rb {
	unsigned char b[REF_MAX];
	size_t n;
};

static void
put(struct rb *r, const void *p, size_t n)
{
	if (r->n + n > sizeof(r->b))
		fail("reference buffer too small", r->n + n);
	memcpy(r->b + r->n, p, n);
	r->n += n;
}

static void
put8(struct rb *r, unsigned v)
{
	unsigned char c = (unsigned char)v;

	put(r, &c, 1);
}

static void
put16(struct rb *r, unsigned v)
{
	put8(r, v >> 8 & 0xff);
	put8(r, v & 0xff);
}

static void
ref_tlv(struct rb *r, unsigned type, const char *v)
{
	size_t len;

	if (v == NULL || *v == '\0')
		return;
	len = strlen(v) > 255 ? 255 : strlen(v);
	put8(r, type);
	put16(r, (unsigned)len);
	put(r, v, len);
}

/* The reference header; its family byte in *fam. */
static void
reference(const struct proxy_addrs *a, const struct proxy_tls *t,
    struct rb *r, int *fam)
{
	unsigned char s[16], d[16];
	unsigned sp = 0, dp = 0;
	int fs = 0, fd = 0;

	r->n = 0;
	if (!a->local) {
		fs = ref_addr(&a->src, s, &sp);
		fd = ref_addr(&a->dst, d, &dp);
	}
	if (fs == 0 || fd == 0)
		*fam = 0;
	else if (fs == fd)
		*fam = fs;
	else {
		if (fs == 4)
			to_mapped(s);
		if (fd == 4)
			to_mapped(d);
		*fam = 6;
	}
	put(r, sig, sizeof(sig));
	put8(r, 0x21);
	put8(r, *fam == 4 ? 0x11 : *fam == 6 ? 0x21 : 0x00);
	put16(r, 0);
	if (*fam != 0) {
		put(r, s, *fam == 4 ? 4 : 16);
		put(r, d, *fam == 4 ? 4 : 16);
		put16(r, sp);
		put16(r, dp);
	}
	if (t != NULL) {
		ref_tlv(r, PP2_TYPE_ALPN, t->alpn);
		ref_tlv(r, PP2_TYPE_AUTHORITY, t->authority);
		if (t->ssl) {
			size_t at;

			put8(r, PP2_TYPE_SSL);
			at = r->n;
			put16(r, 0);
			put8(r, 0x01 | (t->cert_conn ? 0x02 : 0) |
			    (t->cert_sess ? 0x04 : 0));
			put16(r, 0);
			put16(r, t->verified ? 0 : 1);
			ref_tlv(r, PP2_SUBTYPE_SSL_VERSION, t->version);
			ref_tlv(r, PP2_SUBTYPE_SSL_CN, t->cn);
			ref_tlv(r, PP2_SUBTYPE_SSL_CIPHER, t->cipher);
			ref_tlv(r, PP2_SUBTYPE_SSL_SIG_ALG, t->sig_alg);
			ref_tlv(r, PP2_SUBTYPE_SSL_KEY_ALG, t->key_alg);
			r->b[at] = (unsigned char)((r->n - at - 2) >> 8);
			r->b[at + 1] = (unsigned char)(r->n - at - 2);
		}
		ref_tlv(r, PP2_TYPE_SHEATH_JA4, t->ja4);
	}
	r->b[14] = (unsigned char)((r->n - 16) >> 8);
	r->b[15] = (unsigned char)(r->n - 16);
}

static int
same_addr(const struct sockaddr_storage *x, const unsigned char *a, int fam,
    unsigned port)
{
	if (fam == 4) {
		const struct sockaddr_in *s4 = (const void *)x;

		return x->ss_family == AF_INET &&
		    memcmp(&s4->sin_addr, a, 4) == 0 &&
		    ntohs(s4->sin_port) == port;
	} else {
		const struct sockaddr_in6 *s6 = (const void *)x;

		return x->ss_family == AF_INET6 &&
		    memcmp(&s6->sin6_addr, a, 16) == 0 &&
		    ntohs(s6->sin6_port) == port;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rb ref;
	uint8_t head[40] = { 0 };
	const char *field[8] = { NULL };
	struct proxy_addrs a, back;
	struct proxy_tls t;
	char *strings = NULL;
	unsigned char *out;
	size_t cap, n, rest;
	int fam;

	if (size > 8192)
		return 0;
	memcpy(head, data, size < sizeof(head) ? size : sizeof(head));
	memset(&a, 0, sizeof(a));
	a.local = head[0] >> 4 & 1;
	set(&a.src, &a.srclen, head[0] & 3, head + 4, head[36] << 8 | head[37]);
	set(&a.dst, &a.dstlen, head[0] >> 2 & 3, head + 20,
	    head[38] << 8 | head[39]);
	memset(&t, 0, sizeof(t));
	t.ssl = head[0] >> 6 & 1;
	t.verified = head[0] >> 7 & 1;
	t.cert_conn = head[1] & 1;
	t.cert_sess = head[1] >> 1 & 1;
	if (size > sizeof(head)) {
		/* NUL-terminated copy: the last field ends at the input's. */
		rest = size - sizeof(head);
		if ((strings = malloc(rest + 1)) == NULL)
			abort();
		memcpy(strings, data + sizeof(head), rest);
		strings[rest] = '\0';
		for (size_t i = 0, off = 0; i < 8 && off <= rest; i++) {
			field[i] = strings + off;
			off += strlen(strings + off) + 1;
		}
	}
	t.alpn = field[0];
	t.authority = field[1];
	t.version = field[2];
	t.cipher = field[3];
	t.cn = field[4];
	t.sig_alg = field[5];
	t.key_alg = field[6];
	t.ja4 = field[7];

	cap = (size_t)(head[2] << 8 | head[3]) % 2400;
	reference(&a, head[0] & 0x20 ? NULL : &t, &ref, &fam);
	if ((out = malloc(cap ? cap : 1)) == NULL)
		abort();
	n = proxy_build_v2(out, cap, &a, head[0] & 0x20 ? NULL : &t);
	if (ref.n > cap) {
		if (n != 0)
			fail("a header that does not fit was not refused", n);
		goto done;
	}
	if (n != ref.n)
		fail("length differs from the reference", n);
	if (memcmp(out, ref.b, n) != 0)
		fail("bytes differ from the reference", n);
	if (n > PROXY_MAX_HEADER) {
		/* Sheath's own accept_proxy would refuse it. */
		if (proxy_header_len(out, n) != -1)
			fail("an oversized header was not refused", n);
		goto done;
	}
	for (size_t k = 1; k < n; k++)
		if (proxy_header_len(out, k) != (k < 16 ? 0 : (int)n))
			fail("proxy_header_len of a prefix", k);
	if (proxy_header_len(out, n) != (int)n)
		fail("proxy_header_len", n);
	if (proxy_parse(out, n, &back) != 0)
		fail("proxy_parse refused the built header", n);
	if (back.local != (fam == 0))
		fail("local differs", (size_t)back.local);
	if (fam != 0 && (!same_addr(&back.src, ref.b + 16, fam,
	    (unsigned)(ref.b[fam == 4 ? 24 : 48] << 8 |
	    ref.b[fam == 4 ? 25 : 49])) ||
	    !same_addr(&back.dst, ref.b + (fam == 4 ? 20 : 32), fam,
	    (unsigned)(ref.b[fam == 4 ? 26 : 50] << 8 |
	    ref.b[fam == 4 ? 27 : 51]))))
		fail("addresses differ after the round trip", n);
done:
	free(out);
	free(strings);
	return 0;
}
