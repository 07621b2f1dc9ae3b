/* config.c: libconfig text -> struct conf. Parsing goes through the key table
 * (keys.c); this file owns the file layout (main file + include_dir), the
 * cross-key rules, error reporting and the -T dump. */
#include "autoconfig.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "service.h"

#include <sched.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <gnutls/gnutls.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *
mode_name(int mode)
{
	static const char *const names[] = { "client", "server", "bridge" };

	return (mode >= 0 && mode <= 2) ? names[mode] : "?";
}

void
conf_report(FILE *err, const char *file, int line, const char *key,
    const char *fmt, ...)
{
	va_list ap;

	fprintf(err, "sheath: %s", file ? file : "command line");
	if (line > 0)
		fprintf(err, ":%d", line);
	if (key != NULL)
		fprintf(err, ": %s", key);
	fputs(": ", err);
	va_start(ap, fmt);
	vfprintf(err, fmt, ap);
	va_end(ap);
	fputc('\n', err);
}

struct conf *
conf_new(void)
{
	struct conf *c = xcalloc(1, sizeof(*c));

	c->log_level = LOG_NOTICE - LOG_ERR;
	c->max_connections = 10000;
	c->workers = 1;
	c->shutdown_timeout = 30;
	c->sandbox = 1;
	c->unix_mode = xstrdup(UNIX_MODE_DEFAULT);
	c->metrics_perm.mode = 0660;
	c->metrics_perm.gid = (gid_t)-1;
	return c;
}

static void
tls_conf_free(struct tls_conf *t)
{
	free(t->cert);
	free(t->key);
	free(t->ca);
	free(t->crl);
	free(t->verify_name);
	free(t->sni);
	free(t->priority);
	free(t->psk_file);
	free(t->psk_identity);
	strlist_free(&t->allow_cn);
	strlist_free(&t->allow_dns);
	strlist_free(&t->allow_uri);
	strlist_free(&t->allow_ou);
	strlist_free(&t->pin_sha256);
	strlist_free(&t->alpn);
}

void
conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nsvc; i++) {
		struct service_conf *s = &c->svc[i];

		free(s->name);
		free(s->accept);
		strlist_free(&s->connect);
		strlist_free(&s->accept_proxy_from);
		free(s->proxy_from);
		tls_conf_free(&s->tls);
		tls_conf_free(&s->upstream);
		free(s->ocsp_response);
		free(s->ticket_key_file);
		free(s->unix_mode);
		free(s->unix_group);
		free(s->file);
	}
	free(c->svc);
	free(c->file);
	free(c->log);
	free(c->pid_file);
	free(c->user);
	free(c->group);
	free(c->chroot);
	free(c->include_dir);
	free(c->metrics);
	free(c->unix_mode);
	free(c->unix_group);
	free(c);
}

struct service_conf *
conf_add_service(struct conf *c, const char *file, int line)
{
	struct service_conf *s;

	c->svc = xrealloc(c->svc, (c->nsvc + 1) * sizeof(*c->svc));
	s = &c->svc[c->nsvc++];
	memset(s, 0, sizeof(*s));
	s->mode = -1;
	s->tls.verify = VERIFY_REQUIRE;
	s->upstream.verify = VERIFY_REQUIRE;
	s->timeout_connect = 10;
	s->timeout_handshake = 10;
	s->timeout_idle = 43200;	/* stunnel's 12 h */
	s->tcp_keepalive = TCP_KEEPALIVE_DEFAULT;
	s->proxy_protocol = PROXY_OFF;
	s->session_resumption = 1;
	s->unix_mode = xstrdup(UNIX_MODE_DEFAULT);
	s->unix_perm.mode = 0660;
	s->unix_perm.gid = (gid_t)-1;
	s->file = xstrdup(file ? file : "command line");
	s->def_line = line;
	return s;
}

/* "unknown key", naming the key meant when it is a near miss, or where a
 * key of another level belongs. */
static void
report_unknown(FILE *err, const char *file, int line, const char *name,
    enum key_scope scope)
{
	const char *near = key_suggest(name, scope);
	const char *where = scope == KS_TLS ? " in upstream" : "";

