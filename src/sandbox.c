/* sandbox.c: the seccomp allow-list of a process that handles connections.
 *
 * Such a process (a worker) gets its listening sockets, configuration,
 * keys, log and metrics table from the supervisor, which reloads, binds
 * and forks and handles no connection itself. So once a worker has dropped
 * its privileges it only needs the loop: accept, connect out, move bytes,
 * log, answer /metrics, exit. Anything else (exec, ptrace, bind, listen,
 * set*id, chroot, mount, module or key loading, ...) kills the process;
 * the supervisor reaps it, logs it and starts another.
 *
 * The list is measured, not guessed: strace -f of the whole test suite
 * (workers, SIGHUP, SIGUSR1, metrics, PKCS#11 through SoftHSM2) and of the
 * benchmark. sheath(8) (SANDBOX) documents it; keep the two in step.
 */
#include "autoconfig.h"
#include "sandbox.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_SECCOMP
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#endif
#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#define TEST_VAR "SHEATH_TEST_SANDBOX_VIOLATION"

/* ASan, LSan and UBSan make calls of their own: LSan's leak check at exit
 * stops the process's threads from a helper (clone, ptrace, wait4), and a
 * report reads /proc/self/maps. configure --enable-sanitizers defines
 * SANITIZER_BUILD; clang and gcc also say so themselves. */
#if defined(SANITIZER_BUILD) || defined(__SANITIZE_ADDRESS__)
#define SANITIZERS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define SANITIZERS 1
#endif
#endif

static int available;		/* this build and kernel can filter */
static int test_violation;	/* this process makes a forbidden call */

void
sandbox_test_forked(void)
{
	test_violation = 0;
}

int
sandbox_init(const struct conf *c, FILE *err)
{
	const char *v = getenv(TEST_VAR);

	/* Read once, and kept from every child but the first worker. */
	test_violation = v != NULL && strcmp(v, "1") == 0;
	unsetenv(TEST_VAR);
	available = 0;
#ifndef HAVE_SECCOMP
	(void)err;
	if (c->sandbox)
		log_warn("sandbox: not available (sheath was built without "
		    "libseccomp); running without it");
	return 0;
#else
#ifdef RUNNING_ON_VALGRIND
	/* Valgrind makes system calls of its own on the program's behalf
	 * (code translation, signal frames) that no allow-list of ours can
	 * foresee. */
	if (RUNNING_ON_VALGRIND) {
		if (c->sandbox)
			log_warn("sandbox: running under valgrind; no seccomp "
			    "filter");
		return 0;
	}
#endif
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == -1 && errno == EINVAL) {
		if (!c->sandbox)
			return 0;
		fprintf(err, "sheath: %s%ssandbox: this kernel has no seccomp "
		    "filters; set sandbox = false to run without them\n",
		    c->file ? c->file : "", c->file ? ": " : "");
		return -1;
	}
	available = 1;
	return c->sandbox;
#endif
}

#ifdef HAVE_SECCOMP

/* To measure what a new feature needs, build with
 * CPPFLAGS=-DSANDBOX_MEASURE: a call outside the list is then allowed and
 * logged by the kernel (dmesg: "audit: type=1326 ... syscall=N"). */
#ifdef SANDBOX_MEASURE
#define SANDBOX_DEFAULT_ACTION SCMP_ACT_LOG
#else
#define SANDBOX_DEFAULT_ACTION SCMP_ACT_KILL_PROCESS
#endif

/* A call allowed whatever its arguments. A name unknown on this
 * architecture (libseccomp gives it a negative pseudo number) is skipped:
 * the libc there does not use it either. */
static int
allow(scmp_filter_ctx ctx, int nr)
{
	int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);

	return r < 0 && nr < 0 ? 0 : r;
}

static int
allow_if(scmp_filter_ctx ctx, int nr, struct scmp_arg_cmp cmp)
{
	int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, cmp);

	return r < 0 && nr < 0 ? 0 : r;
}

/* Calls allowed with any arguments, one group per reason. */
static const int plain[] = {
	/* The loop: poll, its clock (the vDSO falls back to the calls), the
	 * signal self-pipe's handler returning. */
	SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(clock_gettime),
	SCMP_SYS(gettimeofday), SCMP_SYS(time), SCMP_SYS(restart_syscall),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigaction),

	/* Descriptors it already has or is given: sockets and the log. dup2
	 * and dup3 put a reopened log file in place (SIGUSR1). */
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(close), SCMP_SYS(fcntl), SCMP_SYS(dup2), SCMP_SYS(dup3),
	SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(lseek),

	/* Connections: accept on the listeners the supervisor made, connect
	 * out (the socket call itself is checked below), relay, close. No
	 * bind, no listen: new listeners come from the supervisor. */
	SCMP_SYS(accept4), SCMP_SYS(accept), SCMP_SYS(connect),
	SCMP_SYS(recvfrom), SCMP_SYS(sendto), SCMP_SYS(recvmsg),
	SCMP_SYS(sendmsg), SCMP_SYS(shutdown), SCMP_SYS(getsockopt),
	SCMP_SYS(setsockopt), SCMP_SYS(getsockname), SCMP_SYS(getpeername),

	/* Memory: malloc and GnuTLS (mmap and mprotect are checked below). */
	SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),

	/* GnuTLS reseeds its generator after the fork; log lines carry the
	 * pid. */
	SCMP_SYS(getrandom), SCMP_SYS(getpid), SCMP_SYS(gettid),

	/* PKCS#11 (p11-kit, SoftHSM2): after the fork a module reopens its
	 * session and reads its token store (openat read-only, below) and
	 * takes its mutexes, when a key on a token first signs. Measured
	 * with tests/13-ocsp-hsm.bats. */
	SCMP_SYS(futex),

	/* The end: exit (and abort() on a bug, with tgkill below). */
	SCMP_SYS(exit), SCMP_SYS(exit_group),
};

