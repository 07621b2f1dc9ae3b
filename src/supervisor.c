/* supervisor.c: workers = N.
 *
 * The parent binds every listener and loads every key before forking, so
 * the workers share the very same listening sockets (the kernel hands each
 * connection to one of the workers polling it). A shared socket, rather
 * than one SO_REUSEPORT socket per worker, means a worker that dies loses
 * no queued connection and a reload hands the same sockets to the new
 * workers: nothing is ever refused. The parent keeps its privileges so it
 * can reload; each worker drops them before serving.
 */
#include "autoconfig.h"
#include "supervisor.h"
#include "daemon.h"
#include "httpd.h"
#include "log.h"
#include "board.h"
#include "metrics.h"
#include "runner.h"
#include "sandbox.h"
#include "sysd.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define RESTART_DELAY_MS 1000	/* for a worker that died right away */

struct worker {
	pid_t pid;		/* 0: not running */
	int64_t started;
	int64_t restart_at;	/* 0: no restart pending */
};

static struct worker *workers;
static int nworkers;
static pid_t *retired;		/* workers of older configurations */
static size_t nretired;
static int serving[2] = { -1, -1 };	/* the first workers say they serve */

static pid_t
spawn(int slot)
{
	pid_t pid = fork();

	if (pid == -1) {
		log_err("cannot start worker %d: %s", slot, strerror(errno));
		return -1;
	}
	if (pid == 0) {
		if (serving[0] != -1)
			close(serving[0]);
		runner_set_serving_fd(serving[1]);
		exit(runner_serve(ROLE_WORKER));
	}
	sandbox_test_forked();
	workers[slot].pid = pid;
	workers[slot].started = now_ms();
	workers[slot].restart_at = 0;
	return pid;
}

static void
retire_all(void)
{
	for (int i = 0; i < nworkers; i++) {
		if (workers[i].pid <= 0)
			continue;
		kill(workers[i].pid, SIGUSR2);
		retired = xrealloc(retired, (nretired + 1) * sizeof(*retired));
		retired[nretired++] = workers[i].pid;
		workers[i].pid = 0;
	}
}

static void
signal_all(int sig)
{
	for (int i = 0; i < nworkers; i++)
		if (workers[i].pid > 0)
			kill(workers[i].pid, sig);
	for (size_t i = 0; i < nretired; i++)
		kill(retired[i], sig);
}

static int
children_left(void)
{
	int n = (int)nretired;

	for (int i = 0; i < nworkers; i++)
		n += workers[i].pid > 0;
	return n;
}

/* How a worker ended, for the log: "killed by signal 9", ... */
static void
describe_exit(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		snprintf(buf, len, "killed by signal %d (SIGSYS: a system call "
		    "its sandbox forbids)", SIGSYS);
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
	else if (WEXITSTATUS(status) == 0)
		snprintf(buf, len, "stopped");
	else
		snprintf(buf, len, "exited with status %d",
		    WEXITSTATUS(status));
}

static void
reap(int stopping)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		/* Connections a dead worker never ended leave the shared
		 * gauges and the max_connections counts now. */
		int64_t lost = metrics_worker_gone(pid);
		char how[96], with[64] = "";
		int found = 0;

		board_forget((int)pid);
		describe_exit(status, how, sizeof(how));
		if (lost > 0)
			snprintf(with, sizeof(with), " with %lld open "
			    "connection%s", (long long)lost, lost == 1 ? "" :
			    "s");
		for (size_t i = 0; i < nretired; i++)
			if (retired[i] == pid) {
				retired[i] = retired[--nretired];
				found = 1;
				if (lost > 0 || WIFSIGNALED(status))
					log_err("retired worker (pid %ld) %s%s",
					    (long)pid, how, with);
				break;
			}
		for (int i = 0; i < nworkers && !found; i++) {
			int64_t now = now_ms();

			if (workers[i].pid != pid)
				continue;
			found = 1;
			workers[i].pid = 0;
			if (stopping) {
				if (lost > 0)
					log_err("worker %d (pid %ld) %s%s", i,
					    (long)pid, how, with);
				break;
			}
			/* Exit status 0: stopped by a signal sent to it
			 * alone. */
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
			    lost == 0)
				log_warn("worker %d (pid %ld) %s; restarting "
				    "it", i, (long)pid, how);
			else
				log_err("worker %d (pid %ld) %s%s; restarting "
				    "it", i, (long)pid, how, with);
			/* One that dies at once is restarted after a
			 * pause, never in a tight loop. */
			workers[i].restart_at = now - workers[i].started <
			    RESTART_DELAY_MS ? now + RESTART_DELAY_MS : now;
		}
	}
}

