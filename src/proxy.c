/* proxy.c: PROXY protocol v1/v2 parsing and building. */
#include "autoconfig.h"
#include "proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const unsigned char v2sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
	0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

#define V1_MAX 107	/* the spec's longest line, CRLF included */

int
proxy_header_len(const unsigned char *buf, size_t len)
{
	size_t n = len < sizeof(v2sig) ? len : sizeof(v2sig);

	if (memcmp(buf, v2sig, n) == 0) {
		size_t total;

		if (len < 16)
			return 0;
		total = 16 + ((size_t)buf[14] << 8 | buf[15]);
		return total > PROXY_MAX_HEADER ? -1 : (int)total;
	}
	n = len < 6 ? len : 6;
	if (memcmp(buf, "PROXY ", n) != 0)
		return -1;
	for (size_t i = 0; i + 1 < len && i + 1 < V1_MAX; i++)
		if (buf[i] == '\r' && buf[i + 1] == '\n')
			return (int)i + 2;
	return len >= V1_MAX ? -1 : 0;
}

/* One decimal port, no sign, no leading zero (but "0" itself). */
static int
parse_port(const char *s, size_t len, unsigned *port)
{
	unsigned v = 0;

	if (len == 0 || len > 5 || (len > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = v;
	return 0;
}

static int
set_addr(struct sockaddr_storage *ss, socklen_t *len, int family,
    const void *addr, unsigned port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, addr, 4);
		s4->sin_port = htons((unsigned short)port);
		*len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, addr, 16);
		s6->sin6_port = htons((unsigned short)port);
		*len = sizeof(*s6);
	}
	return 0;
}

static int
parse_v1(const unsigned char *buf, size_t len, struct proxy_addrs *out)
{
	char line[V1_MAX + 1], *f[6], *save = NULL;
	int nf = 0, family;
	unsigned char a[16], b[16];
	unsigned sp, dp;

	if (len < 8 || len > V1_MAX || buf[len - 2] != '\r' ||
	    buf[len - 1] != '\n')
		return -1;
	memcpy(line, buf, len - 2);
	line[len - 2] = '\0';
	if (strlen(line) != len - 2 || strstr(line, "  ") ||
	    line[len - 3] == ' ')
		return -1;	/* NULs, double or trailing spaces */
	if (strncmp(line, "PROXY UNKNOWN", 13) == 0 &&
	    (line[13] == '\0' || line[13] == ' ')) {
		out->local = 1;
		return 0;	/* the rest of the line is to be ignored */
	}
	for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ",
	    &save)) {
		if (nf == 6)
			return -1;
		f[nf++] = t;
	}
	if (nf != 6 || strcmp(f[0], "PROXY") != 0)
		return -1;
	if (strcmp(f[1], "TCP4") == 0)
		family = AF_INET;
	else if (strcmp(f[1], "TCP6") == 0)
		family = AF_INET6;
	else
		return -1;
	if (inet_pton(family, f[2], a) != 1 || inet_pton(family, f[3], b) != 1 ||
	    parse_port(f[4], strlen(f[4]), &sp) || parse_port(f[5],
	    strlen(f[5]), &dp))
		return -1;
	set_addr(&out->src, &out->srclen, family, a, sp);
	set_addr(&out->dst, &out->dstlen, family, b, dp);
	return 0;
}

/* CRC-32C (Castagnoli), bitwise: headers are small and rare. */
static uint32_t
crc32c(const unsigned char *p, size_t n, size_t zero_from)
{
	uint32_t crc = 0xffffffff;

	for (size_t i = 0; i < n; i++) {
		/* The checksum field itself counts as zeroes. */
		crc ^= i >= zero_from && i < zero_from + 4 ? 0 : p[i];
		for (int k = 0; k < 8; k++)
			crc = crc >> 1 ^ (0x82f63b78 & (0 - (crc & 1)));
	}
	return ~crc;
}

