/* test_proxy.c: PROXY protocol v1/v2, strict parsing and building. */
#include "autoconfig.h"
#include "proxy.h"
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static int
parse_str(const char *s, struct proxy_addrs *a)
{
	size_t len = strlen(s);

	if (proxy_header_len((const unsigned char *)s, len) != (int)len)
		return -1;
	return proxy_parse((const unsigned char *)s, len, a);
}

static const char *
src_text(const struct proxy_addrs *a, char *buf, size_t len)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->src;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->src;
	char ip[64];

	if (a->src.ss_family == AF_INET)
		snprintf(buf, len, "%s:%u", inet_ntop(AF_INET, &s4->sin_addr,
		    ip, sizeof(ip)), ntohs(s4->sin_port));
	else
		snprintf(buf, len, "[%s]:%u", inet_ntop(AF_INET6,
		    &s6->sin6_addr, ip, sizeof(ip)), ntohs(s6->sin6_port));
	return buf;
}

/* Find TLV type t in a v2 header (top level, or inside PP2_TYPE_SSL). */
static const unsigned char *
find_tlv(const unsigned char *h, size_t len, size_t start, unsigned t,
    size_t *vlen)
{
	for (size_t off = start; off + 3 <= len;) {
		size_t l = (size_t)h[off + 1] << 8 | h[off + 2];

		if (h[off] == t) {
			*vlen = l;
			return h + off + 3;
		}
		if (h[off] == PP2_TYPE_SSL && t >= 0x21 && t <= 0x25) {
			const unsigned char *v = find_tlv(h, off + 3 + l,
			    off + 3 + 5, t, vlen);

			if (v)
				return v;
		}
		off += 3 + l;
	}
	return NULL;
}