	if (scope != KS_GLOBAL && key_find(name, KS_GLOBAL))
		conf_report(err, file, line, name, "unknown key%s (a global "
		    "key: set it outside `services`)", where);
	else if (scope == KS_GLOBAL && key_find(name, KS_SERVICE))
		conf_report(err, file, line, name, "unknown key (a service "
		    "key: set it in a service of `services`)");
	else if (near != NULL)
		conf_report(err, file, line, name, "unknown key%s (did you "
		    "mean %s?)", where, near);
	else
		conf_report(err, file, line, name, "unknown key%s", where);
}

/* Parse the children of a group through the key table. */
static int
parse_group(config_setting_t *g, enum key_scope scope, void *base,
    int *lines, const char *file, FILE *err, struct service_conf *svc)
{
	int nerr = 0;
	char why[256];

	for (int i = 0; i < config_setting_length(g); i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		int line = (int)config_setting_source_line(s);
		const struct key *k;

		if (name == NULL)
			continue;
		k = key_find(name, scope);
		if (k == NULL) {
			report_unknown(err, file, line, name, scope);
			nerr++;
			continue;
		}
		if (k->type == KT_GROUP) {
			/* Only `upstream` is a group. */
			if (key_set_setting(k, base, s, why, sizeof(why))) {
				conf_report(err, file, line, name, "%s", why);
				nerr++;
				continue;
			}
			svc->has_upstream = 1;
			svc->line[k->id] = line;
			nerr += parse_group(s, KS_TLS, &svc->upstream,
			    svc->upstream.line, file, err, svc);
			continue;
		}
		if (key_set_setting(k, k->scope == KS_TLS && scope == KS_SERVICE
		    ? (void *)&svc->tls : base, s, why, sizeof(why)) == -1) {
			conf_report(err, file, line, name, "%s", why);
			nerr++;
			continue;
		}
		if (k->scope == KS_TLS && scope == KS_SERVICE)
			svc->tls.line[k->id] = line;
		else
			lines[k->id] = line ? line : -1;
	}
	return nerr;
}

static int
parse_services(config_setting_t *list, struct conf *c, const char *file,
    FILE *err)
{
	int nerr = 0;

	if (!config_setting_is_list(list)) {
		conf_report(err, file, (int)config_setting_source_line(list),
		    "services", "must be a list of groups: ( { ... }, ... )");
		return 1;
	}
	for (int i = 0; i < config_setting_length(list); i++) {
		config_setting_t *g = config_setting_get_elem(list,
		    (unsigned)i);
		int line = (int)config_setting_source_line(g), n;
		struct service_conf *s;

		if (!config_setting_is_group(g)) {
			conf_report(err, file, line, "services",
			    "each service must be a group { ... }");
			nerr++;
			continue;
		}
		s = conf_add_service(c, file, line);
		n = parse_group(g, KS_SERVICE, s, s->line, file, err, s);
		s->invalid = n > 0;
		nerr += n;
	}
	return nerr;
}

/* Parse one libconfig document; main files may hold globals. */
static int
parse_config(config_t *cfg, struct conf *c, const char *file, int is_main,
    FILE *err)
{
	config_setting_t *root = config_root_setting(cfg);
	int nerr = 0;

	for (int i = 0; i < config_setting_length(root); i++) {
		config_setting_t *s = config_setting_get_elem(root,
		    (unsigned)i);
		const char *name = config_setting_name(s);
		int line = (int)config_setting_source_line(s);

		if (strcmp(name, "services") == 0) {
			nerr += parse_services(s, c, file, err);
		} else if (!is_main) {
			conf_report(err, file, line, name, "an include_dir file "
			    "may hold only `services`");
			nerr++;
		} else {
			const struct key *k = key_find(name, KS_GLOBAL);
			char why[256];

			if (k == NULL) {
				report_unknown(err, file, line, name,
				    KS_GLOBAL);
				nerr++;
			} else if (key_set_setting(k, c, s, why,
			    sizeof(why)) == -1) {
				conf_report(err, file, line, name, "%s", why);
				nerr++;
			} else {
				c->line[k->id] = line ? line : -1;
			}
		}
	}
	return nerr;
}