static int
parse_v2(const unsigned char *buf, size_t len, struct proxy_addrs *out)
{
	size_t body = (size_t)buf[14] << 8 | buf[15], need, off;
	unsigned cmd = buf[12] & 0x0f, fam = buf[13];

	if ((buf[12] & 0xf0) != 0x20 || cmd > 1 || 16 + body != len)
		return -1;
	switch (fam) {
	case 0x00: need = 0; break;		/* UNSPEC */
	case 0x11: need = 12; break;		/* TCP over IPv4 */
	case 0x21: need = 36; break;		/* TCP over IPv6 */
	case 0x31: need = 216; break;		/* stream over unix */
	default: return -1;			/* UDP is not ours */
	}
	if (body < need)
		return -1;
	/* TLVs after the addresses must be well formed; their content is
	 * ignored. */
	for (off = 16 + need; off < len;) {
		size_t tl;

		if (len - off < 3)
			return -1;
		tl = (size_t)buf[off + 1] << 8 | buf[off + 2];
		if (len - off - 3 < tl)
			return -1;
		if (buf[off] == PP2_TYPE_CRC32C) {
			uint32_t want;

			if (tl != 4)
				return -1;
			want = (uint32_t)buf[off + 3] << 24 |
			    (uint32_t)buf[off + 4] << 16 |
			    (uint32_t)buf[off + 5] << 8 | buf[off + 6];
			if (crc32c(buf, len, off + 3) != want)
				return -1;
		}
		off += 3 + tl;
	}
	if (cmd == 0 || fam == 0x00 || fam == 0x31) {
		out->local = 1;		/* LOCAL, or nothing we can use */
		return 0;
	}
	if (fam == 0x11) {
		set_addr(&out->src, &out->srclen, AF_INET, buf + 16,
		    (unsigned)buf[24] << 8 | buf[25]);
		set_addr(&out->dst, &out->dstlen, AF_INET, buf + 20,
		    (unsigned)buf[26] << 8 | buf[27]);
	} else {
		set_addr(&out->src, &out->srclen, AF_INET6, buf + 16,
		    (unsigned)buf[48] << 8 | buf[49]);
		set_addr(&out->dst, &out->dstlen, AF_INET6, buf + 32,
		    (unsigned)buf[50] << 8 | buf[51]);
	}
	return 0;
}

int
proxy_parse(const unsigned char *buf, size_t len, struct proxy_addrs *out)
{
	memset(out, 0, sizeof(*out));
	if (proxy_header_len(buf, len) != (int)len)
		return -1;
	if (len >= 16 && memcmp(buf, v2sig, sizeof(v2sig)) == 0)
		return parse_v2(buf, len, out);
	return parse_v1(buf, len, out);
}

/* Both addresses as one family (a v4-mapped v6 address counts as v4), or
 * 0 when they cannot be expressed. */
static int
addr_family(const struct proxy_addrs *a, unsigned char src[16],
    unsigned char dst[16], unsigned *sp, unsigned *dp)
{
	const struct sockaddr_storage *ss[2] = { &a->src, &a->dst };
	unsigned char *out[2] = { src, dst };
	unsigned *port[2] = { sp, dp };
	int fam[2];

	if (a->local)
		return 0;
	for (int i = 0; i < 2; i++) {
		if (ss[i]->ss_family == AF_INET) {
			const struct sockaddr_in *s4 =
			    (const struct sockaddr_in *)ss[i];

			memcpy(out[i], &s4->sin_addr, 4);
			*port[i] = ntohs(s4->sin_port);
			fam[i] = AF_INET;
		} else if (ss[i]->ss_family == AF_INET6) {
			const struct sockaddr_in6 *s6 =
			    (const struct sockaddr_in6 *)ss[i];

			if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
				memcpy(out[i], &s6->sin6_addr.s6_addr[12], 4);
				fam[i] = AF_INET;
			} else {
				memcpy(out[i], &s6->sin6_addr, 16);
				fam[i] = AF_INET6;
			}
			*port[i] = ntohs(s6->sin6_port);
		} else {
			return 0;
		}
	}
	if (fam[0] == fam[1])
		return fam[0];
	/* Mixed: express the v4 one as v4-mapped v6. */
	for (int i = 0; i < 2; i++)
		if (fam[i] == AF_INET) {
			memmove(out[i] + 12, out[i], 4);
			memset(out[i], 0, 10);
			out[i][10] = out[i][11] = 0xff;
		}
	return AF_INET6;
}

