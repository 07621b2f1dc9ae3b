/* listener.h: listening sockets, accept(2) and the limits applied there. */
#ifndef SHEATH_LISTENER_H
#define SHEATH_LISTENER_H

#include <stdio.h>

#include "service.h"

/** listen_socket(sa, perm, err, errlen): a non-blocking listening socket on
 * sa (SO_REUSEADDR; [::] dual-stack), or -1 with a reason. A unix socket
 * file gets perm (NULL: 0660) before it appears at its path, replacing a
 * stale socket file there. */
int listen_socket(const struct sockaddr_any *sa, const struct unix_perm *perm,
    char *err, size_t errlen);

/** unix_perm_apply(path, perm): chown/chmod an existing socket file (a
 * reload that keeps the socket but changes unix_mode or unix_group).
 * Returns 0 or -1 (errno set). */
int unix_perm_apply(const char *path, const struct unix_perm *perm);

/** listener_open(s, err): bind and listen for service s (SO_REUSEADDR,
 * dual-stack for ":port", a stale unix socket file replaced). Returns 0, or
 * -1 with the problem printed to err. */
int listener_open(struct service *s, FILE *err);

/** listener_watch(s): start accepting in the loop. */
void listener_watch(struct service *s);

/** listener_close(s): stop accepting and close the socket (unix socket
 * files are removed). */
void listener_close(struct service *s);

/** listener_fds_exhausted(service): the warning for running out of file
 * descriptors (accepting, or connecting onwards), at most once a second
 * for the whole process. */
void listener_fds_exhausted(const char *service);

/** listener_keep_files(): never unlink unix socket files from now on (a
 * worker: the files belong to its supervisor, and newer workers serve
 * them after a reload). */
void listener_keep_files(void);

/** listener_take(dst, src): move src's open listening socket to dst (a
 * reload keeps unchanged listeners open). */
void listener_take(struct service *dst, struct service *src);

/** listener_init(max_connections): set the global cap and reserve the
 * spare descriptor used to refuse connections at EMFILE. */
void listener_init(int max_connections);

#endif
