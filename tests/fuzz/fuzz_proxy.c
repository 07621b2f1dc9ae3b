/* fuzz_proxy.c: PROXY protocol v1/v2 headers. Invariants: the length
 * function never claims more than it was given or than PROXY_MAX_HEADER,
 * a parsed header rebuilds (v1 and v2) into headers that parse back to the
 * same addresses. */
#include "autoconfig.h"
#include "proxy.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
mapped(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

	return ss->ss_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_addrs a, b;
	unsigned char out[PROXY_MAX_HEADER];
	char v1[128];
	int hl = proxy_header_len(data, size);
	size_t n;

	if (hl > PROXY_MAX_HEADER)
		abort();
	if (hl <= 0 || (size_t)hl > size)
		return 0;
	if (proxy_parse(data, (size_t)hl, &a) != 0)
		return 0;
	n = proxy_build_v2(out, sizeof(out), &a, NULL);
	if (n == 0 || proxy_header_len(out, n) != (int)n ||
	    proxy_parse(out, n, &b) != 0 || b.local != a.local)
		abort();
	/* Same source after the round trip, but for v4-mapped IPv6, which
	 * the builder writes as IPv4 (a normalisation, not a change). */
	if (!a.local && !mapped(&a.src) && !mapped(&a.dst) &&
	    (b.srclen != a.srclen || memcmp(&a.src, &b.src, a.srclen) != 0))
		abort();
	n = proxy_build_v1(v1, sizeof(v1), &a);
	if (n == 0 || proxy_parse((unsigned char *)v1, n, &b) != 0)
		abort();
	return 0;
}
