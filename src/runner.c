/* runner.c: start-up after the configuration is loaded, the loop, reload
 * and drain. Signal handlers only set flags (daemon.c); everything happens
 * here, in the loop. */
#include "autoconfig.h"
#include "runner.h"
#include "buf.h"
#include "conn.h"
#include "daemon.h"
#include "httpd.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "sandbox.h"
#include "sysd.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TICK_MS 200

static struct generation *cur;
static struct conf *(*build_conf)(FILE *err);
static int foreground;
static enum role role = ROLE_SINGLE;
static volatile int stop;
static int draining;
static int64_t drain_deadline;		/* 0: none (a retiring worker) */
static int sig_slot = -1, sigfd = -1;
static char *pid_path;		/* the pid file this process wrote */
static int serving_fd = -1;	/* a worker tells its supervisor it serves */

void
runner_init(struct generation *g, struct conf *(*build)(FILE *), int fg)
{
	cur = g;
	build_conf = build;
	foreground = fg;
}

void
runner_set_serving_fd(int fd)
{
	serving_fd = fd;
}

void
runner_set_role(enum role r)
{
	role = r;
}

const struct conf *
runner_conf(void)
{
	return cur->conf;
}

int
runner_sigfd(void)
{
	return sigfd;
}

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

void
runner_close_listeners(void)
{
	for (size_t i = 0; i < cur->nsvc; i++)
		listener_close(cur->svc[i]);
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
	char *text = NULL;
	size_t len = 0;
	FILE *mem;

	if ((now == NULL && c->metrics == NULL) ||
	    (now && c->metrics && strcmp(now, c->metrics) == 0)) {
		httpd_reperm(c);
		return;
	}
	httpd_close();
	if (c->metrics == NULL)
		return;
	mem = open_memstream(&text, &len);
	if (mem == NULL)
		return;
	if (httpd_open(c, mem) == 0 &&
	    role != ROLE_SUPERVISOR)
		httpd_watch();
	fclose(mem);
	log_lines(text);
	free(text);
}

int
runner_reload(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	struct conf *c;
	struct generation *g = NULL;

	if (mem == NULL) {
		log_err("reload failed: out of memory");
		return -1;
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
		return -1;
	}
	free(text);
	reload_metrics_endpoint(g->conf);
	close_listeners(cur);	/* those not carried over */
	generation_unref(cur);
	cur = g;
	if (role != ROLE_SUPERVISOR)
		watch_listeners(cur);
	httpd_set_generation(cur);
	listener_init(cur->conf->max_connections);
	/* The same target only changes level: reopening it could fail once
	 * privileges are dropped (the file was created as root). */
	if (strcmp(cur->conf->log, log_target()) != 0 &&
	    log_open(cur->conf->log, LOG_ERR + cur->conf->log_level) == -1)
		log_err("cannot open log \"%s\": %s; logging stays on \"%s\"",
		    cur->conf->log, strerror(errno), log_target());
	log_set_level(LOG_ERR + cur->conf->log_level);
	log_notice("configuration reloaded: %zu service%s", cur->nsvc,
	    cur->nsvc == 1 ? "" : "s");
	metrics_reload(1);
	sysd_notify("READY=1");
	report_status();
	return 0;
}

/* Stop accepting and let connections finish: for at most
 * shutdown_timeout (SIGTERM), or as long as they last (a worker retired by
 * a reload). */
static void
begin_drain(int deadline)
{
	if (draining && (!deadline || drain_deadline))
		return;
	draining = 1;
	drain_deadline = deadline ? now_ms() +
	    (int64_t)(cur->conf->shutdown_timeout * 1000) : 0;
	if (role == ROLE_SINGLE)
		sysd_notify("STOPPING=1");
	close_listeners(cur);
	httpd_close();
	if (deadline)
		log_notice("shutting down: %d connection%s to drain (at most "
		    "%gs)", conn_count(), conn_count() == 1 ? "" : "s",
		    cur->conf->shutdown_timeout);
	else
		log_info("worker retired by a reload: %d connection%s to "
		    "finish", conn_count(), conn_count() == 1 ? "" : "s");
}

