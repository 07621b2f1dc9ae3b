/* keys.c: the key table and the typed setters shared by the config file and
 * the command line. */
#include "autoconfig.h"
#include "keys.h"
#include "config.h"

#include <ctype.h>
#include <libconfig.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const mode_choices[] = { "client", "server", "bridge",
	NULL };
static const char *const verify_choices[] = { "require", "optional", "none",
	NULL };
static const char *const proxy_choices[] = { "off", "v1", "v2", NULL };
static const char *const level_choices[] = { "error", "warning", "notice",
	"info", "debug", NULL };

#define G(f) KS_GLOBAL, offsetof(struct conf, f)
#define S(f) KS_SERVICE, offsetof(struct service_conf, f)
#define T(f) KS_TLS, offsetof(struct tls_conf, f)
#define YEAR (365.0 * 86400)

const struct key keys[KEYS_COUNT] = {
	{ K_LOG, "log", KT_STRING, G(log), NULL, 0, 0, 0 },
	{ K_LOG_LEVEL, "log_level", KT_ENUM, G(log_level), level_choices,
	  0, 0, 0 },
	{ K_PID_FILE, "pid_file", KT_STRING, G(pid_file), NULL, 0, 0, 0 },
	{ K_USER, "user", KT_STRING, G(user), NULL, 0, 0, 0 },
	{ K_GROUP, "group", KT_STRING, G(group), NULL, 0, 0, 0 },
	{ K_CHROOT, "chroot", KT_STRING, G(chroot), NULL, 0, 0, 0 },
	{ K_INCLUDE_DIR, "include_dir", KT_STRING, G(include_dir), NULL,
	  0, 0, 0 },
	{ K_GMAX_CONNECTIONS, "max_connections", KT_INT, G(max_connections),
	  NULL, 1, 1000000, 0 },
	{ K_WORKERS, "workers", KT_INT, G(workers), NULL, 1, 64, 0 },
	{ K_SHUTDOWN_TIMEOUT, "shutdown_timeout", KT_NUMBER,
	  G(shutdown_timeout), NULL, 0, YEAR, 0 },
	{ K_METRICS, "metrics", KT_STRING, G(metrics), NULL, 0, 0, 0 },
	{ K_SANDBOX, "sandbox", KT_BOOL, G(sandbox), NULL, 0, 0, 0 },
	{ K_GUNIX_MODE, "unix_mode", KT_STRING, G(unix_mode), NULL, 0, 0, 0 },
	{ K_GUNIX_GROUP, "unix_group", KT_STRING, G(unix_group), NULL, 0, 0,
	  0 },

	{ K_NAME, "name", KT_STRING, S(name), NULL, 0, 0, M_ALL },
	{ K_MODE, "mode", KT_ENUM, S(mode), mode_choices, 0, 0, M_ALL },
	{ K_ACCEPT, "accept", KT_STRING, S(accept), NULL, 0, 0, M_ALL },
	{ K_CONNECT, "connect", KT_STRLIST, S(connect), NULL, 0, 0, M_ALL },
	{ K_OCSP_RESPONSE, "ocsp_response", KT_STRING, S(ocsp_response),
	  NULL, 0, 0, M_SERVER | M_BRIDGE },
	{ K_TICKET_KEY_FILE, "ticket_key_file", KT_STRING,
	  S(ticket_key_file), NULL, 0, 0, M_SERVER | M_BRIDGE },
	{ K_PROXY_PROTOCOL, "proxy_protocol", KT_ENUM, S(proxy_protocol),
	  proxy_choices, 0, 0, M_ALL },
	{ K_ACCEPT_PROXY, "accept_proxy", KT_BOOL, S(accept_proxy), NULL,
	  0, 0, M_ALL },
	{ K_ACCEPT_PROXY_FROM, "accept_proxy_from", KT_STRLIST,
	  S(accept_proxy_from), NULL, 0, 0, M_ALL },
	{ K_TIMEOUT_CONNECT, "timeout_connect", KT_NUMBER, S(timeout_connect),
	  NULL, 0.001, YEAR, M_ALL },
	{ K_TIMEOUT_HANDSHAKE, "timeout_handshake", KT_NUMBER,
	  S(timeout_handshake), NULL, 0.001, YEAR, M_ALL },
	{ K_TIMEOUT_IDLE, "timeout_idle", KT_NUMBER, S(timeout_idle), NULL,
	  0.001, YEAR, M_ALL },
	{ K_TCP_KEEPALIVE, "tcp_keepalive", KT_INT, S(tcp_keepalive), NULL,
	  0, TCP_KEEPALIVE_MAX, M_ALL },
	{ K_MAX_CONNECTIONS, "max_connections", KT_INT, S(max_connections),
	  NULL, 1, 1000000, M_ALL },
	{ K_SESSION_RESUMPTION, "session_resumption", KT_BOOL,
	  S(session_resumption), NULL, 0, 0, M_ALL },
	{ K_UNIX_MODE, "unix_mode", KT_STRING, S(unix_mode), NULL, 0, 0,
	  M_ALL },
	{ K_UNIX_GROUP, "unix_group", KT_STRING, S(unix_group), NULL, 0, 0,
	  M_ALL },
	{ K_UPSTREAM, "upstream", KT_GROUP, S(upstream), NULL, 0, 0,
	  M_BRIDGE },

	{ K_CERT, "cert", KT_STRING, T(cert), NULL, 0, 0, M_ALL },
	{ K_KEY, "key", KT_STRING, T(key), NULL, 0, 0, M_ALL },
	{ K_CA, "ca", KT_STRING, T(ca), NULL, 0, 0, M_ALL },
	{ K_CRL, "crl", KT_STRING, T(crl), NULL, 0, 0, M_ALL },
	{ K_VERIFY, "verify", KT_ENUM, T(verify), verify_choices, 0, 0,
	  M_ALL },
	{ K_VERIFY_NAME, "verify_name", KT_STRING, T(verify_name), NULL,
	  0, 0, M_CLIENT | M_BRIDGE },
	{ K_SNI, "sni", KT_STRING, T(sni), NULL, 0, 0, M_CLIENT | M_BRIDGE },
	{ K_ALLOW_CN, "allow_cn", KT_STRLIST, T(allow_cn), NULL, 0, 0, M_ALL },
	{ K_ALLOW_DNS, "allow_dns", KT_STRLIST, T(allow_dns), NULL, 0, 0,
	  M_ALL },
	{ K_ALLOW_URI, "allow_uri", KT_STRLIST, T(allow_uri), NULL, 0, 0,
	  M_ALL },
	{ K_ALLOW_OU, "allow_ou", KT_STRLIST, T(allow_ou), NULL, 0, 0, M_ALL },
	{ K_PIN_SHA256, "pin_sha256", KT_STRLIST, T(pin_sha256), NULL, 0, 0,
	  M_ALL },
	{ K_PRIORITY, "priority", KT_STRING, T(priority), NULL, 0, 0, M_ALL },
	{ K_ALPN, "alpn", KT_STRLIST, T(alpn), NULL, 0, 0, M_ALL },
	{ K_PSK_FILE, "psk_file", KT_STRING, T(psk_file), NULL, 0, 0, M_ALL },
	{ K_PSK_IDENTITY, "psk_identity", KT_STRING, T(psk_identity), NULL,
	  0, 0, M_CLIENT | M_BRIDGE },
};