static int
read_file(const char *path, struct conf *c, int is_main, FILE *err)
{
	config_t cfg;
	int nerr;

	config_init(&cfg);
	if (config_read_file(&cfg, path) != CONFIG_TRUE) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
			conf_report(err, path, 0, NULL, "cannot read: %s",
			    strerror(errno ? errno : EIO));
		else
			conf_report(err, config_error_file(&cfg) ?
			    config_error_file(&cfg) : path,
			    config_error_line(&cfg), NULL, "syntax error: %s",
			    config_error_text(&cfg));
		config_destroy(&cfg);
		c->syntax_error = 1;
		return 1;
	}
	nerr = parse_config(&cfg, c, path, is_main, err);
	config_destroy(&cfg);
	return nerr;
}

int
conf_parse_string(const char *text, const char *name, struct conf *c,
    FILE *err)
{
	config_t cfg;
	int nerr;

	config_init(&cfg);
	if (config_read_string(&cfg, text) != CONFIG_TRUE) {
		conf_report(err, name, config_error_line(&cfg), NULL,
		    "syntax error: %s", config_error_text(&cfg));
		config_destroy(&cfg);
		return 1;
	}
	nerr = parse_config(&cfg, c, name, 1, err);
	config_destroy(&cfg);
	return nerr;
}

static int
conf_file_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 5 &&
	    strcmp(d->d_name + n - 5, ".conf") == 0;
}

static int
read_include_dir(struct conf *c, const char *dir, FILE *err)
{
	struct dirent **ents;
	int n, nerr = 0;

	n = scandir(dir, &ents, conf_file_filter, alphasort);
	if (n == -1) {
		if (errno == ENOENT)
			return 0;
		conf_report(err, c->file, c->line[K_INCLUDE_DIR], "include_dir",
		    "cannot read directory %s: %s", dir, strerror(errno));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		nerr += read_file(path, c, 0, err);
		free(ents[i]);
	}
	free(ents);
	return nerr;
}

struct conf *
conf_read(const char *path, int foreground, FILE *err)
{
	struct conf *c = conf_new();
	char *dir;

	c->file = xstrdup(path);
	c->errors = read_file(path, c, 1, err);
	if (c->syntax_error) {
		conf_free(c);
		return NULL;
	}
	if (c->include_dir == NULL) {
		const char *slash = strrchr(path, '/');
		size_t len = slash ? (size_t)(slash - path) + 1 : 0;

		dir = xmalloc(len + sizeof("conf.d"));
		memcpy(dir, path, len);
		strcpy(dir + len, "conf.d");
	} else {
		dir = xstrdup(c->include_dir);
	}
	if (*dir != '\0')
		c->errors += read_include_dir(c, dir, err);
	free(dir);
	if (c->log == NULL)
		c->log = xstrdup(foreground ? "stderr" : "syslog");
	return c;
}

/* ---- validation ---------------------------------------------------------- */

static int
valid_service_name(const char *n)
{
	if (strlen(n) > 64)
		return 0;
	for (const char *p = n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		    *p == '.'))
			return 0;
	return 1;
}

static int
line_of(const struct service_conf *s, const struct tls_conf *t, int id)
{
	int l = t ? t->line[id] : s->line[id];

	return l > 0 ? l : s->def_line;
}

/* Checks on one TLS side. accept_side: this side accepts TLS (needs a
 * certificate unless PSK). */
