/* test_identity.c: allow-list and pin decisions. */
#include "autoconfig.h"
#include "identity.h"
#include "unit.h"

int
main(void)
{
	struct strlist cn = { 0 }, dns = { 0 }, uri = { 0 }, ou = { 0 };
	struct allow_lists al = { &cn, &dns, &uri, &ou };
	struct peer_names pn = { 0 };
	char why[256] = "";
	unsigned char pins[2][PIN_LEN], d[PIN_LEN];

	/* No list: everyone verified is allowed. */
	pn.cn[pn.ncn++] = "client1";
	CHECK(!identity_any_list(&al));
	CHECK(identity_allowed(&al, &pn, why, sizeof(why)) == 1);

	/* CN exact and case-sensitive. */
	strlist_add(&cn, "client1");
	CHECK(identity_allowed(&al, &pn, why, sizeof(why)) == 1);
	pn.cn[0] = "Client1";
	CHECK(identity_allowed(&al, &pn, why, sizeof(why)) == 0);
	CHECK_STR(why, "not in allow_cn");
	pn.cn[0] = "client1x";
	CHECK(identity_allowed(&al, &pn, why, sizeof(why)) == 0);

	/* Any entry of any list is enough; the reason names every list. */
	strlist_add(&dns, "App.Example.com");
	CHECK(identity_allowed(&al, &pn, why, sizeof(why)) == 0);
	CHECK_STR(why, "not in allow_cn/allow_dns");
	pn.dns[pn.ndns++] = "app.example.COM";	/* DNS: case-insensitive */
	CHECK(identity_allowed(&al, &pn, why, sizeof(why)) == 1);
	pn.ndns = 0;

	strlist_add(&uri, "spiffe://x/a");
	pn.uri[pn.nuri++] = "spiffe://x/A";		/* URI: exact */
	CHECK(identity_allowed(&al, &pn, why, sizeof(why)) == 0);
	pn.uri[0] = "spiffe://x/a";
	CHECK(identity_allowed(&al, &pn, why, sizeof(why)) == 1);
	pn.nuri = 0;

	strlist_add(&ou, "ops");
	pn.ou[pn.nou++] = "ops";
	CHECK(identity_allowed(&al, &pn, why, sizeof(why)) == 1);
	pn.nou = 0;
	CHECK(identity_allowed(&al, &pn, why, sizeof(why)) == 0);
	CHECK_STR(why, "not in allow_cn/allow_dns/allow_uri/"
	    "allow_ou");

	/* A peer without names never matches. */
	memset(&pn, 0, sizeof(pn));
	CHECK(identity_allowed(&al, &pn, why, sizeof(why)) == 0);

	/* Pins. */
	memset(pins, 0, sizeof(pins));
	pins[1][31] = 7;
	memset(d, 0, sizeof(d));
	CHECK(identity_pin_match((const unsigned char (*)[PIN_LEN])pins, 2,
	    d));
	d[31] = 7;
	CHECK(identity_pin_match((const unsigned char (*)[PIN_LEN])pins, 2,
	    d));
	d[0] = 1;
	CHECK(!identity_pin_match((const unsigned char (*)[PIN_LEN])pins, 2,
	    d));
	CHECK(!identity_pin_match((const unsigned char (*)[PIN_LEN])pins, 0,
	    d));

	strlist_free(&cn);
	strlist_free(&dns);
	strlist_free(&uri);
	strlist_free(&ou);
	return unit_done("test_identity");
}
