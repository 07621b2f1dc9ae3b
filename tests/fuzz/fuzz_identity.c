/* fuzz_identity.c: libFuzzer harness for the allow-list and pin decisions.
 *
 * Input layout (missing bytes read as 0):
 *   [0]      allow-list sizes, 2 bits each: cn, dns, uri, ou (0..3 entries)
 *   [1]      low nibble: an empty list is passed as a NULL pointer (bit per
 *            list); high nibble: peer arrays (cn, ou, dns, uri) get a NULL
 *            hole at index 0
 *   [2], [3] peer name counts, a nibble each: cn, ou | dns, uri (0..15)
 *   [4]      size of the reason buffer (0..127)
 *   [5]      low 3 bits: number of pins; bit 7: the digest is a copy of pin
 *            ((b >> 3) & 7) % npins; bit 6: then flip a bit of it (byte [6])
 *   [6]      which bit to flip
 *   then     npins * 32 bytes of pins, 32 bytes of digest
 *   then     NUL-separated strings, taken in order for the allow-lists
 *            (cn, dns, uri, ou) and then the peer names (cn, ou, dns, uri);
 *            strings past the end of the input are "".
 *
 * identity_allowed must return 1 exactly when the oracle below says so
 * (no list set, or a CN, URI or OU equal to an entry, or a DNS name equal
 * ignoring ASCII case), and when it refuses the reason must be the
 * truncation of "not in " + the set lists joined by "/".
 * identity_pin_match must agree with memcmp. Disagreement aborts. */
#include "autoconfig.h"
#include "identity.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct reader {
	const uint8_t *p;
	size_t left;
};

static uint8_t
byte_at(const uint8_t *data, size_t size, size_t i)
{
	return i < size ? data[i] : 0;
}

/* Next NUL-terminated string (a copy), "" past the end. */
static char *
next_string(struct reader *r)
{
	const uint8_t *nul = memchr(r->p, '\0', r->left);
	size_t len = nul ? (size_t)(nul - r->p) : r->left;
	char *s = malloc(len + 1);

	if (s == NULL)
		abort();
	memcpy(s, r->p, len);
	s[len] = '\0';
	r->p += len;
	r->left -= len;
	if (r->left > 0) {	/* the NUL */
		r->p++;
		r->left--;
	}
	return s;
}

static int
ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int
oracle_eq(const char *a, const char *b, int nocase)
{
	for (;; a++, b++) {
		int x = (unsigned char)*a, y = (unsigned char)*b;

		if (nocase) {
			x = ascii_lower(x);
			y = ascii_lower(y);
		}
		if (x != y)
			return 0;
		if (x == 0)
			return 1;
	}
}

static int
oracle_in(const struct strlist *l, const char *const *names, size_t n,
    int nocase)
{
	if (l == NULL)
		return 0;
	for (size_t i = 0; i < l->n; i++)
		for (size_t j = 0; j < n; j++)
			if (names[j] != NULL &&
			    oracle_eq(l->v[i], names[j], nocase))
				return 1;
	return 0;
}