static int
check_tls(const struct service_conf *s, const struct tls_conf *t,
    int accept_side, const char *label, FILE *err)
{
	int nerr = 0;
	const char *f = s->file;
	gnutls_datum_t in, out;

	if ((t->cert == NULL) != (t->key == NULL)) {
		conf_report(err, f, line_of(s, t, t->cert ? K_CERT : K_KEY),
		    t->cert ? "cert" : "key", "%s`cert` and `key` go together",
		    label);
		nerr++;
	}
	if (accept_side && t->cert == NULL && t->psk_file == NULL) {
		conf_report(err, f, s->def_line, "cert", "%sa TLS accept side "
		    "needs `cert` and `key` (or `psk_file`)", label);
		nerr++;
	}
	if (t->verify != VERIFY_NONE && t->ca == NULL &&
	    t->pin_sha256.n == 0 && t->psk_file == NULL) {
		conf_report(err, f, line_of(s, t, K_VERIFY), "verify",
		    "%sverify = \"%s\" needs `ca`, `pin_sha256` or "
		    "`psk_file` to verify the peer against", label,
		    t->verify == VERIFY_REQUIRE ? "require" : "optional");
		nerr++;
	}
	if (t->verify == VERIFY_NONE && (t->pin_sha256.n ||
	    t->allow_cn.n || t->allow_dns.n || t->allow_uri.n ||
	    t->allow_ou.n)) {
		conf_report(err, f, line_of(s, t, K_VERIFY), "verify",
		    "%sallow-lists and pin_sha256 are never checked with "
		    "verify = \"none\"", label);
		nerr++;
	}
	if (t->psk_identity != NULL && t->psk_file == NULL) {
		conf_report(err, f, line_of(s, t, K_PSK_IDENTITY),
		    "psk_identity", "%sneeds `psk_file`", label);
		nerr++;
	}
	if (t->crl != NULL && t->ca == NULL) {
		conf_report(err, f, line_of(s, t, K_CRL), "crl",
		    "%s`crl` needs `ca`", label);
		nerr++;
	}
	for (size_t i = 0; i < t->pin_sha256.n; i++) {
		/* GnuTLS leaves out untouched on some errors. */
		out.data = NULL;
		out.size = 0;
		in.data = (unsigned char *)t->pin_sha256.v[i];
		in.size = (unsigned)strlen(t->pin_sha256.v[i]);
		if (gnutls_base64_decode2(&in, &out) != 0 || out.size != 32) {
			conf_report(err, f, line_of(s, t, K_PIN_SHA256),
			    "pin_sha256", "%s\"%s\" is not the base64 of a "
			    "SHA-256 digest", label, t->pin_sha256.v[i]);
			nerr++;
		}
		if (out.data == NULL)
			continue;
		gnutls_free(out.data);
		out.data = NULL;
	}
	for (size_t i = 0; i < t->alpn.n; i++)
		if (strlen(t->alpn.v[i]) > 255) {
			conf_report(err, f, line_of(s, t, K_ALPN), "alpn",
			    "%sprotocol names are at most 255 bytes", label);
			nerr++;
		}
	if (t->verify_name != NULL && !accept_side && t->verify == VERIFY_NONE) {
		conf_report(err, f, line_of(s, t, K_VERIFY_NAME), "verify_name",
		    "%shas no effect with verify = \"none\"", label);
		nerr++;
	}
	return nerr;
}

/* unix_mode and unix_group into perm. mline/gline: where each was set (0:
 * not set); is_unix: whether the address they are for is a unix socket. */
static int
check_unix_perm(const char *file, const char *mode, int mline,
    const char *group, int gline, int is_unix, const char *addr_key,
    struct unix_perm *perm, FILE *err)
{
	int nerr = 0;
	char *end;
	unsigned long m = strtoul(mode, &end, 8);

	if (*mode < '0' || *mode > '7' || *end != '\0' || m > 0777 ||
	    strlen(mode) > 4) {
		conf_report(err, file, mline, "unix_mode", "\"%s\": must be an "
		    "octal mode from \"0000\" to \"0777\", such as \"0660\"",
		    mode);
		nerr++;
	} else {
		perm->mode = (mode_t)m;
	}
	if (group != NULL) {
		struct group *gr = getgrnam(group);
		unsigned long gid = strtoul(group, &end, 10);

		if (gr != NULL)
			perm->gid = gr->gr_gid;
		else if (*group >= '0' && *group <= '9' && *end == '\0')
			perm->gid = (gid_t)gid;
		else {
			conf_report(err, file, gline, "unix_group", "\"%s\": "
			    "no such group", group);
			nerr++;
		}
	}
	if (!is_unix && (mline != 0 || gline != 0)) {
		conf_report(err, file, mline != 0 ? mline : gline, mline != 0 ?
		    "unix_mode" : "unix_group", "applies only when `%s` is "
		    "a unix:/path socket", addr_key);
		nerr++;
	}
	return nerr;
}

