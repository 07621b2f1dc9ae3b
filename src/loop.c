/* loop.c: poll(2) over a table kept in step with the watches. */
#include "autoconfig.h"
#include "loop.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>

struct watch {
	int *slot;
	loop_cb *cb;
	void *arg;
};

static struct pollfd *pfd;
static struct watch *w;
static int n, cap, ndead;
static void (*tick_cb)(int64_t);
static int tick_ms = 1000;
static int64_t next_tick;
static int (*ready_has)(void);
static void (*ready_run)(void);

void
loop_add(int *slot, int fd, short events, loop_cb *cb, void *arg)
{
	if (n == cap) {
		cap = cap ? cap * 2 : 64;
		pfd = xrealloc(pfd, (size_t)cap * sizeof(*pfd));
		w = xrealloc(w, (size_t)cap * sizeof(*w));
	}
	pfd[n].fd = fd;
	pfd[n].events = events;
	pfd[n].revents = 0;
	w[n].slot = slot;
	w[n].cb = cb;
	w[n].arg = arg;
	*slot = n++;
}

void
loop_mod(int slot, short events)
{
	if (slot >= 0)
		pfd[slot].events = events;
}

void
loop_del(int *slot)
{
	int i = *slot;

	if (i < 0)
		return;
	/* Deferred: poll ignores negative fds; compact() removes it. */
	pfd[i].fd = -1;
	pfd[i].events = 0;
	pfd[i].revents = 0;
	w[i].slot = NULL;
	w[i].cb = NULL;
	*slot = -1;
	ndead++;
}

static void
compact(void)
{
	for (int i = 0; i < n && ndead > 0;) {
		if (w[i].cb != NULL) {
			i++;
			continue;
		}
		n--;
		ndead--;
		if (i != n) {
			pfd[i] = pfd[n];
			w[i] = w[n];
			if (w[i].slot != NULL)	/* a dead one is looked at next */
				*w[i].slot = i;
		}
	}
	ndead = 0;
}

void
loop_set_tick(void (*cb)(int64_t), int interval_ms)
{
	tick_cb = cb;
	tick_ms = interval_ms;
}

void
loop_set_ready(int (*has_work)(void), void (*run)(void))
{
	ready_has = has_work;
	ready_run = run;
}

int
loop_once(int max_wait_ms)
{
	int64_t now = now_ms();
	int timeout, r;

	if (now >= next_tick) {
		next_tick = now + tick_ms;
		if (tick_cb)
			tick_cb(now);
	}
	compact();
	timeout = (int)(next_tick - now);
	if (max_wait_ms >= 0 && timeout > max_wait_ms)
		timeout = max_wait_ms;
	if (ready_has && ready_has())
		timeout = 0;
	r = poll(pfd, (nfds_t)n, timeout);
	if (r == -1 && errno != EINTR)
		return -1;
	for (int i = 0, seen = 0, nn = n; r > 0 && i < nn && seen < r; i++) {
		short re = pfd[i].revents;

		if (re == 0)
			continue;
		seen++;
		pfd[i].revents = 0;
		if (w[i].cb != NULL)
			w[i].cb(w[i].arg, re);
	}
	if (ready_run)
		ready_run();
	return 0;
}

void
loop_run(volatile int *stop)
{
	while (!*stop)
		if (loop_once(-1) == -1)
			break;
}

void
loop_free(void)
{
	free(pfd);
	free(w);
	pfd = NULL;
	w = NULL;
	n = cap = ndead = 0;
}
