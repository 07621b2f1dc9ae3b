/* sysd.c: sd_notify and sd_listen_fds_with_names, behind a thin wrapper. */
#include "autoconfig.h"
#include "sysd.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

static char **names;
static int nfds = -1;
static int *taken;

static void
load_fds(void)
{
	if (nfds != -1)
		return;
	/* unset_environment=1: workers and children must not see them. */
	nfds = sd_listen_fds_with_names(1, &names);
	if (nfds < 0) {
		log_err("socket activation: %s", strerror(-nfds));
		nfds = 0;
	}
	taken = calloc((size_t)(nfds > 0 ? nfds : 1), sizeof(*taken));
}

int
sysd_listen_fd(const char *name)
{
	load_fds();
	for (int i = 0; i < nfds && taken; i++)
		if (!taken[i] && names && names[i] &&
		    strcmp(names[i], name) == 0 &&
		    sd_is_socket(SD_LISTEN_FDS_START + i, 0, SOCK_STREAM, 1) > 0) {
			taken[i] = 1;
			return SD_LISTEN_FDS_START + i;
		}
	return -1;
}

void
sysd_close_unused(void)
{
	load_fds();
	for (int i = 0; i < nfds; i++) {
		if (taken && !taken[i]) {
			log_warn("socket activation: no service named \"%s\" "
			    "for passed socket %d; closing it",
			    names && names[i] ? names[i] : "?",
			    SD_LISTEN_FDS_START + i);
			close(SD_LISTEN_FDS_START + i);
		}
		if (names)
			free(names[i]);
	}
	free(names);
	free(taken);
	names = NULL;
	taken = NULL;
	nfds = 0;
}

void
sysd_notify(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (getenv("NOTIFY_SOCKET") == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sd_notify(0, buf);
}

#else /* !HAVE_SYSTEMD */

int
sysd_listen_fd(const char *name)
{
	(void)name;
	return -1;
}

void
sysd_close_unused(void)
{
}

void
sysd_notify(const char *fmt, ...)
{
	(void)fmt;
}

#endif