/* A TLS connect side checks the server's name: it needs one to check. A
 * unix socket (or `:port`) target has no host, so verify_name or sni must
 * say which name the certificate must carry (a pin is its own anchor). */
static int
check_connect_name(const struct service_conf *s, FILE *err)
{
	const struct tls_conf *t = s->mode == MODE_CLIENT ? &s->tls :
	    s->mode == MODE_BRIDGE ? &s->upstream : NULL;

	if (t == NULL || t->verify == VERIFY_NONE || t->ca == NULL ||
	    t->verify_name || t->sni)
		return 0;
	for (int i = 0; i < s->nconnect; i++)
		if (s->connect_addr[i].kind == ADDR_UNIX ||
		    s->connect_addr[i].host[0] == '\0') {
			conf_report(err, s->file, line_of(s, NULL, K_CONNECT),
			    "connect", "\"%s\" has no host name to verify the "
			    "server certificate against: set verify_name",
			    s->connect.v[i]);
			return 1;
		}
	return 0;
}

/* accept_proxy_from: parsed once here, matched per connection. */
static int
check_proxy_from(struct service_conf *s, FILE *err)
{
	const struct strlist *l = &s->accept_proxy_from;
	int line = line_of(s, NULL, K_ACCEPT_PROXY_FROM), nerr = 0;
	char why[256];

	if (l->n == 0)
		return 0;
	if (!s->accept_proxy) {
		conf_report(err, s->file, line, "accept_proxy_from", "needs "
		    "accept_proxy = true");
		return 1;
	}
	free(s->proxy_from);
	s->proxy_from = xcalloc(l->n, sizeof(*s->proxy_from));
	s->nproxy_from = l->n;
	for (size_t i = 0; i < l->n; i++)
		if (addr_prefix_parse(l->v[i], &s->proxy_from[i], why,
		    sizeof(why)) == -1) {
			conf_report(err, s->file, line, "accept_proxy_from",
			    "%s", why);
			nerr++;
		}
	return nerr;
}

