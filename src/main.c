/* main.c: command line, start-up order, the signal-driven life cycle.
 * Everything else lives in its own module. */
#include "autoconfig.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "makepair.h"
#include "service.h"
#include "runner.h"
#include "supervisor.h"
#include "daemon.h"
#include "metrics.h"
#include "tls.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/sheath/sheath.conf"

/* One `--KEY VALUE` from the command line. */
struct cli_kv {
	const struct key *k;
	int upstream;
	const char *value;
	const char *flag;
};

static struct {
	const char *config;
	int foreground, test, dump, list_keys;
	const char *log_level;
	struct cli_kv *kv;
	size_t nkv;
} opt;


static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: sheath [-c FILE] [-f] [-t | -T] [-l LEVEL] "
	    "[SERVICE OPTIONS...]\n"
	    "       sheath --make-pair DIR --backend ADDR [PAIR OPTIONS...]\n"
	    "       sheath -V | --version\n"
	    "       sheath -h | --help\n"
	    "\n"
	    "  -c, --config FILE      main config file (default %s)\n"
	    "  -f, --foreground       do not daemonize; log to stderr\n"
	    "  -t, --test             check the configuration and exit\n"
	    "  -T, --dump-config      print the effective configuration\n"
	    "  -l, --log-level LEVEL  error, warning, notice, info, debug\n"
	    "  -V, --version          print the version and exit\n"
	    "  -h, --help             print this help and exit\n"
	    "\n"
	    "Any service key may be given as --KEY VALUE (e.g. --mode server\n"
	    "--accept :5433 --connect 127.0.0.1:5432 --cert c.pem --key k.pem\n"
	    "--ca ca.pem); bridge-mode upstream keys as --upstream-KEY VALUE.\n"
	    "\n"
	    "--make-pair DIR writes a private CA, certificates and configs\n"
	    "for both ends of a tunnel; PAIR OPTIONS: --name NAME,\n"
	    "--server-name DNS, --server-accept ADDR, --client-accept ADDR,\n"
	    "--server-connect ADDR, --days N, --clients N, --etc PATH.\n"
	    "See sheath(8) and sheath.conf(5).\n", DEFAULT_CONFIG);
}

/* ---- command line ----------------------------------------------------------- */

enum { OPT_LIST_KEYS = 256, OPT_KEY_BASE = 512 };

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
	longopts[*n].val = OPT_KEY_BASE + (int)*n;
	(*n)++;
}

static void
build_longopts(void)
{
	static const struct option fixed[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "test", no_argument, NULL, 't' },
		{ "dump-config", no_argument, NULL, 'T' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ "list-keys", no_argument, NULL, OPT_LIST_KEYS },
	};
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
	memcpy(&longopts[n], fixed, sizeof(fixed));
	memset(&longopts[n + ARRAY_LEN(fixed)], 0, sizeof(longopts[0]));
}

/* An unknown --NAME, with the key meant when it is a near miss. */
static void
unknown_long(const char *arg)
{
	char name[64];
	const char *near, *p = arg + 2;
	int up = strncmp(p, "upstream-", 9) == 0 ||
	    strncmp(p, "upstream_", 9) == 0;

	snprintf(name, sizeof(name), "%.*s", (int)strcspn(p + (up ? 9 : 0),
	    "="), p + (up ? 9 : 0));
	near = key_suggest(name, up ? KS_TLS : KS_SERVICE);
	if (near != NULL && strncmp(arg, "--", 2) == 0) {
		fprintf(stderr, "sheath: unknown option %.*s (did you mean "
		    "--%s", (int)strcspn(arg, "="), arg, up ? "upstream-" : "");
		for (const char *c = near; *c; c++)
			fputc(*c == '_' ? '-' : *c, stderr);
		fputs("?)\n", stderr);
	} else {
		fprintf(stderr, "sheath: unknown option %s\n", arg);
	}
}

static void
parse_args(int argc, char **argv)
{
	int ch;

	build_longopts();
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":c:ftTl:Vh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c': opt.config = optarg; break;
		case 'f': opt.foreground = 1; break;
		case 't': opt.test = 1; break;
		case 'T': opt.dump = 1; break;
		case 'l': opt.log_level = optarg; break;
		case 'V':
			printf("sheath %s (GnuTLS %s, libconfig)\n",
			    PACKAGE_VERSION, gnutls_check_version(NULL));
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		case OPT_LIST_KEYS:
			opt.list_keys = 1;
			break;
		case ':':
			fprintf(stderr, "sheath: option %s needs a value\n",
			    argv[optind - 1]);
			usage(stderr);
			exit(2);
		case '?':
			if (optopt)
				fprintf(stderr, "sheath: unknown option -%c\n",
				    optopt);
			else
				unknown_long(argv[optind - 1]);
			usage(stderr);
			exit(2);
		default: {
			struct keyopt *ko = &keyopts[ch - OPT_KEY_BASE];

			opt.kv = xrealloc(opt.kv, (opt.nkv + 1) *
			    sizeof(*opt.kv));
			opt.kv[opt.nkv].k = ko->k;
			opt.kv[opt.nkv].upstream = ko->upstream;
			opt.kv[opt.nkv].value = optarg;
			opt.kv[opt.nkv].flag = longopts[ch - OPT_KEY_BASE].name;
			opt.nkv++;
		}
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sheath: unexpected argument \"%s\"\n",
		    argv[optind]);
		usage(stderr);
		exit(2);
	}
	if (opt.test && opt.dump) {
		fprintf(stderr, "sheath: -t and -T exclude each other\n");
		exit(2);
	}
	if (opt.nkv > 0 && opt.config == NULL)
		opt.foreground = 1;
}

