/* daemon.h: process life cycle: signals, detaching, pid file, privileges. */
#ifndef SHEATH_DAEMON_H
#define SHEATH_DAEMON_H

#include <stdio.h>

enum { SIG_RELOAD = 1, SIG_TERM = 2, SIG_REOPEN = 4, SIG_RETIRE = 8,
	SIG_CHILD = 16 };

/** daemon_signals_init(): install handlers that only set flags and wake the
 * loop through a self-pipe (a new one each call: a forked worker must not
 * share its parent's); SIGPIPE is ignored. SIGHUP reloads, SIGTERM/SIGINT
 * drain, SIGUSR1 reopens the log, SIGUSR2 retires a worker, SIGCHLD
 * reaches the supervisor. Returns the pipe's read end, or -1. */
int daemon_signals_init(void);

/** daemon_signals_take(): the SIG_* flags raised since the last call. */
int daemon_signals_take(void);

/** daemon_detach(): fork into the background. Returns in the child only;
 * the parent exits with the child's start-up status (daemon_ready). */
int daemon_detach(void);

/** daemon_ready(ok): tell a waiting parent that start-up succeeded (ok) or
 * failed, and detach stdio. No-op in the foreground. */
void daemon_ready(int ok);

/** pidfile_write(path): write our pid atomically. -1 on error (logged). */
int pidfile_write(const char *path);
/** pidfile_remove(path): remove it if it still holds our pid; through the
 * directory pidfile_write kept open, so it works after chroot too. */
void pidfile_remove(const char *path);

/** daemon_check_identity(user, group, err): both exist (checked at start
 * and by -t, so that workers never fail on it one by one). */
int daemon_check_identity(const char *user, const char *group, FILE *err);

/** daemon_drop_privileges(user, group, root, err): chroot (if root), then
 * setgroups, setgid, setuid, in that order, and check that root cannot be
 * regained. Any argument may be NULL. -1 on error (printed to err). */
int daemon_drop_privileges(const char *user, const char *group,
    const char *root, FILE *err);

#endif