static int
validate_service(struct service_conf *s, FILE *err)
{
	int nerr = 0;
	char why[256];
	const char *f = s->file;

	if (s->name == NULL) {
		conf_report(err, f, s->def_line, "name", "every service needs "
		    "a name");
		nerr++;
	} else if (!valid_service_name(s->name)) {
		conf_report(err, f, line_of(s, NULL, K_NAME), "name",
		    "\"%s\": use at most 64 letters, digits, '-', '_', '.'",
		    s->name);
		nerr++;
	}
	if (s->mode < 0) {
		conf_report(err, f, s->def_line, "mode", "required (\"client\", "
		    "\"server\" or \"bridge\")");
		return nerr + 1;
	}
	/* Keys that do not apply to this mode. */
	for (size_t i = 0; i < KEYS_COUNT; i++) {
		const struct key *k = &keys[i];
		unsigned bit = 1u << s->mode;

		if (k->scope == KS_GLOBAL || (k->modes & bit))
			continue;
		if ((k->scope == KS_SERVICE && s->line[k->id]) ||
		    (k->scope == KS_TLS && s->tls.line[k->id])) {
			conf_report(err, f, k->scope == KS_SERVICE ?
			    line_of(s, NULL, k->id) : line_of(s, &s->tls,
			    k->id), k->name, "not valid in %s mode",
			    mode_name(s->mode));
			nerr++;
		}
	}
	if (s->mode == MODE_BRIDGE) {
		static const enum key_id connect_only[] = { K_VERIFY_NAME,
			K_SNI, K_PSK_IDENTITY };

		for (size_t i = 0; i < ARRAY_LEN(connect_only); i++)
			if (s->tls.line[connect_only[i]]) {
				conf_report(err, f, line_of(s, &s->tls,
				    connect_only[i]),
				    keys[connect_only[i]].name, "in bridge "
				    "mode this belongs in `upstream`");
				nerr++;
			}
		if (!s->has_upstream) {
			conf_report(err, f, s->def_line, "upstream", "bridge "
			    "mode needs an `upstream` group with the "
			    "connect-side TLS settings");
			nerr++;
		}
	}
	if (s->accept == NULL) {
		conf_report(err, f, s->def_line, "accept", "required");
		nerr++;
	} else if (addr_parse(s->accept, &s->accept_addr, why,
	    sizeof(why)) == -1) {
		conf_report(err, f, line_of(s, NULL, K_ACCEPT), "accept", "%s",
		    why);
		nerr++;
	} else {
		nerr += check_unix_perm(f, s->unix_mode, s->line[K_UNIX_MODE],
		    s->unix_group, s->line[K_UNIX_GROUP],
		    s->accept_addr.kind == ADDR_UNIX, "accept", &s->unix_perm,
		    err);
	}
	if (s->connect.n == 0) {
		conf_report(err, f, s->def_line, "connect", "required");
		nerr++;
	} else if (s->connect.n > MAX_CONNECT_ADDRS) {
		conf_report(err, f, line_of(s, NULL, K_CONNECT), "connect",
		    "at most %d addresses", MAX_CONNECT_ADDRS);
		nerr++;
	} else {
		for (size_t i = 0; i < s->connect.n; i++)
			if (addr_parse(s->connect.v[i], &s->connect_addr[i],
			    why, sizeof(why)) == -1) {
				conf_report(err, f, line_of(s, NULL, K_CONNECT),
				    "connect", "%s", why);
				nerr++;
			}
		s->nconnect = (int)s->connect.n;
	}
	nerr += check_connect_name(s, err);
	nerr += check_proxy_from(s, err);
	switch (s->mode) {
	case MODE_CLIENT:
		nerr += check_tls(s, &s->tls, 0, "", err);
		break;
	case MODE_SERVER:
		nerr += check_tls(s, &s->tls, 1, "", err);
		break;
	case MODE_BRIDGE:
		nerr += check_tls(s, &s->tls, 1, "", err);
		if (s->has_upstream)
			nerr += check_tls(s, &s->upstream, 0, "upstream: ",
			    err);
		break;
	}
	return nerr;
}

int
conf_validate(struct conf *c, FILE *err)
{
	int nerr = 0;
	const char *f = c->file;

	if (c->metrics != NULL) {
		struct addr_spec a;
		char why[256];

		if (addr_parse(c->metrics, &a, why, sizeof(why)) == -1) {
			conf_report(err, f, c->line[K_METRICS], "metrics", "%s",
			    why);
			nerr++;
		} else {
			nerr += check_unix_perm(f, c->unix_mode,
			    c->line[K_GUNIX_MODE], c->unix_group,
			    c->line[K_GUNIX_GROUP], a.kind == ADDR_UNIX,
			    "metrics", &c->metrics_perm, err);
		}
	} else {
		nerr += check_unix_perm(f, c->unix_mode, c->line[K_GUNIX_MODE],
		    c->unix_group, c->line[K_GUNIX_GROUP], 0, "metrics",
		    &c->metrics_perm, err);
	}
	if (c->log != NULL && strcmp(c->log, "stderr") != 0 &&
	    strcmp(c->log, "syslog") != 0 && c->log[0] != '/') {
		conf_report(err, f, c->line[K_LOG], "log", "\"%s\": must be "
		    "\"syslog\", \"stderr\" or an absolute file path", c->log);
		nerr++;
	}
	if (c->nsvc == 0) {
		conf_report(err, f, 0, "services", "no service defined");
		nerr++;
	}
	for (size_t i = 0; i < c->nsvc; i++) {
		int n = validate_service(&c->svc[i], err);

		c->svc[i].invalid |= n > 0;
		nerr += n;
		for (size_t j = 0; j < i && c->svc[i].name; j++)
			if (c->svc[j].name &&
			    strcmp(c->svc[i].name, c->svc[j].name) == 0) {
				conf_report(err, c->svc[i].file,
				    line_of(&c->svc[i], NULL, K_NAME), "name",
				    "duplicate service name \"%s\" (first "
				    "defined at %s:%d)", c->svc[i].name,
				    c->svc[j].file,
				    line_of(&c->svc[j], NULL, K_NAME));
				nerr++;
			}
	}
	return nerr;
}

