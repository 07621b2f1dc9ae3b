/* listener.c: accept connections, or refuse them at once when a limit is
 * reached, never busy-looping on EMFILE. */
#include "autoconfig.h"
#include "listener.h"
#include "conn.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "sysd.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define ACCEPTS_PER_EVENT 64

static int global_max = 10000;
static int spare_fd = -1;	/* released to accept-and-close at EMFILE */
static int64_t last_emfile_log;
static int unlink_on_close = 1;	/* a worker leaves socket files alone */

void
listener_fds_exhausted(const char *service)
{
	log_ratelimited(&last_emfile_log, LOG_WARNING, "service %s: out of "
	    "file descriptors, refusing new connections", service);
}

void
listener_keep_files(void)
{
	unlink_on_close = 0;
}

void
listener_init(int max_connections)
{
	global_max = max_connections;
	if (spare_fd == -1)
		spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

int
unix_perm_apply(const char *path, const struct unix_perm *perm)
{
	if (perm->gid != (gid_t)-1 && chown(path, (uid_t)-1, perm->gid) == -1)
		return -1;
	return chmod(path, perm->mode);
}

/* A unix socket is bound under a temporary name in the same directory
 * while nobody may use it (umask 0777: mode 0000), gets its group and
 * mode, listens, and only then is renamed onto its path: no client ever
 * sees it with other permissions, and a stale socket file there is
 * replaced in the same step. */
static int
listen_unix(const struct sockaddr_any *sa, const struct unix_perm *perm,
    char *err, size_t errlen)
{
	static const struct unix_perm def = { 0660, (gid_t)-1 };
	static unsigned seq;
	const char *path = ((const struct sockaddr_un *)&sa->ss)->sun_path;
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
	struct sockaddr_un tmp;
	struct stat st;
	const char *step = "bind";
	mode_t old;
	int fd, n, r;

	if (perm == NULL)
		perm = &def;
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "cannot listen on unix:%s: it exists and "
		    "is not a socket", path);
		return -1;
	}
	memset(&tmp, 0, sizeof(tmp));
	tmp.sun_family = AF_UNIX;
	memcpy(tmp.sun_path, path, dirlen);
	n = snprintf(tmp.sun_path + dirlen, sizeof(tmp.sun_path) - dirlen,
	    ".sheath-%ld.%u", (long)getpid(), seq++);
	if (n < 0 || (size_t)n >= sizeof(tmp.sun_path) - dirlen) {
		snprintf(err, errlen, "cannot listen on unix:%s: the path is "
		    "too long for its temporary name in the same directory",
		    path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		step = "socket";
		goto fail;
	}
	(void)unlink(tmp.sun_path);
	old = umask(0777);
	r = bind(fd, (const struct sockaddr *)&tmp, sizeof(tmp));
	umask(old);
	if (r == -1)
		goto fail;
	if (unix_perm_apply(tmp.sun_path, perm) == -1)
		step = perm->gid != (gid_t)-1 ? "chown/chmod" : "chmod";
	else if (listen(fd, 511) == -1)
		step = "listen";
	else if (rename(tmp.sun_path, path) == -1)
		step = "rename";
	else
		return fd;
	r = errno;
	(void)unlink(tmp.sun_path);
	errno = r;
fail:
	snprintf(err, errlen, "cannot listen on unix:%s: %s: %s", path, step,
	    strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

int
listen_socket(const struct sockaddr_any *sa, const struct unix_perm *perm,
    char *err, size_t errlen)
{
	int fd, one = 1, zero = 0;
	char addr[ADDR_STRLEN];

	if (sa->ss.ss_family == AF_UNIX)
		return listen_unix(sa, perm, err, errlen);
	fd = socket(sa->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 =
		    (const struct sockaddr_in6 *)&sa->ss;
		int v6only = !IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr);

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only ? &one :
		    &zero, sizeof(int));
	}
	if (bind(fd, (const struct sockaddr *)&sa->ss, sa->len) == -1 ||
	    listen(fd, 511) == -1)
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "cannot listen on %s: %s", addr_format(
	    (const struct sockaddr *)&sa->ss, sa->len, addr, sizeof(addr)),
	    strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

int
listener_open(struct service *s, FILE *err)
{
	int fd = sysd_listen_fd(s->conf->name);

	/* A socket passed by systemd (FileDescriptorName= the service name)
	 * replaces binding `accept`. */
	if (fd != -1) {
		if (set_nonblock_cloexec(fd) == -1) {
			conf_report(err, s->conf->file, s->conf->def_line,
			    "accept", "socket activation: %s", strerror(errno));
			return -1;
		}
		s->lfd = fd;
		s->activated = 1;
		return 0;
	}
	/* ":port" resolves to [::] then 0.0.0.0: the dual-stack socket is
	 * enough where IPv6 exists. */
	for (int i = 0; i < s->nlisten_sa; i++) {
		char why[256];

		s->lfd = listen_socket(&s->listen_sa[i], &s->conf->unix_perm,
		    why, sizeof(why));
		if (s->lfd != -1)
			return 0;
		if (i + 1 == s->nlisten_sa)
			conf_report(err, s->conf->file,
			    s->conf->line[K_ACCEPT] > 0 ?
			    s->conf->line[K_ACCEPT] : s->conf->def_line,
			    "accept", "%s", why);
	}
	return -1;
}

static void
refuse(int fd)
{
	struct linger l = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

static void
accept_event(void *arg, short revents)
{
	struct service *s = arg;
	int limit = s->conf->max_connections;

	(void)revents;
	for (int i = 0; i < ACCEPTS_PER_EVENT && s->lfd != -1; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(s->lfd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		int64_t total, mine;

		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if ((errno == EMFILE || errno == ENFILE) &&
			    spare_fd != -1) {
				/* Free one descriptor to take the connection
				 * off the queue and refuse it at once. */
				close(spare_fd);
				fd = accept(s->lfd, NULL, NULL);
				if (fd != -1)
					refuse(fd);
				spare_fd = open("/dev/null",
				    O_RDONLY | O_CLOEXEC);
				listener_fds_exhausted(s->conf->name);
				continue;
			}
			return;		/* EAGAIN, or nothing to do */
		}
		/* Limits count every worker's connections (shared
		 * counters), or this process's without them. */
		total = metrics_total_active();
		mine = metrics_active(s->metrics_slot);
		if (total < 0)
			total = conn_count();
		if (mine < 0)
			mine = s->active;
		if (total >= global_max || (limit > 0 && mine >= limit)) {
			refuse(fd);
			log_ratelimited(&s->last_limit_log, LOG_WARNING,
			    "service %s: connection limit reached (%d), "
			    "refusing new connections", s->conf->name,
			    total >= global_max ? global_max : limit);
			continue;
		}
		/* Per connection, not on the listener: a reload that
		 * keeps the listener may change tcp_keepalive. */
		if (ss.ss_family != AF_UNIX)
			tcp_keepalive(fd, s->conf->tcp_keepalive);
		conn_start(s, fd, (struct sockaddr *)&ss, len);
	}
}

void
listener_watch(struct service *s)
{
	char addr[ADDR_STRLEN];
	struct sockaddr_storage ss = { 0 };
	socklen_t len = sizeof(ss);

	loop_add(&s->lslot, s->lfd, POLLIN, accept_event, s);
	if (getsockname(s->lfd, (struct sockaddr *)&ss, &len) == -1)
		len = 0;
	/* Accepted sockets inherit TCP_NODELAY (also from a socket systemd
	 * passed): no setsockopt per connection. */
	if (ss.ss_family != AF_UNIX && len > 0)
		tcp_nodelay(s->lfd);
	if (ss.ss_family == AF_UNIX)
		snprintf(addr, sizeof(addr), "unix:%s",
		    s->conf->accept_addr.path);
	else if (len > 0)
		addr_format((struct sockaddr *)&ss, len, addr, sizeof(addr));
	else
		snprintf(addr, sizeof(addr), "%s", s->conf->accept);
	log_notice("service %s: listening on %s (%s mode%s)", s->conf->name,
	    addr, mode_name(s->conf->mode), s->activated ?
	    ", socket from systemd" : "");
}

void
listener_close(struct service *s)
{
	if (s->lfd == -1)
		return;
	loop_del(&s->lslot);
	close(s->lfd);
	s->lfd = -1;
	if (s->conf->accept_addr.kind == ADDR_UNIX && !s->activated &&
	    unlink_on_close)
		unlink(s->conf->accept_addr.path);
}

void
listener_take(struct service *dst, struct service *src)
{
	dst->lfd = src->lfd;
	dst->activated = src->activated;
	src->lfd = -1;
	if (dst->conf->accept_addr.kind == ADDR_UNIX && !dst->activated &&
	    unlink_on_close && unix_perm_apply(dst->conf->accept_addr.path,
	    &dst->conf->unix_perm) == -1)
		log_warn("service %s: cannot set unix_mode/unix_group of "
		    "%s: %s", dst->conf->name, dst->conf->accept_addr.path,
		    strerror(errno));
	if (src->lslot >= 0) {
		loop_del(&src->lslot);
		loop_add(&dst->lslot, dst->lfd, POLLIN, accept_event, dst);
	}
}
