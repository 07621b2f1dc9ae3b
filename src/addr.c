/* addr.c: address parsing is pure and strict (it is fed config values and
 * fuzzed); resolution is a thin wrapper around getaddrinfo(3). */
#include "autoconfig.h"
#include "addr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

static int
parse_port(const char *s, int *port)
{
	long v = 0;

	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

int
addr_is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 ||
	    inet_pton(AF_INET6, host, buf) == 1;
}

static int
valid_hostname(const char *h)
{
	/* Letters, digits, '-', '.', '_' : what getaddrinfo will see. */
	if (*h == '\0')
		return 0;
	for (const char *p = h; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
		    *p == '_'))
			return 0;
	return 1;
}

int
addr_parse(const char *s, struct addr_spec *out, char *err, size_t errlen)
{
	const char *colon;
	size_t hlen;

	memset(out, 0, sizeof(*out));
	if (strncmp(s, "unix:", 5) == 0) {
		const char *path = s + 5;

		if (*path == '\0') {
			snprintf(err, errlen, "empty unix socket path");
			return -1;
		}
		if (strlen(path) >= sizeof(out->path)) {
			snprintf(err, errlen, "unix socket path too long "
			    "(at most %zu bytes)", sizeof(out->path) - 1);
			return -1;
		}
		out->kind = ADDR_UNIX;
		strcpy(out->path, path);
		return 0;
	}
	out->kind = ADDR_INET;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		unsigned char buf[sizeof(struct in6_addr)];

		if (close == NULL || close[1] != ':') {
			snprintf(err, errlen, "\"%s\": expected [v6addr]:port",
			    s);
			return -1;
		}
		hlen = (size_t)(close - s - 1);
		if (hlen == 0 || hlen >= sizeof(out->host)) {
			snprintf(err, errlen, "\"%s\": bad IPv6 address", s);
			return -1;
		}
		memcpy(out->host, s + 1, hlen);
		out->host[hlen] = '\0';
		if (inet_pton(AF_INET6, out->host, buf) != 1) {
			snprintf(err, errlen, "\"%s\": bad IPv6 address", s);
			return -1;
		}
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL) {
			snprintf(err, errlen, "\"%s\": expected host:port, "
			    "[v6addr]:port, :port or unix:/path", s);
			return -1;
		}
		hlen = (size_t)(colon - s);
		if (hlen >= sizeof(out->host)) {
			snprintf(err, errlen, "\"%s\": host name too long", s);
			return -1;
		}
		memcpy(out->host, s, hlen);
		out->host[hlen] = '\0';
		if (memchr(out->host, ':', hlen) != NULL) {
			snprintf(err, errlen, "\"%s\": IPv6 addresses must be "
			    "written as [v6addr]:port", s);
			return -1;
		}
		if (hlen > 0 && !valid_hostname(out->host)) {
			snprintf(err, errlen, "\"%s\": bad host name", s);
			return -1;
		}
	}
	if (parse_port(colon + 1, &out->port) == -1) {
		snprintf(err, errlen, "\"%s\": port must be a number from 1 to "
		    "65535", s);
		return -1;
	}
	return 0;
}

int
addr_resolve(const struct addr_spec *spec, int passive,
    struct sockaddr_any *out, int max, char *err, size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	char port[8];
	int n = 0, rc;

	if (spec->kind == ADDR_UNIX) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&out[0].ss;

		memset(&out[0], 0, sizeof(out[0]));
		sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, spec->path);
		out[0].len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    strlen(spec->path) + 1);
		return 1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	if (spec->host[0] == '\0' && passive) {
		/* ":port": one dual-stack IPv6 socket, or IPv4 without v6. */
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out[0].ss;
		struct sockaddr_in *s4 = (struct sockaddr_in *)&out[1].ss;

		if (max < 2) {
			snprintf(err, errlen, "internal: address table full");
			return -1;
		}
		memset(out, 0, 2 * sizeof(*out));
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_any;
		s6->sin6_port = htons((unsigned short)spec->port);
		out[0].len = sizeof(*s6);
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_ANY);
		s4->sin_port = htons((unsigned short)spec->port);
		out[1].len = sizeof(*s4);
		return 2;
	}
	snprintf(port, sizeof(port), "%d", spec->port);
	rc = getaddrinfo(spec->host[0] ? spec->host : NULL, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot resolve \"%s\": %s", spec->host,
		    gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && n < max; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(out[n].ss))
			continue;
		memset(&out[n], 0, sizeof(out[n]));
		memcpy(&out[n].ss, ai->ai_addr, ai->ai_addrlen);
		out[n].len = ai->ai_addrlen;
		n++;
	}
	freeaddrinfo(res);
	if (n == 0) {
		snprintf(err, errlen, "\"%s\" has no usable address",
		    spec->host);
		return -1;
	}
	return n;
}

const char *
addr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen)
{
	char host[INET6_ADDRSTRLEN];

	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, buflen, "%s:%u", host, ntohs(s4->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], host,
			    sizeof(host));
			snprintf(buf, buflen, "%s:%u", host,
			    ntohs(s6->sin6_port));
		} else {
			inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
			snprintf(buf, buflen, "[%s]:%u", host,
			    ntohs(s6->sin6_port));
		}
		break;
	}
	case AF_UNIX: {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
		size_t off = offsetof(struct sockaddr_un, sun_path);

		if (len > off && sun->sun_path[0] != '\0')
			snprintf(buf, buflen, "unix:%.*s", (int)(len - off),
			    sun->sun_path);
		else
			snprintf(buf, buflen, "unix");
		break;
	}
	default:
		snprintf(buf, buflen, "unknown");
	}
	return buf;
}

int
addr_prefix_parse(const char *s, struct addr_prefix *out, char *err,
    size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	int max;

	memset(out, 0, sizeof(*out));
	if (hlen == 0 || hlen >= sizeof(host)) {
		snprintf(err, errlen, "\"%.64s\": expected an address or an "
		    "address/prefix-length", s);
		return -1;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		snprintf(err, errlen, "\"%.64s\": not an IPv4 or IPv6 address",
		    host);
		return -1;
	}
	out->bits = max;
	if (slash != NULL) {
		char *end;
		long bits = strtol(slash + 1, &end, 10);

		if (slash[1] < '0' || slash[1] > '9' || *end != '\0' ||
		    bits < 0 || bits > max) {
			snprintf(err, errlen, "\"%.64s\": the prefix length "
			    "must be 0 to %d", s, max);
			return -1;
		}
		out->bits = (int)bits;
	}
	return 0;
}

/* Whether the first bits of a and b are equal. */
static int
prefix_equal(const unsigned char *a, const unsigned char *b, int bits)
{
	int whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)whole) != 0)
		return 0;
	return rest == 0 || ((a[whole] ^ b[whole]) &
	    (unsigned char)(0xff00 >> rest)) == 0;
}

int
addr_prefix_match(const struct addr_prefix *p, size_t n,
    const struct sockaddr *sa)
{
	const unsigned char *v4 = NULL, *v6 = NULL;

	if (sa->sa_family == AF_INET) {
		v4 = (const unsigned char *)
		    &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		v6 = a->s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))	/* ::ffff:a.b.c.d */
			v4 = v6 + 12;
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i].family == AF_INET && v4 != NULL &&
		    prefix_equal(p[i].addr, v4, p[i].bits))
			return 1;
		if (p[i].family == AF_INET6 && v6 != NULL &&
		    prefix_equal(p[i].addr, v6, p[i].bits))
			return 1;
	}
	return 0;
}
