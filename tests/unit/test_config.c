/* test_config.c: the key table through libconfig: types, values, cross-key
 * rules, error messages and the -T round trip. */
#include "autoconfig.h"
#include "config.h"
#include "unit.h"

#include <stdlib.h>

#define SRV "name = \"s\"; mode = \"server\"; accept = \"127.0.0.1:1\"; " \
	"connect = \"127.0.0.1:2\"; cert = \"c\"; key = \"k\"; ca = \"ca\";"

static char *errtext;

/* Parse and validate text; returns the error count, messages in errtext. */
static int
load(const char *text, struct conf **out)
{
	size_t len;
	FILE *err;
	struct conf *c = conf_new();
	int n;

	free(errtext);
	errtext = NULL;
	err = open_memstream(&errtext, &len);
	n = conf_parse_string(text, "t.conf", c, err);
	if (n == 0)
		n = conf_validate(c, err);
	fclose(err);
	if (out)
		*out = c;
	else
		conf_free(c);
	return n;
}

static int
has(const char *needle)
{
	if (errtext && strstr(errtext, needle))
		return 1;
	fprintf(stderr, "expected \"%s\" in: %s\n", needle,
	    errtext ? errtext : "(nothing)");
	return 0;
}

static char *
dump(struct conf *c)
{
	char *text = NULL;
	size_t len;
	FILE *f = open_memstream(&text, &len);

	conf_dump(c, f);
	fclose(f);
	return text;
}

