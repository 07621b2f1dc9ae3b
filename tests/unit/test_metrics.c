/* test_metrics.c: the shared connection gauges stay right when a worker
 * process dies holding connections: the supervisor's metrics_worker_gone()
 * takes off exactly what that worker still counted, nothing of the others'. */
#include "autoconfig.h"
#include "metrics.h"
#include "unit.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* A worker that opens OPEN connections of service slot SVC, ends ENDED of
 * them, then dies by SIGKILL (or exits when clean). */
static pid_t
worker(int svc, int open, int ended, int clean)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	if (metrics_worker_start() != 0)
		_exit(3);
	for (int i = 0; i < open; i++)
		metrics_accepted(svc);
	for (int i = 0; i < ended; i++)
		metrics_ended(svc, OUT_CLOSED, V_OK, 10, 20);
	if (clean)
		_exit(0);
	raise(SIGKILL);
	_exit(4);
}

static int
reaped(pid_t pid, int want_signal)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return 0;
	return want_signal ? WIFSIGNALED(status) :
	    WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int
main(void)
{
	int a, b;
	pid_t p1, p2, p3;

	CHECK(metrics_init() == 0);
	a = metrics_slot("a");
	b = metrics_slot("b");
	CHECK(a >= 0 && b >= 0 && a != b);

	/* This process (a single-process sheath) counts without a worker
	 * entry; nothing it counts is taken off for a dead pid. */
	metrics_accepted(a);
	CHECK(metrics_active(a) == 1);

	p1 = worker(a, 5, 2, 0);	/* dies with 3 of a open */
	p2 = worker(b, 4, 0, 0);	/* dies with 4 of b open */
	CHECK(reaped(p1, 1));
	CHECK(reaped(p2, 1));
	CHECK(metrics_active(a) == 4);
	CHECK(metrics_active(b) == 4);
	CHECK(metrics_total_active() == 8);

	CHECK(metrics_worker_gone(p1) == 3);
	CHECK(metrics_active(a) == 1);
	CHECK(metrics_active(b) == 4);
	CHECK(metrics_worker_gone(p1) == 0);	/* once only */
	CHECK(metrics_worker_gone(p2) == 4);
	CHECK(metrics_active(b) == 0);
	CHECK(metrics_total_active() == 1);
	CHECK(metrics_worker_gone(getpid()) == 0);
	CHECK(metrics_worker_gone(0) == 0);

	/* A worker that ended all it opened leaves nothing to correct, and
	 * its entry is free again for the next. */
	p3 = worker(a, 2, 2, 1);
	CHECK(reaped(p3, 0));
	CHECK(metrics_worker_gone(p3) == 0);
	CHECK(metrics_active(a) == 1);

	/* Every entry can be claimed after the dead ones were released. */
	for (int i = 0; i < METRICS_MAX_PROCS + 1; i++) {
		pid_t p = fork();
		int status;

		if (p == 0)
			_exit(metrics_worker_start() == 0 ? 0 : 1);
		CHECK(waitpid(p, &status, 0) == p);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		CHECK(metrics_worker_gone(p) == 0);
	}
	return unit_done("test_metrics");
}
