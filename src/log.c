/* log.c: one line per message, written with a single write(2) so lines from
 * several worker processes never interleave. */
#include "autoconfig.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum target { T_STDERR, T_SYSLOG, T_FILE };

static enum target target = T_STDERR;
static int threshold = LOG_NOTICE;
static int log_fd = 2;
static char *log_path;

static const struct {
	const char *name;
	int level;
} levels[] = {
	{ "error", LOG_ERR },
	{ "warning", LOG_WARNING },
	{ "notice", LOG_NOTICE },
	{ "info", LOG_INFO },
	{ "debug", LOG_DEBUG },
};

int
log_level_parse(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(levels); i++)
		if (strcmp(levels[i].name, name) == 0)
			return levels[i].level;
	return -1;
}

const char *
log_level_name(int level)
{
	for (size_t i = 0; i < ARRAY_LEN(levels); i++)
		if (levels[i].level == level)
			return levels[i].name;
	return level < LOG_ERR ? "error" : "debug";
}

static int
open_file(const char *path)
{
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY,
	    0640);
}

int
log_open(const char *t, int level)
{
	if (strcmp(t, "stderr") == 0) {
		log_close();
		target = T_STDERR;
		log_fd = 2;
	} else if (strcmp(t, "syslog") == 0) {
		log_close();
		target = T_SYSLOG;
		openlog("sheath", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	} else {
		int fd = open_file(t);

		if (fd == -1)
			return -1;
		log_close();
		target = T_FILE;
		log_fd = fd;
		log_path = xstrdup(t);
	}
	threshold = level;
	return 0;
}

const char *
log_target(void)
{
	return target == T_FILE ? log_path : target == T_SYSLOG ? "syslog" :
	    "stderr";
}

void
log_set_level(int level)
{
	threshold = level;
}

void
log_reopen(void)
{
	int fd;

	if (target != T_FILE)
		return;
	if ((fd = open_file(log_path)) == -1) {
		log_err("cannot reopen log file %s: %s", log_path,
		    strerror(errno));
		return;
	}
	dup2(fd, log_fd);
	close(fd);
}

void
log_close(void)
{
	if (target == T_FILE && log_fd > 2)
		close(log_fd);
	if (target == T_SYSLOG)
		closelog();
	free(log_path);
	log_path = NULL;
	target = T_STDERR;
	log_fd = 2;
}

static void
vlog(int level, const char *fmt, va_list ap)
{
	char line[2048];
	size_t n = 0;
	int r;

	if (target == T_SYSLOG) {
		vsyslog(level, fmt, ap);
		return;
	}
	if (target == T_FILE) {
		time_t t = time(NULL);
		struct tm tm;

		gmtime_r(&t, &tm);
		n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ ", &tm);
	}
	r = snprintf(line + n, sizeof(line) - n, "sheath[%ld]: %s: ",
	    (long)getpid(), log_level_name(level));
	if (r > 0)
		n += (size_t)r;
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (r > 0)
		n += (size_t)r;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	/* Never let a peer-supplied string forge a second log line. */
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	while (write(log_fd, line, n) == -1 && errno == EINTR)
		;
}

void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > threshold)
		return;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

void
log_ratelimited(int64_t *last_ms, int level, const char *fmt, ...)
{
	va_list ap;
	int64_t now = now_ms();

	if (level > threshold || (*last_ms != 0 && now - *last_ms < 1000))
		return;
	*last_ms = now;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}
