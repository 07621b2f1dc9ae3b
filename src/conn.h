/* conn.h: a connection pair and its relay state machine. This is the only
 * module that knows both ends of a connection. */
#ifndef SHEATH_CONN_H
#define SHEATH_CONN_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

struct service;

/** conn_start(svc, fd, peer, len): take over an accepted, non-blocking fd
 * and start the first stage (TLS handshake, or connect in client mode). */
void conn_start(struct service *svc, int fd, const struct sockaddr *peer,
    socklen_t len);

/** conn_count(): open connections in this process. */
int conn_count(void);

/** conn_sweep(now): fire expired timers (called from the loop tick). */
void conn_sweep(int64_t now);

/** conn_has_ready() / conn_run_ready(): connections with work poll() cannot
 * see (decrypted TLS bytes, or a pass cut short for fairness). */
int conn_has_ready(void);
void conn_run_ready(void);

/** conn_abort_all(why): close every connection (drain deadline). */
void conn_abort_all(const char *why);

#endif
