/* fuzz_httpd.c: the metrics endpoint's request parser,
 * httpd_parse_request(), on an arbitrary request (the input up to its first
 * NUL and at most 4095 bytes, as client_event() keeps it).
 *
 * Oracle: the tokens of the request line by isspace(), as sscanf's "%7s
 * %255s" reads them: a GET or HEAD whose second token is /metrics or
 * /status goes there, another path is "not found", anything else a bad
 * request; head is set for a first token "HEAD" (even in a bad request,
 * whose answer then goes without its body, as before) and never when there
 * is no token at all (the daemon read an uninitialised method then). The
 * request is copied into a malloc'd buffer of its exact size, so ASan sees
 * a read past its end. */
#include "autoconfig.h"
#include "httpd.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQ_MAX 4095

/* The next whitespace-separated token of *p: its start and length, or
 * NULL at the end. */
static const char *
token(const char **p, size_t *len)
{
	const char *s = *p, *t;

	while (*s && isspace((unsigned char)*s))
		s++;
	if (*s == '\0')
		return NULL;
	for (t = s; *t && !isspace((unsigned char)*t); t++)
		;
	*len = (size_t)(t - s);
	*p = t;
	return s;
}

static int
is(const char *tok, size_t len, const char *word)
{
	return tok != NULL && len == strlen(word) &&
	    memcmp(tok, word, len) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len = strnlen((const char *)data, size), mlen = 0, plen = 0;
	const char *m, *p, *cur;
	char *req;
	enum httpd_route want, got;
	int head = -1, want_head;

	if (len > REQ_MAX)
		len = REQ_MAX;
	if ((req = malloc(len + 1)) == NULL)
		abort();
	memcpy(req, data, len);
	req[len] = '\0';

	cur = req;
	m = token(&cur, &mlen);
	p = m != NULL ? token(&cur, &plen) : NULL;
	/* %7s splits a longer first token: its 8th byte starts the path. */
	if (m != NULL && mlen > 7) {
		p = m + 7;
		plen = mlen - 7;
		mlen = 7;
	}
	want_head = is(m, mlen, "HEAD");
	if (p == NULL || (!is(m, mlen, "GET") && !want_head))
		want = HTTPD_BAD_REQUEST;
	else if (plen <= 255 && is(p, plen, "/metrics"))
		want = HTTPD_METRICS;
	else if (plen <= 255 && is(p, plen, "/status"))
		want = HTTPD_STATUS;
	else
		want = HTTPD_NOT_FOUND;

	got = httpd_parse_request(req, &head);
	if (got != want || head != want_head) {
		fprintf(stderr, "fuzz_httpd: route %d head %d, expected %d "
		    "and %d\n", (int)got, head, (int)want, want_head);
		abort();
	}
	free(req);
	return 0;
}
