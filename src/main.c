/* main.c: command line, start-up order, the signal-driven life cycle.
 * Everything else lives in its own module. */
#include "autoconfig.h"
#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "service.h"
#include "sysd.h"
#include "httpd.h"
#include "metrics.h"
#include "tls.h"
#include "buf.h"

#include <getopt.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/sheath/sheath.conf"
#define TICK_MS 200

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

static struct generation *cur;
static volatile int stop;
static int draining;
static int64_t drain_deadline;
static int sig_slot = -1;

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: sheath [-c FILE] [-f] [-t | -T] [-l LEVEL] "
	    "[SERVICE OPTIONS...]\n"
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
		for (int up = 0; up <= (k->scope == KS_TLS); up++) {
			add_keyopt(&n, k, up, 0);
			if (strchr(k->name, '_') || up)
				add_keyopt(&n, k, up, 1);
		}
	}
	memcpy(&longopts[n], fixed, sizeof(fixed));
	memset(&longopts[n + ARRAY_LEN(fixed)], 0, sizeof(longopts[0]));
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
				fprintf(stderr, "sheath: unknown option %s\n",
				    argv[optind - 1]);
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
 * line; problems go to err. */
static struct conf *
build_conf(FILE *err)
{
	struct conf *c;

	if (opt.config != NULL || opt.nkv == 0) {
		c = conf_read(opt.config ? opt.config : DEFAULT_CONFIG,
		    opt.foreground, err);
		if (c == NULL)
			return NULL;
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
	if (conf_validate(c, err) != 0) {
		conf_free(c);
		return NULL;
	}
	return c;
}

/* ---- running ------------------------------------------------------------------ */

static int
open_listeners(struct generation *g, struct generation *old, FILE *err)
{
	/* Listeners whose address did not change are carried over; only new
	 * addresses are bound, so a reload never refuses a connection. */
	for (size_t i = 0; i < g->nsvc; i++) {
		struct service *s = g->svc[i];
		struct service *o = NULL;

		for (size_t j = 0; old && j < old->nsvc; j++)
			if (old->svc[j]->lfd != -1 && strcmp(old->svc[j]->conf->
			    accept, s->conf->accept) == 0)
				o = old->svc[j];
		if (o == NULL && listener_open(s, err) == -1) {
			for (size_t j = 0; j < i; j++)
				if (g->svc[j]->lslot < 0)
					listener_close(g->svc[j]);
			return -1;
		}
	}
	for (size_t i = 0; old && i < g->nsvc; i++) {
		struct service *s = g->svc[i];

		if (s->lfd != -1)
			continue;
		for (size_t j = 0; j < old->nsvc; j++)
			if (old->svc[j]->lfd != -1 && strcmp(old->svc[j]->conf->
			    accept, s->conf->accept) == 0)
				listener_take(s, old->svc[j]);
	}
	return 0;
}

static void
close_listeners(struct generation *g)
{
	for (size_t i = 0; g && i < g->nsvc; i++)
		listener_close(g->svc[i]);
}

static void
watch_listeners(struct generation *g)
{
	for (size_t i = 0; i < g->nsvc; i++)
		if (g->svc[i]->lslot < 0 && g->svc[i]->lfd != -1)
			listener_watch(g->svc[i]);
}

static void
log_lines(char *text)
{
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		log_err("%s", line);
}

/* STATUS= for systemctl status, sent when the numbers change. */
static void
report_status(void)
{
	static int last = -1;
	int n = conn_count();

	if (n == last)
		return;
	last = n;
	sysd_notify("STATUS=%zu service%s, %d connection%s", cur->nsvc,
	    cur->nsvc == 1 ? "" : "s", n, n == 1 ? "" : "s");
}

/* A reload moves the metrics endpoint only when its address changed. */
static void
reload_metrics_endpoint(const struct conf *c)
{
	const char *now = httpd_addr();

	if ((now == NULL && c->metrics == NULL) ||
	    (now && c->metrics && strcmp(now, c->metrics) == 0))
		return;
	httpd_close();
	if (c->metrics && httpd_open(c->metrics, c->file, c->line[K_METRICS],
	    stderr) == 0)
		httpd_watch();
}

static void
reload(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	struct conf *c;
	struct generation *g = NULL;

	if (mem == NULL) {
		log_err("reload failed: out of memory");
		return;
	}
	log_notice("reloading configuration");
	sysd_notify("RELOADING=1");
	c = build_conf(mem);
	if (c != NULL)
		g = generation_new(c, mem);
	if (g != NULL && open_listeners(g, cur, mem) == -1) {
		generation_unref(g);
		g = NULL;
	}
	fclose(mem);
	if (g == NULL) {
		log_lines(text);
		log_err("reload failed; the previous configuration stays in "
		    "force");
		free(text);
		metrics_reload(0);
		sysd_notify("READY=1\nSTATUS=reload failed; previous "
		    "configuration in force");
		return;
	}
	free(text);
	reload_metrics_endpoint(g->conf);
	close_listeners(cur);	/* those not carried over */
	generation_unref(cur);
	cur = g;
	watch_listeners(cur);
	httpd_set_generation(cur);
	listener_init(cur->conf->max_connections);
	if (strcmp(cur->conf->log, "stderr") != 0 || !opt.foreground)
		log_open(cur->conf->log, LOG_ERR + cur->conf->log_level);
	else
		log_set_level(LOG_ERR + cur->conf->log_level);
	log_notice("configuration reloaded: %zu service%s", cur->nsvc,
	    cur->nsvc == 1 ? "" : "s");
	metrics_reload(1);
	sysd_notify("READY=1");
	report_status();
}

static void
begin_drain(void)
{
	if (draining)
		return;
	draining = 1;
	sysd_notify("STOPPING=1");
	drain_deadline = now_ms() + (int64_t)(cur->conf->shutdown_timeout *
	    1000);
	close_listeners(cur);
	log_notice("shutting down: %d connection%s to drain (at most %gs)",
	    conn_count(), conn_count() == 1 ? "" : "s",
	    cur->conf->shutdown_timeout);
}

static void
tick(int64_t now)
{
	static int64_t last_status;

	conn_sweep(now);
	httpd_sweep(now);
	if (now - last_status >= 1000) {
		last_status = now;
		report_status();
	}
	if (!draining)
		return;
	if (conn_count() == 0) {
		stop = 1;
	} else if (now >= drain_deadline) {
		log_notice("shutdown timeout: closing %d connection%s",
		    conn_count(), conn_count() == 1 ? "" : "s");
		conn_abort_all("shutdown timeout");
		stop = 1;
	}
}

static void
signal_event(void *arg, short revents)
{
	int sigs = daemon_signals_take();

	(void)arg;
	(void)revents;
	if (sigs & SIG_REOPEN)
		log_reopen();
	if ((sigs & SIG_RELOAD) && !draining)
		reload();
	if (sigs & SIG_TERM) {
		begin_drain();
		tick(now_ms());
	}
}

int
main(int argc, char **argv)
{
	struct conf *c;
	int sigfd;

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
	if (!opt.test && metrics_init() == -1) {
		fprintf(stderr, "sheath: cannot map the metrics table: %m\n");
		return 1;
	}
	if ((cur = generation_new(c, stderr)) == NULL)
		return 1;
	if (opt.test) {
		printf("configuration ok\n");
		generation_unref(cur);
		gnutls_global_deinit();
		return 0;
	}
	if (open_listeners(cur, NULL, stderr) == -1)
		return 1;
	sysd_close_unused();
	if (cur->conf->metrics && httpd_open(cur->conf->metrics,
	    cur->conf->file, cur->conf->line[K_METRICS], stderr) == -1)
		return 1;
	listener_init(cur->conf->max_connections);
	if (log_open(cur->conf->log, LOG_ERR + cur->conf->log_level) == -1) {
		fprintf(stderr, "sheath: %s: log: cannot open \"%s\": %m\n",
		    cur->conf->file ? cur->conf->file : "command line",
		    cur->conf->log);
		return 1;
	}
	if (!opt.foreground && daemon_detach() == -1) {
		log_err("cannot daemonize: %m");
		return 1;
	}
	if ((sigfd = daemon_signals_init()) == -1) {
		log_err("cannot set up signal handling: %m");
		daemon_ready(0);
		return 1;
	}
	if (cur->conf->pid_file && pidfile_write(cur->conf->pid_file) == -1) {
		daemon_ready(0);
		return 1;
	}
	if (daemon_drop_privileges(cur->conf->user, cur->conf->group,
	    cur->conf->chroot, stderr) == -1) {
		log_err("cannot drop privileges");
		daemon_ready(0);
		return 1;
	}
	loop_add(&sig_slot, sigfd, POLLIN, signal_event, NULL);
	loop_set_tick(tick, TICK_MS);
	loop_set_ready(conn_has_ready, conn_run_ready);
	watch_listeners(cur);
	httpd_set_generation(cur);
	httpd_watch();
	log_notice("sheath %s started (GnuTLS %s), %zu service%s",
	    PACKAGE_VERSION, gnutls_check_version(NULL), cur->nsvc,
	    cur->nsvc == 1 ? "" : "s");
	daemon_ready(1);
	sysd_notify("READY=1\nMAINPID=%ld", (long)getpid());
	report_status();

	loop_run(&stop);

	close_listeners(cur);
	httpd_close();
	conn_abort_all("shutdown");
	if (cur->conf->pid_file)
		pidfile_remove(cur->conf->pid_file);
	log_notice("stopped");
	generation_unref(cur);
	loop_free();
	buf_pool_trim();
	free(opt.kv);
	log_close();
	gnutls_global_deinit();
	return 0;
}
