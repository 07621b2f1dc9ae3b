/* util.h: small helpers shared by every module (allocation, string lists, time). */
#ifndef SHEATH_UTIL_H
#define SHEATH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/** xmalloc/xcalloc/xrealloc/xstrdup: allocate or abort the process; used
 * only where running out of memory leaves nothing sensible to do. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/** A growable list of owned strings (config lists, allow-lists). */
struct strlist {
	char **v;
	size_t n;
};

/** strlist_add(l, s): append a copy of s. */
void strlist_add(struct strlist *l, const char *s);
/** strlist_free(l): free every string and the vector; l is left empty. */
void strlist_free(struct strlist *l);

/** shared_map(size): zeroed memory shared with the processes forked after
 * this call (the metrics table, the status board); NULL on error. */
void *shared_map(size_t size);

/** now_ms(): CLOCK_MONOTONIC in milliseconds. */
int64_t now_ms(void);

/** set_nonblock_cloexec(fd): O_NONBLOCK + FD_CLOEXEC; -1 on error. */
int set_nonblock_cloexec(int fd);

/** tcp_nodelay(fd): TCP_NODELAY on; on a socket that already has it, this
 * also pushes out what MSG_MORE held back. Errors are ignored (a unix
 * socket has no such option). */
void tcp_nodelay(int fd);

#define TCP_KEEPALIVE_DEFAULT 300
#define TCP_KEEPALIVE_MAX 32767	/* Linux's limit for TCP_KEEPIDLE */
#define TCP_KEEPALIVE_PROBES 5

/** tcp_keepalive(fd, idle): keepalive probes after idle seconds without
 * traffic, then every min(idle, 60) s; after TCP_KEEPALIVE_PROBES
 * unanswered the kernel reports the connection dead. idle 0 turns them
 * off. Errors are ignored, as for tcp_nodelay. */
void tcp_keepalive(int fd, int idle);

#endif