static int
set(const struct strlist *l)
{
	return l != NULL && l->n > 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const list_names[4] = { "allow_cn", "allow_dns",
		"allow_uri", "allow_ou" };
	struct strlist lists[4];
	struct allow_lists al;
	struct peer_names pn;
	const char **peer[4] = { pn.cn, pn.ou, pn.dns, pn.uri };
	size_t *npeer[4] = { &pn.ncn, &pn.nou, &pn.ndns, &pn.nuri };
	char *owned[4 * 3 + 4 * 15];
	size_t nowned = 0, rlen, npins, off;
	unsigned char (*pins)[PIN_LEN] = NULL;
	unsigned char digest[PIN_LEN];
	uint8_t b0 = byte_at(data, size, 0), b1 = byte_at(data, size, 1);
	uint8_t b5 = byte_at(data, size, 5);
	struct reader r;
	char *reason, expect[128];
	int got, want, any;

	/* Pins and digest. */
	npins = b5 & 7;
	off = 7;
	if (npins) {
		pins = calloc(npins, PIN_LEN);
		if (pins == NULL)
			abort();
	}
	for (size_t i = 0; i < npins; i++)
		for (size_t j = 0; j < PIN_LEN; j++)
			pins[i][j] = byte_at(data, size, off++);
	for (size_t j = 0; j < PIN_LEN; j++)
		digest[j] = byte_at(data, size, off++);
	if ((b5 & 0x80) && npins) {
		memcpy(digest, pins[((b5 >> 3) & 7) % npins], PIN_LEN);
		if (b5 & 0x40) {
			uint8_t bit = byte_at(data, size, 6);

			digest[(bit >> 3) % PIN_LEN] ^= (uint8_t)(1u << (bit & 7));
		}
	}
	want = 0;
	for (size_t i = 0; i < npins; i++)
		if (memcmp(pins[i], digest, PIN_LEN) == 0)
			want = 1;
	got = identity_pin_match((const unsigned char (*)[PIN_LEN])pins,
	    npins, digest);
	if (got != want) {
		fprintf(stderr, "fuzz_identity: identity_pin_match %d, memcmp "
		    "says %d (%zu pins)\n", got, want, npins);
		abort();
	}
	free(pins);

	r.p = off < size ? data + off : data + size;
	r.left = off < size ? size - off : 0;

	/* Allow-lists: cn, dns, uri, ou. */
	memset(lists, 0, sizeof(lists));
	{
		const struct strlist **slot[4] = { &al.cn, &al.dns, &al.uri,
			&al.ou };

		for (int i = 0; i < 4; i++) {
			size_t n = (b0 >> (2 * i)) & 3;

			for (size_t j = 0; j < n; j++) {
				char *s = next_string(&r);

				strlist_add(&lists[i], s);
				free(s);
			}
			*slot[i] = (n == 0 && (b1 & (1u << i))) ? NULL :
			    &lists[i];
		}
	}

	/* Peer names: cn, ou, dns, uri. */
	memset(&pn, 0, sizeof(pn));
	for (int i = 0; i < 4; i++) {
		uint8_t cb = byte_at(data, size, 2 + (size_t)i / 2);
		size_t n = (i % 2 == 0) ? (cb & 15) : (cb >> 4);

		for (size_t j = 0; j < n; j++) {
			char *s = next_string(&r);

			owned[nowned++] = s;
			peer[i][j] = (j == 0 && (b1 & (0x10u << i))) ? NULL : s;
		}
		*npeer[i] = n;
	}

	/* The oracle. */
	any = set(al.cn) || set(al.dns) || set(al.uri) || set(al.ou);
	want = !any ||
	    oracle_in(al.cn, pn.cn, pn.ncn, 0) ||
	    oracle_in(al.dns, pn.dns, pn.ndns, 1) ||
	    oracle_in(al.uri, pn.uri, pn.nuri, 0) ||
	    oracle_in(al.ou, pn.ou, pn.nou, 0);
	if (identity_any_list(&al) != any) {
		fprintf(stderr, "fuzz_identity: identity_any_list %d, oracle "
		    "%d\n", identity_any_list(&al), any);
		abort();
	}

	rlen = byte_at(data, size, 4) & 127;
	reason = malloc(rlen ? rlen : 1);	/* exact size: ASan sees overruns */
	if (reason == NULL)
		abort();
	if (rlen)
		memset(reason, 0x55, rlen);
	got = identity_allowed(&al, &pn, reason, rlen);
	if (got != want) {
		fprintf(stderr, "fuzz_identity: identity_allowed %d, oracle "
		    "%d\n", got, want);
		abort();
	}
	if (got == 0 && rlen > 0) {
		size_t e = (size_t)snprintf(expect, sizeof(expect),
		    "not in ");
		int first = 1;

		for (int i = 0; i < 4; i++) {
			const struct strlist *l = i == 0 ? al.cn : i == 1 ?
			    al.dns : i == 2 ? al.uri : al.ou;

			if (!set(l))
				continue;
			e += (size_t)snprintf(expect + e, sizeof(expect) - e,
			    "%s%s", first ? "" : "/", list_names[i]);
			first = 0;
		}
		if (e >= rlen)
			expect[rlen - 1] = '\0';
		if (memchr(reason, '\0', rlen) == NULL ||
		    strcmp(reason, expect) != 0) {
			fprintf(stderr, "fuzz_identity: reason \"%.*s\", "
			    "expected \"%s\" (buffer %zu)\n", (int)rlen,
			    reason, expect, rlen);
			abort();
		}
	}
	free(reason);

	for (size_t i = 0; i < nowned; i++)
		free(owned[i]);
	for (int i = 0; i < 4; i++)
		strlist_free(&lists[i]);
	return 0;
}