int
main(void)
{
	struct conf *c;
	char *d1, *d2;

	/* A valid service with defaults filled in. */
	CHECK(load("services = ( { " SRV " } );", &c) == 0);
	CHECK(c->nsvc == 1);
	CHECK(c->svc[0].mode == MODE_SERVER);
	CHECK(c->svc[0].tls.verify == VERIFY_REQUIRE);
	CHECK(c->svc[0].timeout_idle == 43200);
	CHECK(c->svc[0].tcp_keepalive == 300);
	CHECK(c->workers == 1);
	CHECK(c->svc[0].timeout_handshake == 10);
	CHECK(c->max_connections == 10000);
	CHECK(c->svc[0].connect.n == 1);
	conf_free(c);

	/* Lists: a string, an array, a list. */
	CHECK(load("services = ( { " SRV " allow_cn = [\"a\", \"b\"]; "
	    "allow_ou = (\"x\"); allow_dns = \"d\"; } );", &c) == 0);
	CHECK(c->svc[0].tls.allow_cn.n == 2);
	CHECK(c->svc[0].tls.allow_ou.n == 1);
	CHECK(c->svc[0].tls.allow_dns.n == 1);
	conf_free(c);
	CHECK(load("services = ( { " SRV " allow_cn = []; } );", NULL) == 1);
	CHECK(has("allow_cn: must not be an empty list"));
	CHECK(load("services = ( { " SRV " allow_cn = [1]; } );", NULL) >= 1);

	/* Unknown keys, with file and line. */
	CHECK(load("bogus = 1;\nservices = ( { " SRV " } );", NULL) == 1);
	CHECK(has("t.conf:1: bogus: unknown key"));
	CHECK(load("services = (\n{ " SRV "\n frobnicate = 1; } );", NULL) == 1);
	CHECK(has("t.conf:3: frobnicate: unknown key"));

	/* Types and values. */
	CHECK(load("services = ( { " SRV " timeout_idle = \"x\"; } );",
	    NULL) == 1);
	CHECK(has("timeout_idle: must be a number"));
	CHECK(load("services = ( { " SRV " timeout_idle = 2.5; } );",
	    NULL) == 0);
	CHECK(load("services = ( { " SRV " timeout_idle = 0; } );", NULL) == 1);
	CHECK(load("services = ( { " SRV " max_connections = 0; } );",
	    NULL) == 1);
	CHECK(has("max_connections: must be an integer from 1"));
	CHECK(load("max_connections = 1.5; services = ( { " SRV " } );",
	    NULL) == 1);
	CHECK(load("log_level = \"loud\"; services = ( { " SRV " } );",
	    NULL) == 1);
	CHECK(has("log_level: must be one of"));
	CHECK(load("services = ( { " SRV " verify = \"maybe\"; } );",
	    NULL) == 1);
	CHECK(has("verify: must be one of \"require\" \"optional\" \"none\""));
	CHECK(load("services = ( { name = \"s\"; mode = \"sideways\"; } );",
	    NULL) >= 1);
	CHECK(has("mode: must be one of"));
	CHECK(load("services = ( { " SRV " accept_proxy = 1; } );", NULL) == 1);
	CHECK(has("accept_proxy: must be true or false"));
	CHECK(load("services = ( { " SRV " crl = \"\"; } );", NULL) == 1);
	CHECK(has("crl: must not be empty"));

	/* Addresses. */
	CHECK(load("services = ( { name = \"s\"; mode = \"server\"; "
	    "accept = \"nowhere\"; connect = \"127.0.0.1:2\"; cert = \"c\"; "
	    "key = \"k\"; ca = \"ca\"; } );", NULL) == 1);
	CHECK(has("accept: \"nowhere\""));

	/* Required keys and cross-key rules. */
	CHECK(load("services = ( { name = \"s\"; mode = \"server\"; } );",
	    NULL) >= 2);
	CHECK(has("accept: required"));
	CHECK(has("connect: required"));
	CHECK(load("services = ( { name = \"s\"; mode = \"server\"; "
	    "accept = \":1\"; connect = \"127.0.0.1:2\"; cert = \"c\"; "
	    "key = \"k\"; } );", NULL) == 1);
	CHECK(has("verify: verify = \"require\" needs `ca`, `pin_sha256`"));
	CHECK(load("services = ( { name = \"s\"; mode = \"server\"; "
	    "accept = \":1\"; connect = \"127.0.0.1:2\"; cert = \"c\"; "
	    "key = \"k\"; verify = \"none\"; } );", NULL) == 0);
	CHECK(load("services = ( { name = \"s\"; mode = \"server\"; "
	    "accept = \":1\"; connect = \"127.0.0.1:2\"; ca = \"ca\"; } );",
	    NULL) == 1);
	CHECK(has("needs `cert` and `key`"));
	CHECK(load("services = ( { " SRV " sni = \"x\"; } );", NULL) == 1);
	CHECK(has("sni: not valid in server mode"));
	CHECK(load("services = ( { " SRV " pin_sha256 = \"abc\"; } );",
	    NULL) == 1);
	CHECK(has("is not the base64 of a SHA-256 digest"));
	CHECK(load("services = ( { " SRV " }, { " SRV " } );", NULL) == 1);
	CHECK(has("duplicate service name \"s\""));
	CHECK(load("services = ( { name = \"b\"; mode = \"bridge\"; "
	    "accept = \":1\"; connect = \"h:2\"; cert = \"c\"; key = \"k\"; "
	    "ca = \"ca\"; } );", NULL) == 1);
	CHECK(has("bridge mode needs an `upstream` group"));
	CHECK(load("services = ( { name = \"b\"; mode = \"bridge\"; "
	    "accept = \":1\"; connect = \"h:2\"; cert = \"c\"; key = \"k\"; "
	    "ca = \"ca\"; upstream = { ca = \"ca\"; mode = \"x\"; }; } );",
	    NULL) == 1);
	CHECK(has("mode: unknown key in upstream"));
	CHECK(load("services = ( { " SRV " upstream = { ca = \"x\"; }; } );",
	    NULL) == 1);
	CHECK(has("upstream: not valid in server mode"));
	CHECK(load("services = ( { name = \"bad name\"; mode = \"client\"; "
	    "accept = \":1\"; connect = \"h:2\"; ca = \"ca\"; } );", NULL) == 1);
	CHECK(load("", NULL) == 1);
	CHECK(has("no service defined"));
	CHECK(load("services = ( { " SRV " ", NULL) == 1);
	CHECK(has("syntax error"));

	/* -T: the dump parses back into the same dump. */
	CHECK(load("log_level = \"info\"; services = ( { " SRV
	    " allow_cn = [\"a \\\"q\\\" b\"]; timeout_idle = 0.25; }, "
	    "{ name = \"b\"; mode = \"bridge\"; accept = \"[::1]:3\"; "
	    "connect = [\"h:2\", \"unix:/x\"]; cert = \"c\"; key = \"k\"; "
	    "ca = \"ca\"; upstream = { ca = \"ca2\"; sni = \"h\"; "
	    "alpn = \"x\"; }; } );", &c) == 0);
	d1 = dump(c);
	conf_free(c);
	CHECK(load(d1, &c) == 0);
	d2 = dump(c);
	conf_free(c);
	CHECK_STR(d1, d2);
	CHECK(strstr(d1, "include_dir = \"\";") != NULL);
	CHECK(strstr(d1, "verify = \"require\";") != NULL);
	free(d1);
	free(d2);
	free(errtext);
	return unit_done("test_config");
}
