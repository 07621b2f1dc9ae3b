/* test_addr.c: address forms of the config, parsed strictly. */
#include "autoconfig.h"
#include "addr.h"
#include "unit.h"

#include <netinet/in.h>
#include <sys/un.h>

static int
parses(const char *s)
{
	struct addr_spec a;
	char err[256];

	return addr_parse(s, &a, err, sizeof(err)) == 0;
}

int
main(void)
{
	struct addr_spec a;
	char err[256], buf[ADDR_STRLEN];
	struct sockaddr_any sa[4];
	int n;

	CHECK(addr_parse("127.0.0.1:5432", &a, err, sizeof(err)) == 0);
	CHECK(a.kind == ADDR_INET && a.port == 5432);
	CHECK_STR(a.host, "127.0.0.1");

	CHECK(addr_parse("[::1]:443", &a, err, sizeof(err)) == 0);
	CHECK_STR(a.host, "::1");
	CHECK(a.port == 443);

	CHECK(addr_parse(":8080", &a, err, sizeof(err)) == 0);
	CHECK_STR(a.host, "");
	CHECK(a.port == 8080);

	CHECK(addr_parse("db.example.com:1", &a, err, sizeof(err)) == 0);
	CHECK_STR(a.host, "db.example.com");

	CHECK(addr_parse("unix:/run/x.sock", &a, err, sizeof(err)) == 0);
	CHECK(a.kind == ADDR_UNIX);
	CHECK_STR(a.path, "/run/x.sock");

	/* Rejected forms. */
	CHECK(!parses(""));
	CHECK(!parses("localhost"));
	CHECK(!parses("localhost:"));
	CHECK(!parses("localhost:0"));
	CHECK(!parses("localhost:65536"));
	CHECK(!parses("localhost:99999999999"));
	CHECK(!parses("localhost:12a"));
	CHECK(!parses("localhost:-1"));
	CHECK(!parses("::1:443"));		/* v6 needs brackets */
	CHECK(!parses("[::1]443"));
	CHECK(!parses("[::1"));
	CHECK(!parses("[]:443"));
	CHECK(!parses("[not-v6]:443"));
	CHECK(!parses("unix:"));
	CHECK(!parses("bad host:80"));
	CHECK(!parses("unix:/this/path/is/way/too/long/for/a/unix/socket/"
	    "address/because/sun_path/holds/only/one/hundred/and/eight/bytes"));
	CHECK(addr_parse("x:0", &a, err, sizeof(err)) == -1 &&
	    strstr(err, "port") != NULL);

	CHECK(addr_is_ip_literal("127.0.0.1"));
	CHECK(addr_is_ip_literal("::1"));
	CHECK(!addr_is_ip_literal("localhost"));

	/* Resolution of literals needs no DNS; formatting round-trips. */
	CHECK(addr_parse("127.0.0.1:7", &a, err, sizeof(err)) == 0);
	n = addr_resolve(&a, 0, sa, 4, err, sizeof(err));
	CHECK(n == 1);
	CHECK_STR(addr_format((struct sockaddr *)&sa[0].ss, sa[0].len, buf,
	    sizeof(buf)), "127.0.0.1:7");
	CHECK(addr_parse("[::1]:8", &a, err, sizeof(err)) == 0);
	n = addr_resolve(&a, 0, sa, 4, err, sizeof(err));
	CHECK(n == 1);
	CHECK_STR(addr_format((struct sockaddr *)&sa[0].ss, sa[0].len, buf,
	    sizeof(buf)), "[::1]:8");
	CHECK(addr_parse(":9", &a, err, sizeof(err)) == 0);
	CHECK(addr_resolve(&a, 1, sa, 4, err, sizeof(err)) == 2);
	CHECK(sa[0].ss.ss_family == AF_INET6 && sa[1].ss.ss_family == AF_INET);
	CHECK(addr_parse("unix:/tmp/s", &a, err, sizeof(err)) == 0);
	n = addr_resolve(&a, 0, sa, 4, err, sizeof(err));
	CHECK(n == 1);
	CHECK_STR(addr_format((struct sockaddr *)&sa[0].ss, sa[0].len, buf,
	    sizeof(buf)), "unix:/tmp/s");
	{
		/* A v4-mapped peer of a dual-stack listener prints as v4. */
		struct sockaddr_in6 s6;

		memset(&s6, 0, sizeof(s6));
		s6.sin6_family = AF_INET6;
		s6.sin6_port = htons(10);
		s6.sin6_addr.s6_addr[10] = 0xff;
		s6.sin6_addr.s6_addr[11] = 0xff;
		s6.sin6_addr.s6_addr[12] = 10;
		s6.sin6_addr.s6_addr[15] = 1;
		CHECK_STR(addr_format((struct sockaddr *)&s6, sizeof(s6), buf,
		    sizeof(buf)), "10.0.0.1:10");
	}
	return unit_done("test_addr");
}