static void
tick(int64_t now)
{
	static int64_t last_status;

	conn_sweep(now);
	httpd_sweep(now);
	if (now - last_status >= 1000 && role == ROLE_SINGLE) {
		last_status = now;
		report_status();
	}
	if (!draining)
		return;
	if (conn_count() == 0) {
		stop = 1;
	} else if (drain_deadline && now >= drain_deadline) {
		log_notice("shutdown timeout: closing %d connection%s",
		    conn_count(), conn_count() == 1 ? "" : "s");
		conn_abort_all("shutdown");
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
	/* A worker's configuration comes from its supervisor: only a single
	 * process reloads by itself. */
	if ((sigs & SIG_RELOAD) && !draining && role == ROLE_SINGLE)
		runner_reload();
	if (sigs & SIG_RETIRE)
		begin_drain(0);
	if (sigs & SIG_TERM)
		begin_drain(1);
	if (sigs & (SIG_TERM | SIG_RETIRE))
		tick(now_ms());
}

int
runner_start(FILE *err)
{
	const struct conf *c = cur->conf;

	if (open_listeners(cur, NULL, err) == -1)
		return -1;
	sysd_close_unused();
	if (c->metrics && httpd_open(c, err) == -1)
		return -1;
	listener_init(c->max_connections);
	if (!foreground && daemon_detach() == -1) {
		log_err("cannot daemonize: %m");
		return -1;
	}
	if ((sigfd = daemon_signals_init()) == -1) {
		log_err("cannot set up signal handling: %m");
		daemon_ready(0);
		return -1;
	}
	if (c->pid_file) {
		if (pidfile_write(c->pid_file) == -1) {
			daemon_ready(0);
			return -1;
		}
		pid_path = xstrdup(c->pid_file);
	}
	return 0;
}

int
runner_serve(enum role r)
{
	const struct conf *c = cur->conf;

	role = r;
	if (role == ROLE_WORKER) {
		listener_keep_files();
		httpd_keep_files();
	}
	if (role == ROLE_WORKER && (sigfd = daemon_signals_init()) == -1) {
		log_err("worker: cannot set up signal handling: %m");
		return 1;
	}
	if (role == ROLE_WORKER && metrics_worker_start() == -1)
		log_warn("worker %ld: more than %d workers at once; if it "
		    "dies, its connections stay counted as open",
		    (long)getpid(), METRICS_MAX_PROCS);
	if (daemon_drop_privileges(c->user, c->group, c->chroot,
	    stderr) == -1) {
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
	if (role == ROLE_SINGLE) {
		log_notice("sheath %s started (GnuTLS %s), %zu service%s",
		    PACKAGE_VERSION, gnutls_check_version(NULL), cur->nsvc,
		    cur->nsvc == 1 ? "" : "s");
		daemon_ready(1);
		sysd_notify("READY=1\nMAINPID=%ld", (long)getpid());
		report_status();
	} else {
		log_info("worker %ld serving", (long)getpid());
	}
	/* Last: everything the filter forbids has been done. */
	if (role == ROLE_WORKER && sandbox_enter(c) == -1) {
		log_err("worker %ld: not serving without its sandbox (set "
		    "sandbox = false to run without it)", (long)getpid());
		return 1;
	}
	if (serving_fd != -1) {
		if (write(serving_fd, "", 1) == -1) {
			/* The supervisor stopped waiting; nothing to do. */
		}
		close(serving_fd);
		serving_fd = -1;
	}

	loop_run(&stop);

	close_listeners(cur);
	httpd_close();
	conn_abort_all("shutdown");
	loop_del(&sig_slot);
	return 0;
}

void
runner_exit(void)
{
	if (pid_path && role != ROLE_WORKER)
		pidfile_remove(pid_path);
	free(pid_path);
	pid_path = NULL;
	if (role != ROLE_WORKER)
		log_notice("stopped");
	generation_unref(cur);
	cur = NULL;
	loop_free();
	buf_pool_trim();
	log_close();
	gnutls_global_deinit();
}