int
main(void)
{
	struct proxy_addrs a, b;
	char txt[128];
	unsigned char v2[2048];
	size_t n, vlen;
	const unsigned char *v;

	/* v1 */
	CHECK(parse_str("PROXY TCP4 192.0.2.1 198.51.100.2 5555 443\r\n",
	    &a) == 0);
	CHECK(!a.local);
	CHECK_STR(src_text(&a, txt, sizeof(txt)), "192.0.2.1:5555");
	CHECK(parse_str("PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n", &a) == 0);
	CHECK_STR(src_text(&a, txt, sizeof(txt)), "[2001:db8::1]:1");
	CHECK(parse_str("PROXY UNKNOWN\r\n", &a) == 0 && a.local);
	CHECK(parse_str("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", &a) == 0);
	CHECK(parse_str("PROXY TCP4 192.0.2.1 198.51.100.2 5555 443\n",
	    &a) == -1);
	CHECK(parse_str("PROXY TCP4 192.0.2.1 198.51.100.2 5555 65536\r\n",
	    &a) == -1);
	CHECK(parse_str("PROXY TCP4 192.0.2.1 198.51.100.2 05555 443\r\n",
	    &a) == -1);
	CHECK(parse_str("PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n",
	    &a) == -1);
	CHECK(parse_str("PROXY TCP4 192.0.2.1  198.51.100.2 1 2\r\n", &a) == -1);
	CHECK(parse_str("PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n", &a) == -1);
	CHECK(parse_str("PROXY TCP4 192.0.2.1 198.51.100.2 1 2 3\r\n",
	    &a) == -1);
	CHECK(parse_str("PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n", &a) == -1);
	CHECK(parse_str("GET / HTTP/1.0\r\n", &a) == -1);

	/* Length discovery: need more while every byte is header. */
	CHECK(proxy_header_len((const unsigned char *)"PRO", 3) == 0);
	CHECK(proxy_header_len((const unsigned char *)"PROXY TCP4 1", 12) == 0);
	CHECK(proxy_header_len((const unsigned char *)"\x16\x03\x01", 3) == -1);
	CHECK(proxy_header_len((const unsigned char *)"PROXY UNKNOWN\r\n"
	    "\x16\x03", 17) == 15);
	{
		char longline[200];

		memset(longline, 'x', sizeof(longline));
		memcpy(longline, "PROXY ", 6);
		CHECK(proxy_header_len((unsigned char *)longline, 107) == -1);
		CHECK(proxy_header_len((unsigned char *)longline, 106) == 0);
	}

	/* v2 built, then parsed back. */
	memset(&a, 0, sizeof(a));
	CHECK(parse_str("PROXY TCP4 192.0.2.1 198.51.100.2 5555 443\r\n",
	    &a) == 0);
	{
		struct proxy_tls t = { .alpn = "h2", .authority = "db.example",
			.ssl = 1, .cert_conn = 1, .verified = 1,
			.version = "TLSv1.3", .cipher = "TLS_AES_256_GCM_SHA384",
			.sig_alg = "ECDSA-SHA256", .key_alg = "EC256",
			.cn = "client1",
			.ja4 = "t13d1516h2_8daaf6152771_d8a2da3f94cd" };

		n = proxy_build_v2(v2, sizeof(v2), &a, &t);
		CHECK(n > 28);
		CHECK(proxy_header_len(v2, n) == (int)n);
		CHECK(proxy_header_len(v2, 10) == 0);
		CHECK(proxy_parse(v2, n, &b) == 0);
		CHECK_STR(src_text(&b, txt, sizeof(txt)), "192.0.2.1:5555");
		CHECK(v2[12] == 0x21 && v2[13] == 0x11);
		v = find_tlv(v2, n, 28, PP2_TYPE_ALPN, &vlen);
		CHECK(v && vlen == 2 && memcmp(v, "h2", 2) == 0);
		v = find_tlv(v2, n, 28, PP2_TYPE_AUTHORITY, &vlen);
		CHECK(v && vlen == 10 && memcmp(v, "db.example", 10) == 0);
		v = find_tlv(v2, n, 28, PP2_TYPE_SSL, &vlen);
		CHECK(v && v[0] == 0x03 && v[1] == 0 && v[4] == 0);
		v = find_tlv(v2, n, 28, PP2_SUBTYPE_SSL_VERSION, &vlen);
		CHECK(v && vlen == 7 && memcmp(v, "TLSv1.3", 7) == 0);
		v = find_tlv(v2, n, 28, PP2_SUBTYPE_SSL_CN, &vlen);
		CHECK(v && vlen == 7 && memcmp(v, "client1", 7) == 0);
		v = find_tlv(v2, n, 28, PP2_SUBTYPE_SSL_KEY_ALG, &vlen);
		CHECK(v && vlen == 5 && memcmp(v, "EC256", 5) == 0);
		v = find_tlv(v2, n, 28, PP2_TYPE_SHEATH_JA4, &vlen);
		CHECK(v && vlen == 36 && memcmp(v, t.ja4, 36) == 0);
		/* Too small a buffer builds nothing. */
		CHECK(proxy_build_v2(v2, 40, &a, &t) == 0);
	}
	/* v2 IPv6 and LOCAL */
	CHECK(parse_str("PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n", &a) == 0);
	n = proxy_build_v2(v2, sizeof(v2), &a, NULL);
	CHECK(n == 16 + 36 && v2[13] == 0x21);
	CHECK(proxy_parse(v2, n, &b) == 0);
	CHECK_STR(src_text(&b, txt, sizeof(txt)), "[2001:db8::1]:1");
	memset(&a, 0, sizeof(a));
	a.local = 1;
	n = proxy_build_v2(v2, sizeof(v2), &a, NULL);
	CHECK(n == 16 && proxy_parse(v2, n, &b) == 0 && b.local);
	CHECK(proxy_build_v1(txt, sizeof(txt), &a) == 15);
	CHECK_STR(txt, "PROXY UNKNOWN\r\n");

	/* v2 malformed: bad version, UDP, short address block, bad TLV. */
	CHECK(parse_str("PROXY TCP4 192.0.2.1 198.51.100.2 5555 443\r\n",
	    &a) == 0);
	n = proxy_build_v2(v2, sizeof(v2), &a, NULL);
	v2[12] = 0x11;
	CHECK(proxy_parse(v2, n, &b) == -1);
	v2[12] = 0x21;
	v2[13] = 0x12;
	CHECK(proxy_parse(v2, n, &b) == -1);
	v2[13] = 0x21;		/* says v6: 36 bytes, has 12 */
	CHECK(proxy_parse(v2, n, &b) == -1);
	v2[13] = 0x11;
	v2[n] = 0x01;		/* a TLV that claims more than there is */
	v2[n + 1] = 0;
	v2[n + 2] = 9;
	v2[15] += 3;
	CHECK(proxy_parse(v2, n + 3, &b) == -1);
	/* Oversized v2 is refused outright. */
	v2[14] = 0xff;
	CHECK(proxy_header_len(v2, 16) == -1);

	/* A CRC32C TLV (made by an independent implementation) is checked. */
	{
		unsigned char crc[] = { 0x0d,0x0a,0x0d,0x0a,0x00,0x0d,0x0a,0x51,0x55,0x49,0x54,0x0a,0x21,0x11,0x00,0x13,0x01,0x02,0x03,0x04,0x06,0x07,0x08,0x09,0x00,0x05,0x00,0x0a,0x03,0x00,0x04,0xd8,0x56,0xe5,0xd4 };

		CHECK(proxy_parse(crc, sizeof(crc), &b) == 0);
		crc[sizeof(crc) - 1] ^= 1;
		CHECK(proxy_parse(crc, sizeof(crc), &b) == -1);
	}

	/* v1 built for v4 and for mixed families. */
	CHECK(parse_str("PROXY TCP4 192.0.2.1 198.51.100.2 5555 443\r\n",
	    &a) == 0);
	CHECK(proxy_build_v1(txt, sizeof(txt), &a) > 0);
	CHECK_STR(txt, "PROXY TCP4 192.0.2.1 198.51.100.2 5555 443\r\n");
	return unit_done("test_proxy");
}