#ifdef SANITIZERS
/* Sanitizer builds only (never a release): LSan's leak check at exit runs
 * a helper that ptrace-stops this process's threads, listed from
 * /proc/self/task with the runtime's own open and getdents; reports read
 * /proc/self/maps. Still no exec: a report is symbolized in-process. */
static const int sanitizer[] = {
	SCMP_SYS(open), SCMP_SYS(getdents),
	SCMP_SYS(clone), SCMP_SYS(clone3), SCMP_SYS(ptrace), SCMP_SYS(wait4),
	SCMP_SYS(prctl), SCMP_SYS(sched_yield), SCMP_SYS(sigaltstack),
	SCMP_SYS(readlink), SCMP_SYS(readlinkat),
	SCMP_SYS(getppid), SCMP_SYS(sched_getaffinity), SCMP_SYS(tgkill),
	SCMP_SYS(kill), SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep),
	SCMP_SYS(getrlimit), SCMP_SYS(prlimit64), SCMP_SYS(uname),
};
#endif

static int
build(scmp_filter_ctx ctx)
{
	int r = 0;

	for (size_t i = 0; i < ARRAY_LEN(plain) && r == 0; i++)
		r = allow(ctx, plain[i]);
#ifdef SANITIZERS
	for (size_t i = 0; i < ARRAY_LEN(sanitizer) && r == 0; i++)
		r = allow(ctx, sanitizer[i]);
#endif
	if (r != 0)
		return r;

	/* Outgoing sockets only of the families `connect` can name (and
	 * syslog's unix datagram socket, reopened when syslogd restarts).
	 * No netlink, no packet sockets. */
	if ((r = allow_if(ctx, SCMP_SYS(socket), SCMP_A0(SCMP_CMP_EQ,
	    AF_INET))) != 0 || (r = allow_if(ctx, SCMP_SYS(socket),
	    SCMP_A0(SCMP_CMP_EQ, AF_INET6))) != 0 || (r = allow_if(ctx,
	    SCMP_SYS(socket), SCMP_A0(SCMP_CMP_EQ, AF_UNIX))) != 0)
		return r;

	/* abort() on a bug raises SIGABRT at itself, and only at itself:
	 * the process still dies of SIGABRT, not of SIGSYS. */
	if ((r = allow_if(ctx, SCMP_SYS(tgkill), SCMP_A0(SCMP_CMP_EQ,
	    (scmp_datum_t)getpid()))) != 0)
		return r;

	/* Memory, but never executable: no new code can be mapped. */
	if ((r = allow_if(ctx, SCMP_SYS(mmap), SCMP_A2(SCMP_CMP_MASKED_EQ,
	    PROT_EXEC, 0))) != 0 || (r = allow_if(ctx, SCMP_SYS(mprotect),
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) != 0)
		return r;

	/* Files: read-only (the spare descriptor on /dev/null that the
	 * EMFILE back-off gives up and takes again; PKCS#11 token stores),
	 * and append with create (the log file, reopened on SIGUSR1). Never
	 * truncate, never write in place. */
#define OPEN_MASK (O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND | O_DIRECTORY)
	if ((r = allow_if(ctx, SCMP_SYS(openat), SCMP_A2(SCMP_CMP_MASKED_EQ,
	    OPEN_MASK, O_RDONLY))) != 0 || (r = allow_if(ctx,
	    SCMP_SYS(openat), SCMP_A2(SCMP_CMP_MASKED_EQ, OPEN_MASK,
	    O_WRONLY | O_CREAT | O_APPEND))) != 0)
		return r;
	return 0;
}

/* Test only: a forbidden call, made once the filter is in force, so that
 * the test suite can see the kill and the restart. Harmless: the filter
 * kills the process before the call does anything. */
static void
test_violate(void)
{
	static char *const argv[] = { "true", NULL };

	log_warn("sandbox: %s is set: calling execve, which the sandbox "
	    "forbids (test only)", TEST_VAR);
	execve("/bin/true", argv, argv + 1);
	log_err("sandbox: execve was not stopped: %s", strerror(errno));
	_exit(1);
}

int
sandbox_enter(const struct conf *c)
{
	scmp_filter_ctx ctx;
	int r;

	if (!available || !c->sandbox)
		return 0;
	/* Set up before the filter what would read files later: the time
	 * zone that syslog's time stamps use. */
	tzset();
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		log_err("sandbox: cannot set no-new-privileges: %s",
		    strerror(errno));
		return -1;
	}
	/* The whole process dies, not only the calling thread (GnuTLS or
	 * a PKCS#11 module could start one). */
	if ((ctx = seccomp_init(SANDBOX_DEFAULT_ACTION)) == NULL) {
		log_err("sandbox: cannot set up the seccomp filter");
		return -1;
	}
	if ((r = build(ctx)) != 0 || (r = seccomp_load(ctx)) != 0) {
		log_err("sandbox: cannot load the seccomp filter: %s",
		    strerror(-r));
		seccomp_release(ctx);
		return -1;
	}
	seccomp_release(ctx);
	log_info("sandbox: worker %ld runs with the seccomp filter",
	    (long)getpid());
	if (test_violation)
		test_violate();
	return 0;
}

#else /* !HAVE_SECCOMP */

int
sandbox_enter(const struct conf *c)
{
	(void)c;
	(void)available;
	return 0;
}

#endif