int
conf_workers(const struct conf *c)
{
	cpu_set_t set;
	int n;

	if (c->workers != WORKERS_AUTO)
		return c->workers;
	if (sched_getaffinity(0, sizeof(set), &set) == -1)
		return 1;
	n = CPU_COUNT(&set);
	return n < 1 ? 1 : n > WORKERS_MAX ? WORKERS_MAX : n;
}

/* ---- -T ------------------------------------------------------------------- */

static void
dump_scope(const void *base, enum key_scope scope, FILE *out,
    const char *indent)
{
	for (size_t i = 0; i < KEYS_COUNT; i++)
		if (keys[i].scope == scope)
			key_dump(&keys[i], base, out, indent);
}

static void
dump_tls(const struct tls_conf *t, FILE *out, const char *indent)
{
	struct tls_conf filled = *t;

	/* Fill in the default priority so the dump shows what is in force. */
	if (filled.priority == NULL)
		filled.priority = (char *)DEFAULT_PRIORITY;
	dump_scope(&filled, KS_TLS, out, indent);
}

void
conf_dump(const struct conf *c, FILE *out)
{
	struct conf g = *c;

	g.include_dir = (char *)"";
	/* unix_mode and unix_group only where they apply: elsewhere they
	 * are errors, and the dump must feed back. */
	if (c->metrics == NULL || strncmp(c->metrics, "unix:", 5) != 0)
		g.unix_mode = g.unix_group = NULL;
	fputs("# effective configuration written by sheath -T\n", out);
	dump_scope(&g, KS_GLOBAL, out, "");
	fputs("services = (\n", out);
	for (size_t i = 0; i < c->nsvc; i++) {
		struct service_conf sv = c->svc[i];
		const struct service_conf *s = &c->svc[i];

		if (s->accept == NULL || strncmp(s->accept, "unix:", 5) != 0)
			sv.unix_mode = sv.unix_group = NULL;
		fputs("  {\n", out);
		dump_scope(&sv, KS_SERVICE, out, "    ");
		dump_tls(&s->tls, out, "    ");
		if (s->has_upstream) {
			fputs("    upstream = {\n", out);
			dump_tls(&s->upstream, out, "      ");
			fputs("    };\n", out);
		}
		fprintf(out, "  }%s\n", i + 1 < c->nsvc ? "," : "");
	}
	fputs(");\n", out);
}

/* ---- the command line ---------------------------------------------------- */

struct keyopt {
	const struct key *k;
	int upstream;
};

static struct keyopt keyopts[KEYS_COUNT * 4];
static struct option longopts[KEYS_COUNT * 4 + 16];
static char optnames[KEYS_COUNT * 4][64];

static void
add_keyopt(size_t *n, const struct key *k, int upstream, int dashes)
{
	char *name = optnames[*n];

	snprintf(name, sizeof(optnames[0]), "%s%s", upstream ? "upstream_" :
	    "", k->name);
	if (dashes)
		for (char *p = name; *p; p++)
			if (*p == '_')
				*p = '-';
	keyopts[*n].k = k;
	keyopts[*n].upstream = upstream;
	longopts[*n].name = name;
	longopts[*n].has_arg = required_argument;
	longopts[*n].flag = NULL;
	longopts[*n].val = CONF_CLI_OPT_BASE + (int)*n;
	(*n)++;
}