size_t
proxy_build_v1(char *out, size_t cap, const struct proxy_addrs *a)
{
	unsigned char s[16], d[16];
	char st[INET6_ADDRSTRLEN], dt[INET6_ADDRSTRLEN];
	unsigned sp, dp;
	int fam = addr_family(a, s, d, &sp, &dp), n;

	if (fam == 0)
		n = snprintf(out, cap, "PROXY UNKNOWN\r\n");
	else
		n = snprintf(out, cap, "PROXY %s %s %s %u %u\r\n",
		    fam == AF_INET ? "TCP4" : "TCP6",
		    inet_ntop(fam, s, st, sizeof(st)),
		    inet_ntop(fam, d, dt, sizeof(dt)), sp, dp);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

struct wbuf {
	unsigned char *p;
	size_t n, cap;
	int overflow;
};

static void
w8(struct wbuf *w, unsigned v)
{
	if (w->n < w->cap)
		w->p[w->n++] = (unsigned char)v;
	else
		w->overflow = 1;
}

static void
w16(struct wbuf *w, unsigned v)
{
	w8(w, v >> 8 & 0xff);
	w8(w, v & 0xff);
}

static void
wbytes(struct wbuf *w, const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		w8(w, ((const unsigned char *)p)[i]);
}

static void
tlv(struct wbuf *w, unsigned type, const char *value)
{
	size_t len;

	if (value == NULL || *value == '\0')
		return;
	len = strlen(value);
	if (len > 255)
		len = 255;	/* keep headers small; these are names */
	w8(w, type);
	w16(w, (unsigned)len);
	wbytes(w, value, len);
}

size_t
proxy_build_v2(unsigned char *out, size_t cap, const struct proxy_addrs *a,
    const struct proxy_tls *t)
{
	struct wbuf w = { out, 0, cap, 0 };
	unsigned char s[16], d[16];
	unsigned sp, dp;
	int fam = addr_family(a, s, d, &sp, &dp);
	size_t ssl_off;

	wbytes(&w, v2sig, sizeof(v2sig));
	w8(&w, 0x21);				/* version 2, PROXY */
	w8(&w, fam == AF_INET ? 0x11 : fam == AF_INET6 ? 0x21 : 0x00);
	w16(&w, 0);				/* length, patched below */
	if (fam == AF_INET) {
		wbytes(&w, s, 4);
		wbytes(&w, d, 4);
		w16(&w, sp);
		w16(&w, dp);
	} else if (fam == AF_INET6) {
		wbytes(&w, s, 16);
		wbytes(&w, d, 16);
		w16(&w, sp);
		w16(&w, dp);
	}
	if (t != NULL) {
		tlv(&w, PP2_TYPE_ALPN, t->alpn);
		tlv(&w, PP2_TYPE_AUTHORITY, t->authority);
		if (t->ssl) {
			w8(&w, PP2_TYPE_SSL);
			ssl_off = w.n;
			w16(&w, 0);
			w8(&w, 0x01 | (t->cert_conn ? 0x02 : 0) |
			    (t->cert_sess ? 0x04 : 0));
			/* verify: 0 means a certificate was presented and
			 * verified. */
			w16(&w, 0);
			w16(&w, t->verified ? 0 : 1);
			tlv(&w, PP2_SUBTYPE_SSL_VERSION, t->version);
			tlv(&w, PP2_SUBTYPE_SSL_CN, t->cn);
			tlv(&w, PP2_SUBTYPE_SSL_CIPHER, t->cipher);
			tlv(&w, PP2_SUBTYPE_SSL_SIG_ALG, t->sig_alg);
			tlv(&w, PP2_SUBTYPE_SSL_KEY_ALG, t->key_alg);
			if (!w.overflow) {
				size_t l = w.n - ssl_off - 2;

				out[ssl_off] = (unsigned char)(l >> 8);
				out[ssl_off + 1] = (unsigned char)l;
			}
		}
		tlv(&w, PP2_TYPE_SHEATH_JA4, t->ja4);
	}
	if (w.overflow || w.n - 16 > 0xffff)
		return 0;
	out[14] = (unsigned char)((w.n - 16) >> 8);
	out[15] = (unsigned char)(w.n - 16);
	return w.n;
}
