/* identity.c: allow-list and pin decisions. */
#include "autoconfig.h"
#include "identity.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int
identity_any_list(const struct allow_lists *al)
{
	return (al->cn && al->cn->n) || (al->dns && al->dns->n) ||
	    (al->uri && al->uri->n) || (al->ou && al->ou->n);
}

static int
in_list(const struct strlist *l, const char *const *names, size_t n,
    int nocase)
{
	if (l == NULL)
		return 0;
	for (size_t i = 0; i < l->n; i++)
		for (size_t j = 0; j < n; j++)
			if (names[j] != NULL && (nocase ?
			    strcasecmp(l->v[i], names[j]) == 0 :
			    strcmp(l->v[i], names[j]) == 0))
				return 1;
	return 0;
}

int
identity_allowed(const struct allow_lists *al, const struct peer_names *pn,
    char *reason, size_t len)
{
	const struct {
		const struct strlist *l;
		const char *name;
	} lists[] = {
		{ al->cn, "allow_cn" }, { al->dns, "allow_dns" },
		{ al->uri, "allow_uri" }, { al->ou, "allow_ou" },
	};
	size_t off;

	if (!identity_any_list(al))
		return 1;
	if (in_list(al->cn, pn->cn, pn->ncn, 0) ||
	    in_list(al->dns, pn->dns, pn->ndns, 1) ||
	    in_list(al->uri, pn->uri, pn->nuri, 0) ||
	    in_list(al->ou, pn->ou, pn->nou, 0))
		return 1;
	off = (size_t)snprintf(reason, len, "not in ");
	for (size_t i = 0, first = 1; i < 4 && off < len; i++) {
		if (lists[i].l == NULL || lists[i].l->n == 0)
			continue;
		off += (size_t)snprintf(reason + off, len - off, "%s%s",
		    first ? "" : "/", lists[i].name);
		first = 0;
	}
	return 0;
}

int
identity_pin_match(const unsigned char (*pins)[PIN_LEN], size_t npins,
    const unsigned char digest[PIN_LEN])
{
	int found = 0;

	for (size_t i = 0; i < npins; i++) {
		unsigned char d = 0;

		for (size_t j = 0; j < PIN_LEN; j++)
			d |= pins[i][j] ^ digest[j];
		found |= (d == 0);
	}
	return found;
}
