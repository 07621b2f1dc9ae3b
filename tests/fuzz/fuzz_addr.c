/* fuzz_addr.c: libFuzzer harness for the address forms.
 *
 * addr_parse on arbitrary NUL-terminated text. When it succeeds the result
 * must be well formed (port 1..65535, host and path NUL-terminated inside
 * their arrays, only the characters the parser admits), printing it back in
 * its canonical form must parse to the same spec, and resolving it (only for
 * unix paths, ":port" and IP literals: never DNS) must give addresses that
 * addr_format prints and addr_parse accepts again. Any violation aborts. */
#include "autoconfig.h"
#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...) do { \
	fprintf(stderr, "fuzz_addr: input \"%s\": ", input); \
	fprintf(stderr, __VA_ARGS__); \
	fputc('\n', stderr); \
	abort(); \
} while (0)

static int
hostname_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_';
}

static void
check_spec(const char *input, const struct addr_spec *a)
{
	const char *hend = memchr(a->host, '\0', sizeof(a->host));
	const char *pend = memchr(a->path, '\0', sizeof(a->path));

	if (hend == NULL)
		FAIL("host not NUL-terminated");
	if (pend == NULL)
		FAIL("path not NUL-terminated");
	if (a->kind == ADDR_UNIX) {
		if (a->path[0] == '\0')
			FAIL("empty unix path accepted");
		if (strncmp(input, "unix:", 5) != 0 ||
		    strcmp(input + 5, a->path) != 0)
			FAIL("unix path \"%s\" is not the input's", a->path);
		if (a->host[0] != '\0' || a->port != 0)
			FAIL("unix spec with host \"%s\" / port %d", a->host,
			    a->port);
		return;
	}
	if (a->kind != ADDR_INET)
		FAIL("kind %d", (int)a->kind);
	if (a->port < 1 || a->port > 65535)
		FAIL("port %d out of range", a->port);
	if (a->path[0] != '\0')
		FAIL("inet spec with a path");
	if (strchr(a->host, ':') != NULL) {
		unsigned char buf[sizeof(struct in6_addr)];

		/* Only the [v6]:port form may yield a colon in the host. */
		if (input[0] != '[' || inet_pton(AF_INET6, a->host, buf) != 1)
			FAIL("host \"%s\" has a colon but is not an IPv6 "
			    "literal", a->host);
	} else if (input[0] == '[') {
		unsigned char buf[sizeof(struct in6_addr)];

		if (inet_pton(AF_INET6, a->host, buf) != 1)
			FAIL("bracketed host \"%s\" is not IPv6", a->host);
	} else {
		for (const char *p = a->host; *p; p++)
			if (!hostname_char(*p))
				FAIL("host \"%s\" has byte 0x%02x", a->host,
				    (unsigned char)*p);
	}
}

static int
same_spec(const struct addr_spec *a, const struct addr_spec *b)
{
	return a->kind == b->kind && a->port == b->port &&
	    strcmp(a->host, b->host) == 0 && strcmp(a->path, b->path) == 0;
}

/* Print a spec in the form the configuration would write it. */
static void
print_spec(const struct addr_spec *a, char *buf, size_t len)
{
	if (a->kind == ADDR_UNIX)
		snprintf(buf, len, "unix:%s", a->path);
	else if (strchr(a->host, ':') != NULL)
		snprintf(buf, len, "[%s]:%d", a->host, a->port);
	else
		snprintf(buf, len, "%s:%d", a->host, a->port);
}

static void
check_resolved(const char *input, const struct addr_spec *a,
    const struct sockaddr_any *sa, int n)
{
	char text[ADDR_STRLEN], err[256];
	struct addr_spec back;

	for (int i = 0; i < n; i++) {
		const struct sockaddr *s = (const struct sockaddr *)&sa[i].ss;

		if (sa[i].len == 0 || sa[i].len > sizeof(sa[i].ss))
			FAIL("resolved length %u", (unsigned)sa[i].len);
		memset(text, 0x55, sizeof(text));
		addr_format(s, sa[i].len, text, sizeof(text));
		if (memchr(text, '\0', sizeof(text)) == NULL)
			FAIL("addr_format output not NUL-terminated");
		if (a->kind == ADDR_UNIX) {
			if (s->sa_family != AF_UNIX)
				FAIL("unix spec resolved to family %d",
				    s->sa_family);
			if (strncmp(text, "unix:", 5) != 0 ||
			    strcmp(text + 5, a->path) != 0)
				FAIL("unix:%s formatted as \"%s\"", a->path,
				    text);
			continue;
		}
		if (s->sa_family != AF_INET && s->sa_family != AF_INET6)
			FAIL("inet spec resolved to family %d", s->sa_family);
		if (addr_parse(text, &back, err, sizeof(err)) != 0)
			FAIL("formatted address \"%s\" does not parse: %s",
			    text, err);
		if (back.port != a->port)
			FAIL("port %d formatted as \"%s\"", a->port, text);
		if (!addr_is_ip_literal(back.host))
			FAIL("formatted host \"%s\" is not an IP literal",
			    back.host);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *input, err[256], again[512];
	struct addr_spec a, b;
	struct sockaddr_any sa[8];
	int n;

	input = malloc(size + 1);
	if (input == NULL)
		return 0;
	memcpy(input, data, size);
	input[size] = '\0';

	memset(err, 0x55, sizeof(err));
	memset(&a, 0x55, sizeof(a));
	if (addr_parse(input, &a, err, sizeof(err)) != 0) {
		if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0')
			FAIL("failed without a NUL-terminated reason");
		free(input);
		return 0;
	}
	check_spec(input, &a);

	/* The canonical form parses to the same spec. */
	print_spec(&a, again, sizeof(again));
	if (addr_parse(again, &b, err, sizeof(err)) != 0)
		FAIL("canonical form \"%s\" does not parse: %s", again, err);
	if (!same_spec(&a, &b))
		FAIL("canonical form \"%s\" parses differently", again);

	/* Resolve only what needs no name service. */
	if (a.kind == ADDR_UNIX) {
		n = addr_resolve(&a, 0, sa, 8, err, sizeof(err));
		if (n != 1)
			FAIL("unix path did not resolve to one address");
		check_resolved(input, &a, sa, n);
	} else if (a.host[0] == '\0') {
		n = addr_resolve(&a, 1, sa, 8, err, sizeof(err));
		if (n != 2)
			FAIL(":port resolved to %d addresses", n);
		check_resolved(input, &a, sa, n);
	} else if (addr_is_ip_literal(a.host)) {
		for (int passive = 0; passive <= 1; passive++) {
			n = addr_resolve(&a, passive, sa, 8, err, sizeof(err));
			if (n < 1 || n > 8)
				FAIL("IP literal resolved to %d addresses: %s",
				    n, n < 0 ? err : "");
			check_resolved(input, &a, sa, n);
		}
	}
	free(input);
	return 0;
}
