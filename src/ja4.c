/* ja4.c: JA4 = a_b_c where
 *   a = "t" + version + ("d" SNI | "i") + #ciphers + #extensions + ALPN chars
 *   b = sha256(sorted cipher hex list)[0:12]
 *   c = sha256(sorted extension hex list without SNI/ALPN "_" sigalgs)[0:12]
 * GREASE values are ignored everywhere; counts stop at 99; an empty list
 * hashes to "000000000000". */
#include "autoconfig.h"
#include "ja4.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ITEMS 512

struct reader {
	const unsigned char *p;
	size_t left;
};

static int
take(struct reader *r, size_t n, const unsigned char **out)
{
	if (r->left < n)
		return -1;
	*out = r->p;
	r->p += n;
	r->left -= n;
	return 0;
}

static int
u8(struct reader *r, unsigned *v)
{
	const unsigned char *p;

	if (take(r, 1, &p))
		return -1;
	*v = p[0];
	return 0;
}

static int
u16(struct reader *r, unsigned *v)
{
	const unsigned char *p;

	if (take(r, 2, &p))
		return -1;
	*v = (unsigned)p[0] << 8 | p[1];
	return 0;
}

/* A sub-reader over the next n bytes. */
static int
sub(struct reader *r, size_t n, struct reader *s)
{
	const unsigned char *p;

	if (take(r, n, &p))
		return -1;
	s->p = p;
	s->left = n;
	return 0;
}

static int
is_grease(unsigned v)
{
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

static int
cmp_u16(const void *a, const void *b)
{
	unsigned x = *(const uint16_t *)a, y = *(const uint16_t *)b;

	return x < y ? -1 : x > y;
}

static char
hexdigit(unsigned v)
{
	return "0123456789abcdef"[v & 0xf];
}

/* Append "xxxx,xxxx,..." for v[0..n) (by hand: this runs for every
 * ClientHello, and snprintf per item was a visible share of a resumed
 * handshake). */
static size_t
hex_list(char *out, size_t cap, const uint16_t *v, size_t n)
{
	size_t len = 0;

	for (size_t i = 0; i < n && len + 6 < cap; i++) {
		if (i)
			out[len++] = ',';
		for (int shift = 12; shift >= 0; shift -= 4)
			out[len++] = hexdigit(v[i] >> shift);
	}
	if (len < cap)
		out[len] = '\0';
	return len;
}

static void
hash12(const char *text, size_t len, char out[13])
{
	unsigned char d[32];

	if (len == 0 || gnutls_hash_fast(GNUTLS_DIG_SHA256, text, len, d) < 0) {
		memcpy(out, "000000000000", 13);
		return;
	}
	for (int i = 0; i < 6; i++) {
		out[2 * i] = hexdigit(d[i] >> 4);
		out[2 * i + 1] = hexdigit(d[i]);
	}
	out[12] = '\0';
}

static const char *
version_str(unsigned v)
{
	switch (v) {
	case 0x0304: return "13";
	case 0x0303: return "12";
	case 0x0302: return "11";
	case 0x0301: return "10";
	case 0x0300: return "s3";
	case 0x0002: return "s2";
	}
	return "00";
}

static int
alnum(unsigned c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	    (c >= 'a' && c <= 'z');
}

int
ja4_compute(const unsigned char *msg, size_t len, char out[JA4_LEN + 1])
{
	uint16_t ciphers[MAX_ITEMS], exts[MAX_ITEMS], sigs[MAX_ITEMS];
	size_t nc = 0, ne = 0, next = 0, ns = 0;
	struct reader r = { msg, len }, s, ex = { NULL, 0 };
	unsigned legacy, version = 0, v, n, first = '0', last = '0';
	const unsigned char *skip;
	int sni = 0;
	char text[MAX_ITEMS * 5 * 2 + 2], b[13], c[13];
	size_t tl;

	snprintf(out, JA4_LEN + 1, "-");
	/* A full handshake message starts with type 1 (a body starts with the
	 * legacy version, 0x03..). */
	if (len >= 4 && msg[0] == 1 &&
	    ((size_t)msg[1] << 16 | (size_t)msg[2] << 8 | msg[3]) == len - 4) {
		r.p += 4;
		r.left -= 4;
	}
	if (u16(&r, &legacy) || take(&r, 32, &skip) || u8(&r, &n) ||
	    take(&r, n, &skip) || u16(&r, &n) || n % 2 || sub(&r, n, &s))
		return -1;
	while (s.left) {
		if (u16(&s, &v))
			return -1;
		if (!is_grease(v) && nc < MAX_ITEMS)
			ciphers[nc++] = (uint16_t)v;
	}
	if (u8(&r, &n) || take(&r, n, &skip))
		return -1;
	/* Extensions are optional (before TLS 1.2 clients); nothing may
	 * follow them. */
	if (r.left > 0 && (u16(&r, &n) || sub(&r, n, &ex) || r.left != 0))
		return -1;
	while (ex.left) {
		unsigned type, elen;
		struct reader body;

		if (u16(&ex, &type) || u16(&ex, &elen) ||
		    sub(&ex, elen, &body))
			return -1;
		if (is_grease(type))
			continue;
		next++;
		if (type == 0x0000) {
			sni = 1;
		} else if (type == 0x0010) {
			struct reader list;
			unsigned plen;
			const unsigned char *proto;

			/* First protocol of the ALPN list. */
			if (u16(&body, &n) == 0 && sub(&body, n, &list) == 0 &&
			    u8(&list, &plen) == 0 && plen > 0 &&
			    take(&list, plen, &proto) == 0) {
				first = proto[0];
				last = proto[plen - 1];
			}
		} else if (ne < MAX_ITEMS) {
			exts[ne++] = (uint16_t)type;
		}
		if (type == 0x002b) {		/* supported_versions */
			struct reader list;

			if (u8(&body, &n) == 0 && sub(&body, n, &list) == 0)
				while (u16(&list, &v) == 0)
					if (!is_grease(v) && v > version)
						version = v;
		} else if (type == 0x000d) {	/* signature_algorithms */
			struct reader list;

			if (u16(&body, &n) == 0 && sub(&body, n, &list) == 0)
				while (u16(&list, &v) == 0)
					if (!is_grease(v) && ns < MAX_ITEMS)
						sigs[ns++] = (uint16_t)v;
		}
	}
	if (version == 0)
		version = legacy;
	if (!alnum(first) || !alnum(last)) {
		unsigned f = first, l = last;

		first = (unsigned char)hexdigit(f >> 4);
		last = (unsigned char)hexdigit(l & 0xf);
	}

	qsort(ciphers, nc, sizeof(ciphers[0]), cmp_u16);
	tl = hex_list(text, sizeof(text), ciphers, nc);
	hash12(text, tl, b);
	qsort(exts, ne, sizeof(exts[0]), cmp_u16);
	tl = hex_list(text, sizeof(text), exts, ne);
	if (ns > 0) {
		text[tl++] = '_';
		tl += hex_list(text + tl, sizeof(text) - tl, sigs, ns);
	}
	hash12(text, tl, c);
	snprintf(out, JA4_LEN + 1, "t%s%c%02zu%02zu%c%c_%s_%s",
	    version_str(version), sni ? 'd' : 'i', nc > 99 ? 99 : nc,
	    next > 99 ? 99 : next, first, last, b, c);
	return 0;
}
