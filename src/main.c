/* main.c: command line, start-up order, the signal-driven life cycle.
 * Everything else lives in its own module. */
#include "autoconfig.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "makepair.h"
#include "service.h"
#include "runner.h"
#include "sandbox.h"
#include "supervisor.h"
#include "daemon.h"
#include "board.h"
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

static struct {
	struct conf_cli cli;
	int dump, list_keys;
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

enum { OPT_LIST_KEYS = 256 };

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
	const struct option *longopts = conf_cli_options(fixed,
	    ARRAY_LEN(fixed));
	struct conf_cli *cli = &opt.cli;
	int ch;

	cli->default_config = DEFAULT_CONFIG;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":c:ftTl:Vh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c': cli->config = optarg; break;
		case 'f': cli->foreground = 1; break;
		case 't': cli->test = 1; break;
		case 'T': opt.dump = 1; break;
		case 'l': cli->log_level = optarg; break;
		case 'V':
			printf("sheath %s (GnuTLS %s, libconfig%s)\n",
			    PACKAGE_VERSION, gnutls_check_version(NULL),
#ifdef HAVE_SECCOMP
			    ", seccomp"
#else
			    ""
#endif
			    );
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
		default:
			conf_cli_add_kv(cli, ch, optarg);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sheath: unexpected argument \"%s\"\n",
		    argv[optind]);
		usage(stderr);
		exit(2);
	}
	if (cli->test && opt.dump) {
		fprintf(stderr, "sheath: -t and -T exclude each other\n");
		exit(2);
	}
	if (cli->nkv > 0 && cli->config == NULL)
		cli->foreground = 1;
}

/* Build and validate the configuration from the file and/or the command
 * line; problems go to err. Also what a reload calls. */
static struct conf *
build_conf(FILE *err)
{
	return conf_build(&opt.cli, err);
}

int
main(int argc, char **argv)
{
	struct conf *c;
	struct generation *g;
	int rc, sandboxed;

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
	if (!opt.cli.test && log_open(c->log, LOG_ERR + c->log_level) == -1) {
		fprintf(stderr, "sheath: %s: log: cannot open \"%s\": %m\n",
		    c->file ? c->file : "command line", c->log);
		conf_free(c);
		return 1;
	}
	if (!opt.cli.test && (metrics_init() == -1 || board_init() == -1)) {
		fprintf(stderr, "sheath: cannot map the metrics table: %m\n");
		return 1;
	}
	/* Loads every certificate, key, CA and CRL, and resolves names. */
	if ((g = generation_new(c, stderr)) == NULL)
		return 1;
	if (opt.cli.test) {
		printf("configuration ok\n");
		generation_unref(g);
		gnutls_global_deinit();
		return 0;
	}
	if ((sandboxed = sandbox_init(g->conf, stderr)) == -1)
		return 1;
	runner_init(g, build_conf, opt.cli.foreground);
	if (runner_start(stderr) == -1)
		return 1;
	/* Sandboxed workers cannot bind or read a new configuration: a
	 * supervisor that serves nothing reloads for them, even for one. */
	if (conf_workers(g->conf) > 1 || sandboxed)
		rc = supervise(conf_workers(g->conf));
	else
		rc = runner_serve(ROLE_SINGLE);
	runner_exit();
	free(opt.cli.kv);
	return rc;
}