/* Ready means serving: wait (bounded) until every first worker has its
 * listeners watched and its sandbox loaded, or has died trying. */
static void
wait_serving(int n)
{
	int64_t deadline = now_ms() + 10000;
	int got = 0;

	close(serving[1]);
	serving[1] = -1;
	while (got < n) {
		struct pollfd p = { serving[0], POLLIN, 0 };
		int64_t left = deadline - now_ms();
		char c;
		ssize_t r;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		if ((r = read(serving[0], &c, 1)) == 0)
			break;		/* every worker closed it */
		if (r == 1)
			got++;
	}
	close(serving[0]);
	serving[0] = -1;
}

/* STATUS= for systemctl status, when the numbers change. */
static void
report_status(void)
{
	static int64_t last = -1;
	int64_t n = metrics_total_active();
	size_t nsvc = runner_conf()->nsvc;

	if (n == last)
		return;
	last = n;
	sysd_notify("STATUS=%zu service%s, %lld connection%s, %d worker%s",
	    nsvc, nsvc == 1 ? "" : "s", (long long)n, n == 1 ? "" : "s",
	    nworkers, nworkers == 1 ? "" : "s");
}

int
supervise(int n)
{
	int stopping = 0;
	int64_t kill_at = 0, last_status = 0;

	runner_set_role(ROLE_SUPERVISOR);
	nworkers = n;
	workers = xcalloc((size_t)n, sizeof(*workers));
	if (pipe(serving) == -1)
		serving[0] = serving[1] = -1;
	else
		(void)set_nonblock_cloexec(serving[0]);
	for (int i = 0; i < n; i++)
		spawn(i);
	if (serving[0] != -1)
		wait_serving(n);
	log_notice("sheath %s started (GnuTLS %s) with %d worker%s",
	    PACKAGE_VERSION, gnutls_check_version(NULL), n, n == 1 ? "" : "s");
	daemon_ready(1);
	sysd_notify("READY=1\nMAINPID=%ld", (long)getpid());
	report_status();

	while (!stopping || children_left() > 0) {
		struct pollfd p = { runner_sigfd(), POLLIN, 0 };
		int64_t now;
		int sigs;

		poll(&p, 1, 200);
		sigs = daemon_signals_take();
		now = now_ms();
		if (!stopping && now - last_status >= 1000) {
			last_status = now;
			report_status();
		}
		/* A stop first: when the whole process group is told to stop
		 * at once (systemd's KillMode=control-group), the workers'
		 * exits are part of it, not crashes to repair. */
		if ((sigs & SIG_TERM) && !stopping) {
			stopping = 1;
			sysd_notify("STOPPING=1");
			log_notice("shutting down %d worker%s", children_left(),
			    children_left() == 1 ? "" : "s");
			signal_all(SIGTERM);
			runner_close_listeners();
			/* The metrics socket file goes too (workers leave it). */
			httpd_close();
			kill_at = now + (int64_t)(runner_conf()->
			    shutdown_timeout * 1000) + 5000;
		}
		if (sigs & SIG_CHILD)
			reap(stopping);
		if (sigs & SIG_REOPEN) {
			log_reopen();
			signal_all(SIGUSR1);
		}
		if ((sigs & SIG_RELOAD) && !stopping &&
		    runner_reload() == 0) {
			/* New workers on the new configuration; the old ones
			 * stop accepting and finish what they carry. */
			retire_all();
			for (int i = 0; i < nworkers; i++)
				spawn(i);
		}
		if (stopping && now >= kill_at && children_left() > 0) {
			log_err("workers still running after the shutdown "
			    "timeout; killing them");
			signal_all(SIGKILL);
			kill_at = now + 1000;
		}
		for (int i = 0; i < nworkers && !stopping; i++)
			if (workers[i].pid == 0 && workers[i].restart_at &&
			    now >= workers[i].restart_at)
				spawn(i);
	}
	free(workers);
	free(retired);
	return 0;
}
