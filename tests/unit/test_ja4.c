/* test_ja4.c: JA4 against a published fingerprint. The vector is a Chrome
 * 143 ClientHello as published with its JA4, JA4_r and JA4_ro strings
 * (browserleaks-style dump): the ClientHello below carries exactly its
 * ciphers, extensions and signature algorithms, in its original order. */
#include "autoconfig.h"
#include "ja4.h"
#include "unit.h"
#include "util.h"

#include <stdint.h>

struct builder {
	unsigned char b[4096];
	size_t n;
};

static void
put8(struct builder *b, unsigned v)
{
	b->b[b->n++] = (unsigned char)v;
}

static void
put16(struct builder *b, unsigned v)
{
	put8(b, v >> 8);
	put8(b, v & 0xff);
}

static void
putn(struct builder *b, const void *p, size_t n)
{
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

/* Patch a 16-bit length at off with the bytes written since off + 2. */
static void
fix16(struct builder *b, size_t off)
{
	size_t len = b->n - off - 2;

	b->b[off] = (unsigned char)(len >> 8);
	b->b[off + 1] = (unsigned char)len;
}

static const uint16_t chrome_ciphers[] = { 0x1301, 0x1302, 0x1303, 0xc02b,
	0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d,
	0x002f, 0x0035 };
static const uint16_t chrome_exts[] = { 0x002d, 0x0033, 0x0010, 0xfe0d,
	0x0017, 0x44cd, 0x0000, 0x000b, 0x000a, 0x002b, 0xff01, 0x0023, 0x0012,
	0x0005, 0x000d, 0x001b };
static const uint16_t chrome_sigs[] = { 0x0403, 0x0804, 0x0401, 0x0503,
	0x0805, 0x0501, 0x0806, 0x0601 };

/* A ClientHello body; grease adds GREASE values that JA4 must ignore. */
static void
chrome_hello(struct builder *b, int grease, const char *alpn)
{
	unsigned char random[32] = { 0 };
	size_t off, eoff;

	b->n = 0;
	put16(b, 0x0303);
	putn(b, random, 32);
	put8(b, 0);				/* session id */
	off = b->n;
	put16(b, 0);
	if (grease)
		put16(b, 0x3a3a);
	for (size_t i = 0; i < ARRAY_LEN(chrome_ciphers); i++)
		put16(b, chrome_ciphers[i]);
	fix16(b, off);
	put8(b, 1);
	put8(b, 0);				/* null compression */
	eoff = b->n;
	put16(b, 0);
	if (grease) {
		put16(b, 0x1a1a);
		put16(b, 0);
	}
	for (size_t i = 0; i < ARRAY_LEN(chrome_exts); i++) {
		size_t l;

		put16(b, chrome_exts[i]);
		l = b->n;
		put16(b, 0);
		switch (chrome_exts[i]) {
		case 0x0000:			/* server_name */
			put16(b, 14);
			put8(b, 0);
			put16(b, 11);
			putn(b, "example.com", 11);
			break;
		case 0x0010: {			/* ALPN */
			size_t lo = b->n;

			put16(b, 0);
			put8(b, strlen(alpn));
			putn(b, alpn, strlen(alpn));
			put8(b, 8);
			putn(b, "http/1.1", 8);
			fix16(b, lo);
			break;
		}
		case 0x002b:			/* supported_versions */
			put8(b, grease ? 6 : 4);
			if (grease)
				put16(b, 0x7a7a);
			put16(b, 0x0304);
			put16(b, 0x0303);
			break;
		case 0x000d: {			/* signature_algorithms */
			size_t lo = b->n;

			put16(b, 0);
			for (size_t i2 = 0; i2 < ARRAY_LEN(chrome_sigs); i2++)
				put16(b, chrome_sigs[i2]);
			fix16(b, lo);
			break;
		}
		}
		fix16(b, l);
	}
	fix16(b, eoff);
}

int
main(void)
{
	struct builder b;
	char out[JA4_LEN + 1];
	unsigned char hdr[4096];

	chrome_hello(&b, 0, "h2");
	CHECK(ja4_compute(b.b, b.n, out) == 0);
	CHECK_STR(out, "t13d1516h2_8daaf6152771_d8a2da3f94cd");

	/* GREASE anywhere changes nothing. */
	chrome_hello(&b, 1, "h2");
	CHECK(ja4_compute(b.b, b.n, out) == 0);
	CHECK_STR(out, "t13d1516h2_8daaf6152771_d8a2da3f94cd");

	/* The 4-byte handshake header is accepted too. */
	hdr[0] = 1;
	hdr[1] = 0;
	hdr[2] = (unsigned char)(b.n >> 8);
	hdr[3] = (unsigned char)b.n;
	memcpy(hdr + 4, b.b, b.n);
	CHECK(ja4_compute(hdr, b.n + 4, out) == 0);
	CHECK_STR(out, "t13d1516h2_8daaf6152771_d8a2da3f94cd");

	/* ALPN characters: first and last; hex digits when not
	 * alphanumeric. */
	chrome_hello(&b, 0, "http/1.1");
	CHECK(ja4_compute(b.b, b.n, out) == 0);
	CHECK(strncmp(out, "t13d1516h1_", 11) == 0);
	chrome_hello(&b, 0, "\xab" "x" "\xcd");
	CHECK(ja4_compute(b.b, b.n, out) == 0);
	CHECK(strncmp(out, "t13d1516ad_", 11) == 0);

	/* Truncated or inconsistent input is refused, never read past. */
	chrome_hello(&b, 0, "h2");
	{
		/* Every cut fails but one: right before the extensions, which
		 * is a valid extension-less hello. */
		int ok = 0;

		for (size_t cut = 0; cut < b.n; cut++)
			ok += ja4_compute(b.b, cut, out) == 0;
		CHECK(ok == 1);
	}
	CHECK(ja4_compute(b.b, b.n - 1, out) == -1);
	CHECK_STR(out, "-");
	b.b[b.n++] = 0;		/* trailing garbage */
	CHECK(ja4_compute(b.b, b.n, out) == -1);

	/* A minimal TLS 1.2 hello without extensions. */
	{
		unsigned char m[] = { 0x03, 0x03, [34] = 0, 0x00, 0x02,
			0xc0, 0x2f, 0x01, 0x00 };

		CHECK(ja4_compute(m, sizeof(m), out) == 0);
		CHECK(strncmp(out, "t12i010000_", 11) == 0);
		CHECK(strcmp(out + 24, "000000000000") == 0);
	}
	return unit_done("test_ja4");
}