/* The `cli` service from --KEY VALUE options. Returns the error count. */
static int
add_cli_service(struct conf *c, FILE *err)
{
	struct service_conf *s = conf_add_service(c, NULL, 0);
	int nerr = 0;
	char why[256];

	for (size_t i = 0; i < opt.nkv; i++) {
		const struct cli_kv *kv = &opt.kv[i];
		void *base = kv->k->scope == KS_SERVICE ? (void *)s :
		    kv->upstream ? (void *)&s->upstream : (void *)&s->tls;
		int *lines = kv->k->scope == KS_SERVICE ? s->line :
		    kv->upstream ? s->upstream.line : s->tls.line;

		if (key_set_string(kv->k, base, kv->value, why,
		    sizeof(why)) == -1) {
			fprintf(err, "sheath: command line: %s%s: %s (--%s "
			    "%s)\n", kv->upstream ? "upstream." : "",
			    kv->k->name, why, kv->flag, kv->value);
			nerr++;
		}
		lines[kv->k->id] = -1;
		if (kv->upstream)
			s->has_upstream = 1;
	}
	if (s->name == NULL)
		s->name = xstrdup("cli");
	return nerr;
}

/* Build and validate the configuration from the file and/or the command
 * line; problems go to err. Also what a reload calls. */
static struct conf *
build_conf(FILE *err)
{
	struct conf *c;

	if (opt.config != NULL || opt.nkv == 0) {
		c = conf_read(opt.config ? opt.config : DEFAULT_CONFIG,
		    opt.foreground, err);
		if (c == NULL)
			return NULL;
		if (c->errors && !opt.test) {
			conf_free(c);
			return NULL;
		}
	} else {
		c = conf_new();
		c->log = xstrdup("stderr");
	}
	if (opt.nkv > 0 && add_cli_service(c, err) != 0) {
		conf_free(c);
		return NULL;
	}
	if (opt.log_level != NULL) {
		int l = log_level_parse(opt.log_level);

		if (l < 0) {
			fprintf(err, "sheath: command line: --log-level: "
			    "\"%s\" is not one of error, warning, notice, "
			    "info, debug\n", opt.log_level);
			conf_free(c);
			return NULL;
		}
		c->log_level = l - LOG_ERR;
	}
	if (conf_validate(c, err) != 0 || c->errors ||
	    daemon_check_identity(c->user, c->group, err) == -1) {
		/* -t reports every problem: load the services that are
		 * valid so their files are checked too. */
		if (opt.test && c->nsvc > 0) {
			struct generation *g = generation_new(c, err);

			generation_unref(g);
		} else {
			conf_free(c);
		}
		return NULL;
	}
	return c;
}

int
main(int argc, char **argv)
{
	struct conf *c;
	struct generation *g;
	int rc;

	if (makepair_wanted(argc, argv))
		return makepair_main(argc, argv, SYSCONFDIR "/sheath");
	parse_args(argc, argv);
	if (opt.list_keys) {
		key_list(stdout);
		return 0;
	}
	if (tls_global_init() == -1)
		return 1;
	if ((c = build_conf(stderr)) == NULL)
		return 1;
	if (opt.dump) {
		conf_dump(c, stdout);
		conf_free(c);
		return 0;
	}
	log_set_level(LOG_ERR + c->log_level);
	/* The log is open before keys load, so their warnings land there. */
	if (!opt.test && log_open(c->log, LOG_ERR + c->log_level) == -1) {
		fprintf(stderr, "sheath: %s: log: cannot open \"%s\": %m\n",
		    c->file ? c->file : "command line", c->log);
		conf_free(c);
		return 1;
	}
	if (!opt.test && metrics_init() == -1) {
		fprintf(stderr, "sheath: cannot map the metrics table: %m\n");
		return 1;
	}
	/* Loads every certificate, key, CA and CRL, and resolves names. */
	if ((g = generation_new(c, stderr)) == NULL)
		return 1;
	if (opt.test) {
		printf("configuration ok\n");
		generation_unref(g);
		gnutls_global_deinit();
		return 0;
	}
	runner_init(g, build_conf, opt.foreground);
	if (runner_start(stderr) == -1)
		return 1;
	if (conf_workers(g->conf) > 1)
		rc = supervise(conf_workers(g->conf));
	else
		rc = runner_serve(ROLE_SINGLE);
	runner_exit();
	free(opt.kv);
	return rc;
}
