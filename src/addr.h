/* addr.h: the address forms of the config (host:port, [v6]:port, :port,
 * unix:/path), their resolution (start-up and reload only) and printing. */
#ifndef SHEATH_ADDR_H
#define SHEATH_ADDR_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

enum addr_kind { ADDR_INET, ADDR_UNIX };

struct addr_spec {
	enum addr_kind kind;
	char host[256];		/* "" for ":port" (every address) */
	int port;		/* 1..65535 */
	char path[108];		/* unix socket path */
};

/* Permissions of a unix socket file sheath creates. */
struct unix_perm {
	mode_t mode;
	gid_t gid;		/* (gid_t)-1: the process's group */
};

#define UNIX_MODE_DEFAULT "0660"

struct sockaddr_any {
	struct sockaddr_storage ss;
	socklen_t len;
};

/** addr_parse(s, out, err, errlen): parse one address form. Returns 0, or -1
 * with a reason in err. Never resolves names. */
int addr_parse(const char *s, struct addr_spec *out, char *err, size_t errlen);

/** addr_is_ip_literal(host): whether host is an IPv4 or IPv6 literal. */
int addr_is_ip_literal(const char *host);

/** addr_resolve(spec, passive, out, max, err, errlen): resolve spec into at
 * most max socket addresses (blocking getaddrinfo: call only outside the
 * loop). Returns the count (>= 1), or -1 with a reason in err. */
int addr_resolve(const struct addr_spec *spec, int passive,
    struct sockaddr_any *out, int max, char *err, size_t errlen);

/** addr_format(sa, len, buf, buflen): "1.2.3.4:5", "[::1]:5" or "unix:/p". */
const char *addr_format(const struct sockaddr *sa, socklen_t len, char *buf,
    size_t buflen);

#define ADDR_STRLEN 160

/* An address prefix of an allow-list: "10.0.0.0/8", "::1". */
struct addr_prefix {
	int family;			/* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int bits;
};

/** addr_prefix_parse(s, out, err, errlen): "ADDR" or "ADDR/BITS". Returns 0,
 * or -1 with a reason in err. */
int addr_prefix_parse(const char *s, struct addr_prefix *out, char *err,
    size_t errlen);

/** addr_prefix_match(p, n, sa): whether sa (a socket address) is in one of
 * the n prefixes; an IPv4-mapped IPv6 address matches IPv4 prefixes, and
 * a unix socket peer matches none. */
int addr_prefix_match(const struct addr_prefix *p, size_t n,
    const struct sockaddr *sa);

#endif