const struct option *
conf_cli_options(const struct option *fixed, size_t nfixed)
{
	size_t n = 0;

	for (size_t i = 0; i < KEYS_COUNT; i++) {
		const struct key *k = &keys[i];

		if (k->scope == KS_GLOBAL || k->type == KT_GROUP)
			continue;
		int variants = k->scope == KS_TLS ? 2 : 1;

		for (int up = 0; up < variants; up++) {
			add_keyopt(&n, k, up, 0);
			if (strchr(k->name, '_') || up)
				add_keyopt(&n, k, up, 1);
		}
	}
	if (nfixed > ARRAY_LEN(longopts) - 1 - n)
		nfixed = ARRAY_LEN(longopts) - 1 - n;
	if (nfixed > 0)
		memcpy(&longopts[n], fixed, nfixed * sizeof(*fixed));
	memset(&longopts[n + nfixed], 0, sizeof(longopts[0]));
	return longopts;
}

void
conf_cli_add_kv(struct conf_cli *cli, int val, const char *value)
{
	const struct keyopt *ko = &keyopts[val - CONF_CLI_OPT_BASE];
	struct conf_cli_kv *kv;

	cli->kv = xrealloc(cli->kv, (cli->nkv + 1) * sizeof(*cli->kv));
	kv = &cli->kv[cli->nkv++];
	kv->k = ko->k;
	kv->upstream = ko->upstream;
	kv->value = value;
	kv->flag = longopts[val - CONF_CLI_OPT_BASE].name;
}

int
conf_add_cli_service(struct conf *c, const struct conf_cli_kv *kv,
    size_t nkv, FILE *err)
{
	struct service_conf *s = conf_add_service(c, NULL, 0);
	int nerr = 0;
	char why[256];

	for (size_t i = 0; i < nkv; i++) {
		const struct conf_cli_kv *o = &kv[i];
		void *base = o->k->scope == KS_SERVICE ? (void *)s :
		    o->upstream ? (void *)&s->upstream : (void *)&s->tls;
		int *lines = o->k->scope == KS_SERVICE ? s->line :
		    o->upstream ? s->upstream.line : s->tls.line;

		if (key_set_string(o->k, base, o->value, why,
		    sizeof(why)) == -1) {
			fprintf(err, "sheath: command line: %s%s: %s (--%s "
			    "%s)\n", o->upstream ? "upstream." : "",
			    o->k->name, why, o->flag, o->value);
			nerr++;
		}
		lines[o->k->id] = -1;
		if (o->upstream) {
			/* As an upstream group in a file: validation refuses
			 * it outside bridge mode, where it would be unused. */
			s->has_upstream = 1;
			s->line[K_UPSTREAM] = -1;
		}
	}
	if (s->name == NULL)
		s->name = xstrdup("cli");
	return nerr;
}

struct conf *
conf_build(const struct conf_cli *cli, FILE *err)
{
	struct conf *c;

	if (cli->config != NULL || cli->nkv == 0) {
		c = conf_read(cli->config ? cli->config : cli->default_config,
		    cli->foreground, err);
		if (c == NULL)
			return NULL;
		if (c->errors && !cli->test) {
			conf_free(c);
			return NULL;
		}
	} else {
		c = conf_new();
		c->log = xstrdup("stderr");
	}
	if (cli->nkv > 0 && conf_add_cli_service(c, cli->kv, cli->nkv,
	    err) != 0) {
		conf_free(c);
		return NULL;
	}
	if (cli->log_level != NULL) {
		int l = log_level_parse(cli->log_level);

		if (l < 0) {
			fprintf(err, "sheath: command line: --log-level: "
			    "\"%s\" is not one of error, warning, notice, "
			    "info, debug\n", cli->log_level);
			conf_free(c);
			return NULL;
		}
		c->log_level = l - LOG_ERR;
	}
	if (conf_validate(c, err) != 0 || c->errors ||
	    daemon_check_identity(c->user, c->group, err) == -1) {
		/* -t reports every problem: load the services that are
		 * valid so their files are checked too. */
		if (cli->test && c->nsvc > 0) {
			struct generation *g = generation_new(c, err);

			generation_unref(g);
		} else {
			conf_free(c);
		}
		return NULL;
	}
	return c;
}