/* Whether a key of scope k may be set where scope applies. */
static int
usable(const struct key *k, enum key_scope scope)
{
	return k->scope == scope || (scope == KS_SERVICE && k->scope == KS_TLS);
}

/* Optimal string alignment distance (Levenshtein plus adjacent
 * transpositions), capped: names are short. */
static size_t
distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), d[34][34];

	if (la > 32 || lb > 32)
		return 99;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1], v;

			v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[la][lb];
}

const char *
key_suggest(const char *name, enum key_scope scope)
{
	static const char services[] = "services";
	char norm[64];
	const char *best = NULL;
	size_t n = strlen(name), bestd, max;

	if (n >= sizeof(norm))
		return NULL;
	/* --allow-cn and Allow_CN are near misses too. */
	for (size_t i = 0; i <= n; i++)
		norm[i] = name[i] == '-' ? '_' : (char)tolower(
		    (unsigned char)name[i]);
	max = n <= 4 ? 1 : n < 12 ? 2 : 3;
	bestd = max + 1;
	for (size_t i = 0; i < KEYS_COUNT; i++) {
		size_t d;

		if (!usable(&keys[i], scope))
			continue;
		d = distance(norm, keys[i].name);
		if (d < bestd) {
			bestd = d;
			best = keys[i].name;
		}
	}
	if (scope == KS_GLOBAL && distance(norm, services) < bestd)
		best = services;
	return best;
}

const struct key *
key_find(const char *name, enum key_scope scope)
{
	for (size_t i = 0; i < KEYS_COUNT; i++) {
		const struct key *k = &keys[i];

		if (strcmp(k->name, name) == 0 && usable(k, scope))
			return k;
	}
	return NULL;
}

#define FIELD(base, k, type) ((type *)(void *)((char *)(base) + (k)->off))
#define CFIELD(base, k, type) \
	((const type *)(const void *)((const char *)(base) + (k)->off))

