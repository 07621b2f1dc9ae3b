/* fuzz_psk.c: the psk_file parser, tls_psk_parse(), on arbitrary text (the
 * input up to its first NUL, as load_psk() hands over a file). The first
 * byte picks the size of the error buffer (0..63 bytes, malloc'd exactly,
 * so ASan sees a write past it).
 *
 * Oracle: a second, independent reading of psktool's format (identity:
 * hexkey per line; blank lines, '#' lines, trailing spaces and CRs
 * ignored). Both must agree on success or failure and, on success, on
 * every identity and key. Promises checked besides: at least one entry;
 * identities non-empty, without ':' or '\n', not starting with '#'; keys of
 * 1..512 bytes; on failure an error message that fits its buffer (and is
 * not empty when there is room for more than the terminator).
 * tls_psk_free() frees it all (LeakSanitizer watches). */
#include "autoconfig.h"
#include "tls.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ref {
	char identity[1100];
	unsigned char key[512];
	size_t keylen;
};

static void
fail(const char *what, size_t i)
{
	fprintf(stderr, "fuzz_psk: %s (entry %zu)\n", what, i);
	abort();
}

static int
hex(int c)
{
	const char *d = "0123456789abcdef", *p;

	if (c >= 'A' && c <= 'F')
		c += 'a' - 'A';
	p = c ? strchr(d, c) : NULL;
	return p ? (int)(p - d) : -1;
}

/* The reference reading: the entries into r (room for max), their number,
 * or -1 when the text is refused. */
static long
ref_parse(const char *text, struct ref *r, size_t max)
{
	size_t n = 0;

	while (*text) {
		size_t len = strcspn(text, "\n"), idlen, hexlen;
		const char *next = text[len] ? text + len + 1 : text + len;
		const char *colon;

		while (len > 0 && (text[len - 1] == ' ' ||
		    text[len - 1] == '\r'))
			len--;
		if (len == 0 || text[0] == '#') {
			text = next;
			continue;
		}
		colon = memchr(text, ':', len);
		if (colon == NULL || colon == text)
			return -1;
		idlen = (size_t)(colon - text);
		hexlen = len - idlen - 1;
		if (hexlen == 0 || hexlen % 2 != 0 || hexlen > 1024)
			return -1;
		if (n == max || idlen >= sizeof(r->identity))
			return -2;	/* the harness's limit, not the parser's */
		memcpy(r[n].identity, text, idlen);
		r[n].identity[idlen] = '\0';
		r[n].keylen = hexlen / 2;
		for (size_t i = 0; i < hexlen; i += 2) {
			int hi = hex((unsigned char)colon[1 + i]);
			int lo = hex((unsigned char)colon[2 + i]);

			if (hi < 0 || lo < 0)
				return -1;
			r[n].key[i / 2] = (unsigned char)(hi << 4 | lo);
		}
		n++;
		text = next;
	}
	return n == 0 ? -1 : (long)n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ref ref[128];
	struct psk_entry *e = NULL;
	size_t n = 0, errlen;
	char *text, *err;
	long want;
	int r;

	if (size == 0 || size > 65536)
		return 0;
	errlen = data[0] % 64;
	text = malloc(size);
	err = malloc(errlen ? errlen : 1);
	if (text == NULL || err == NULL)
		abort();
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	memset(err, 0, errlen ? errlen : 1);

	r = tls_psk_parse(text, &e, &n, errlen ? err : NULL, errlen);
	want = ref_parse(text, ref, sizeof(ref) / sizeof(ref[0]));
	if (r != 0) {
		if (r != -1)
			fail("returned neither 0 nor -1", 0);
		if (want >= 0)
			fail("refused a text the reference accepts", 0);
		/* One byte holds only the terminator. */
		if (errlen > 0 && ((errlen > 1 && err[0] == '\0') ||
		    memchr(err, '\0', errlen) == NULL))
			fail("no error message, or not terminated", 0);
	} else {
		if (want == -1)
			fail("accepted a text the reference refuses", 0);
		if (n == 0 || e == NULL)
			fail("success without an entry", 0);
		if (want >= 0 && (size_t)want != n)
			fail("entry count differs from the reference", n);
		for (size_t i = 0; i < n; i++) {
			const char *id = e[i].identity;

			if (id == NULL || id[0] == '\0' || id[0] == '#' ||
			    strpbrk(id, ":\n") != NULL)
				fail("bad identity", i);
			if (e[i].key.size == 0 || e[i].key.size > 512 ||
			    e[i].key.data == NULL)
				fail("bad key size", i);
			if (want < 0)
				continue;
			if (strcmp(id, ref[i].identity) != 0)
				fail("identity differs from the reference", i);
			if (e[i].key.size != ref[i].keylen ||
			    memcmp(e[i].key.data, ref[i].key,
			    ref[i].keylen) != 0)
				fail("key differs from the reference", i);
		}
		tls_psk_free(e, n);
	}
	free(err);
	free(text);
	return 0;
}
