/* daemon.c: signal handlers set flags and nothing else; everything they
 * ask for happens in the loop. */
#include "autoconfig.h"
#include "daemon.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int sigpipe_fd[2] = { -1, -1 };
/* Set by the handlers, taken whole by the loop: an atomic exchange, so a
 * signal that lands between reading and clearing is never lost. */
static _Atomic int pending;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "signal flags need a lock-free int");
static int ready_fd = -1;	/* child -> parent start-up status */

static void
on_signal(int sig)
{
	int saved = errno;

	switch (sig) {
	case SIGHUP:
		atomic_fetch_or(&pending, SIG_RELOAD);
		break;
	case SIGTERM:
	case SIGINT:
		atomic_fetch_or(&pending, SIG_TERM);
		break;
	case SIGUSR1:
		atomic_fetch_or(&pending, SIG_REOPEN);
		break;
	case SIGUSR2:
		atomic_fetch_or(&pending, SIG_RETIRE);
		break;
	case SIGCHLD:
		atomic_fetch_or(&pending, SIG_CHILD);
		break;
	}
	if (write(sigpipe_fd[1], "", 1) == -1) {
		/* Full pipe: the loop is already awake. */
	}
	errno = saved;
}

int
daemon_signals_init(void)
{
	struct sigaction sa;
	static const int sigs[] = { SIGHUP, SIGTERM, SIGINT, SIGUSR1, SIGUSR2,
		SIGCHLD };

	if (sigpipe_fd[0] != -1) {
		close(sigpipe_fd[0]);
		close(sigpipe_fd[1]);
	}
	if (pipe(sigpipe_fd) == -1 ||
	    set_nonblock_cloexec(sigpipe_fd[0]) == -1 ||
	    set_nonblock_cloexec(sigpipe_fd[1]) == -1)
		return -1;
	atomic_store(&pending, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	for (size_t i = 0; i < ARRAY_LEN(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return sigpipe_fd[0];
}

int
daemon_signals_take(void)
{
	char buf[64];
	int p;

	while (read(sigpipe_fd[0], buf, sizeof(buf)) > 0)
		;
	p = atomic_exchange(&pending, 0);
	return p;
}

int
daemon_detach(void)
{
	int fds[2];
	pid_t pid;
	char status = 1;

	if (pipe(fds) == -1)
		return -1;
	pid = fork();
	if (pid == -1)
		return -1;
	if (pid > 0) {
		/* Parent: exit only once the child is serving (or failed),
		 * so that init scripts see the real outcome. */
		close(fds[1]);
		if (read(fds[0], &status, 1) != 1) {
			int ws;

			waitpid(pid, &ws, 0);
			status = 1;
		}
		_exit(status);
	}
	close(fds[0]);
	ready_fd = fds[1];
	setsid();
	return 0;
}

void
daemon_ready(int ok)
{
	char status = ok ? 0 : 1;
	int null;

	if (ready_fd == -1)
		return;
	if (ok && (null = open("/dev/null", O_RDWR)) != -1) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
	if (write(ready_fd, &status, 1) == -1) {
		/* The parent is gone; nothing to tell. */
	}
	close(ready_fd);
	ready_fd = -1;
}

/* The pid file's directory, open from pidfile_write on: after `chroot`
 * the path no longer leads there, the descriptor still does. */
static int pid_dirfd = -1;
static char pid_base[256];

static void
pidfile_keep_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];

	if (pid_dirfd != -1)
		close(pid_dirfd);
	pid_dirfd = -1;
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 :
		    (int)(slash - path), path);
	snprintf(pid_base, sizeof(pid_base), "%s", slash ? slash + 1 : path);
	pid_dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

int
pidfile_write(const char *path)
{
	char tmp[4096], line[32];
	int fd, n;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0644);
	if (fd == -1) {
		log_err("cannot write pid file %s: %s", tmp, strerror(errno));
		return -1;
	}
	n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (write(fd, line, (size_t)n) != n || close(fd) == -1 ||
	    rename(tmp, path) == -1) {
		log_err("cannot write pid file %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	pidfile_keep_dir(path);
	return 0;
}

void
pidfile_remove(const char *path)
{
	char line[32] = "";
	int dirfd = pid_dirfd != -1 ? pid_dirfd : AT_FDCWD;
	const char *name = pid_dirfd != -1 ? pid_base : path;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd == -1)
		return;
	/* Only our own: another instance may have written it since. */
	n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n > 0 && atol(line) == (long)getpid())
		unlinkat(dirfd, name, 0);
	if (pid_dirfd != -1)
		close(pid_dirfd);
	pid_dirfd = -1;
}

int
daemon_check_identity(const char *user, const char *group, FILE *err)
{
	int nerr = 0;

	if (user && getpwnam(user) == NULL) {
		fprintf(err, "sheath: user: unknown user \"%s\"\n", user);
		nerr++;
	}
	if (group && getgrnam(group) == NULL) {
		fprintf(err, "sheath: group: unknown group \"%s\"\n", group);
		nerr++;
	}
	return nerr ? -1 : 0;
}

int
daemon_drop_privileges(const char *user, const char *group, const char *root,
    FILE *err)
{
	struct passwd *pw = NULL;
	struct group *gr = NULL;
	gid_t gid;

	if (user && (pw = getpwnam(user)) == NULL) {
		fprintf(err, "sheath: user: unknown user \"%s\"\n", user);
		return -1;
	}
	if (group && (gr = getgrnam(group)) == NULL) {
		fprintf(err, "sheath: group: unknown group \"%s\"\n", group);
		return -1;
	}
	if (root != NULL && (chroot(root) == -1 || chdir("/") == -1)) {
		fprintf(err, "sheath: chroot: %s: %s\n", root, strerror(errno));
		return -1;
	}
	if (pw == NULL && gr == NULL)
		return 0;
	gid = gr != NULL ? gr->gr_gid : pw != NULL ? pw->pw_gid : getgid();
	if (setgroups(1, &gid) == -1 || setgid(gid) == -1 ||
	    (pw && setuid(pw->pw_uid) == -1)) {
		fprintf(err, "sheath: cannot drop privileges: %s\n",
		    strerror(errno));
		return -1;
	}
	/* Verify: regaining root must fail. */
	if (pw && pw->pw_uid != 0 && (setuid(0) != -1 || seteuid(0) != -1)) {
		fprintf(err, "sheath: privileges could be regained after "
		    "dropping them; refusing to run\n");
		return -1;
	}
	return 0;
}