static int
store_string(const struct key *k, void *base, const char *v, char *err,
    size_t errlen)
{
	char **dst = FIELD(base, k, char *);

	if (*v == '\0' && k->id != K_INCLUDE_DIR) {
		snprintf(err, errlen, "must not be empty");
		return -1;
	}
	if (strlen(v) > 4096) {
		snprintf(err, errlen, "value too long");
		return -1;
	}
	free(*dst);
	*dst = xstrdup(v);
	return 0;
}

static int
store_list_item(const struct key *k, void *base, const char *v, char *err,
    size_t errlen)
{
	struct strlist *l = FIELD(base, k, struct strlist);

	if (*v == '\0') {
		snprintf(err, errlen, "list entries must not be empty");
		return -1;
	}
	if (strlen(v) > 4096 || l->n >= 1024) {
		snprintf(err, errlen, "value too long");
		return -1;
	}
	strlist_add(l, v);
	return 0;
}

static int
store_enum(const struct key *k, void *base, const char *v, char *err,
    size_t errlen)
{
	size_t n = 0, len = 0;

	for (const char *const *c = k->choices; *c; c++, n++)
		if (strcmp(*c, v) == 0) {
			*FIELD(base, k, int) = (int)n;
			return 0;
		}
	len = (size_t)snprintf(err, errlen, "must be one of");
	for (const char *const *c = k->choices; *c && len < errlen; c++)
		len += (size_t)snprintf(err + len, errlen - len, " \"%s\"", *c);
	return -1;
}

static int
store_number(const struct key *k, void *base, double v, char *err,
    size_t errlen)
{
	if (!(v >= k->min && v <= k->max) || !isfinite(v)) {
		if (k->type == KT_INT)
			snprintf(err, errlen, "must be an integer from %.0f to "
			    "%.0f%s", k->min, k->max, k->id == K_WORKERS ?
			    " or \"auto\"" : "");
		else
			snprintf(err, errlen, "must be a number from %g to %g",
			    k->min, k->max);
		return -1;
	}
	if (k->type == KT_INT)
		*FIELD(base, k, int) = (int)v;
	else
		*FIELD(base, k, double) = v;
	return 0;
}

int
key_set_string(const struct key *k, void *base, const char *v, char *err,
    size_t errlen)
{
	char *end;
	double d;

	switch (k->type) {
	case KT_STRING:
		return store_string(k, base, v, err, errlen);
	case KT_STRLIST:
		return store_list_item(k, base, v, err, errlen);
	case KT_ENUM:
		return store_enum(k, base, v, err, errlen);
	case KT_BOOL:
		if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
		    !strcmp(v, "1") || !strcasecmp(v, "on"))
			*FIELD(base, k, int) = 1;
		else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") ||
		    !strcmp(v, "0") || !strcasecmp(v, "off"))
			*FIELD(base, k, int) = 0;
		else {
			snprintf(err, errlen, "must be true or false");
			return -1;
		}
		return 0;
	case KT_INT:
	case KT_NUMBER:
		if (k->id == K_WORKERS && strcmp(v, "auto") == 0) {
			*FIELD(base, k, int) = WORKERS_AUTO;
			return 0;
		}
		d = strtod(v, &end);
		if (*v == '\0' || *end != '\0' ||
		    (k->type == KT_INT && d != floor(d))) {
			/* workers: the message that names "auto" */
			if (k->id == K_WORKERS)
				return store_number(k, base, NAN, err, errlen);
			snprintf(err, errlen, "must be %s",
			    k->type == KT_INT ? "an integer" : "a number");
			return -1;
		}
		return store_number(k, base, d, err, errlen);
	case KT_GROUP:
		break;
	}
	snprintf(err, errlen, "cannot be given on the command line");
	return -1;
}

static const char *
type_name(enum key_type t)
{
	switch (t) {
	case KT_STRING: return "a string";
	case KT_STRLIST: return "a string or a list of strings";
	case KT_INT: return "an integer";
	case KT_NUMBER: return "a number";
	case KT_BOOL: return "true or false";
	case KT_ENUM: return "a string";
	case KT_GROUP: return "a group";
	}
	return "?";
}

int
key_set_setting(const struct key *k, void *base,
    const struct config_setting_t *cs, char *err, size_t errlen)
{
	config_setting_t *s = (config_setting_t *)cs;
	int t = config_setting_type(s);

	switch (k->type) {
	case KT_STRING:
	case KT_ENUM:
		if (t != CONFIG_TYPE_STRING)
			break;
		return key_set_string(k, base, config_setting_get_string(s),
		    err, errlen);
	case KT_STRLIST:
		strlist_free(FIELD(base, k, struct strlist));
		if (t == CONFIG_TYPE_STRING)
			return store_list_item(k, base,
			    config_setting_get_string(s), err, errlen);
		if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
			break;
		for (int i = 0; i < config_setting_length(s); i++) {
			config_setting_t *e = config_setting_get_elem(s,
			    (unsigned)i);

			if (config_setting_type(e) != CONFIG_TYPE_STRING) {
				snprintf(err, errlen, "must be %s",
				    type_name(k->type));
				return -1;
			}
			if (store_list_item(k, base,
			    config_setting_get_string(e), err, errlen) == -1)
				return -1;
		}
		if (config_setting_length(s) == 0) {
			snprintf(err, errlen, "must not be an empty list");
			return -1;
		}
		return 0;
	case KT_BOOL:
		if (t != CONFIG_TYPE_BOOL)
			break;
		*FIELD(base, k, int) = config_setting_get_bool(s);
		return 0;
	case KT_INT:
		if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
			return store_number(k, base,
			    (double)config_setting_get_int64(s), err, errlen);
		if (k->id == K_WORKERS && t == CONFIG_TYPE_STRING)
			return key_set_string(k, base,
			    config_setting_get_string(s), err, errlen);
		break;
	case KT_NUMBER:
		if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
			return store_number(k, base,
			    (double)config_setting_get_int64(s), err, errlen);
		if (t == CONFIG_TYPE_FLOAT)
			return store_number(k, base,
			    config_setting_get_float(s), err, errlen);
		break;
	case KT_GROUP:
		if (t == CONFIG_TYPE_GROUP)
			return 0;
		break;
	}
	snprintf(err, errlen, "must be %s%s", type_name(k->type),
	    k->id == K_WORKERS ? " or \"auto\"" : "");
	return -1;
}

int
key_is_set(const struct key *k, const void *base)
{
	if (k->type == KT_STRING)
		return *CFIELD(base, k, char *) != NULL;
	if (k->type == KT_STRLIST)
		return CFIELD(base, k, struct strlist)->n > 0;
	if (k->type == KT_INT)	/* 0 below the minimum means "not set" */
		return *CFIELD(base, k, int) >= k->min ||
		    (k->id == K_WORKERS && *CFIELD(base, k, int) ==
		    WORKERS_AUTO);
	return 1;
}

static void
dump_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

void
key_dump(const struct key *k, const void *base, FILE *out, const char *indent)
{
	const struct strlist *l;
	char num[64];

	if (!key_is_set(k, base) || k->type == KT_GROUP)
		return;
	fprintf(out, "%s%s = ", indent, k->name);
	switch (k->type) {
	case KT_STRING:
		if (k->id == K_KEY && strstr(*CFIELD(base, k, char *),
		    "pin-value=")) {
			/* A PIN is never printed, not even by -T: use
			 * pin-source=file: in configurations to dump. */
			const char *v = *CFIELD(base, k, char *);
			const char *p = strstr(v, "pin-value=") + 10;
			const char *end = strchr(p, ';');
			char *red = xmalloc(strlen(v) + 4);

			snprintf(red, strlen(v) + 4, "%.*s***%s", (int)(p - v), v,
			    end ? end : "");
			dump_quoted(out, red);
			free(red);
		} else {
			dump_quoted(out, *CFIELD(base, k, char *));
		}
		break;
	case KT_STRLIST:
		l = CFIELD(base, k, struct strlist);
		fputs("[ ", out);
		for (size_t i = 0; i < l->n; i++) {
			if (i)
				fputs(", ", out);
			dump_quoted(out, l->v[i]);
		}
		fputs(" ]", out);
		break;
	case KT_ENUM:
		dump_quoted(out, k->choices[*CFIELD(base, k, int)]);
		break;
	case KT_BOOL:
		fputs(*CFIELD(base, k, int) ? "true" : "false", out);
		break;
	case KT_INT:
		/* "auto" stays "auto": the dump is for this or any host. */
		if (k->id == K_WORKERS && *CFIELD(base, k, int) ==
		    WORKERS_AUTO)
			fputs("\"auto\"", out);
		else
			fprintf(out, "%d", *CFIELD(base, k, int));
		break;
	case KT_NUMBER:
		snprintf(num, sizeof(num), "%.15g", *CFIELD(base, k, double));
		if (strpbrk(num, ".e") == NULL)
			strcat(num, ".0");
		fputs(num, out);
		break;
	case KT_GROUP:
		break;
	}
	fputs(";\n", out);
}

void
key_list(FILE *out)
{
	static const char *const scope[] = { "global", "service", "tls" };

	for (size_t i = 0; i < KEYS_COUNT; i++)
		fprintf(out, "%s\t%s\t%s\n", keys[i].name, scope[keys[i].scope],
		    type_name(keys[i].type));
}
