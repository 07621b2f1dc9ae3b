/* runner.h: the life of a serving process: start-up after the
 * configuration is loaded, the loop, SIGHUP reload, SIGTERM drain. Used by
 * the single process (workers = 1) and by each worker. */
#ifndef SHEATH_RUNNER_H
#define SHEATH_RUNNER_H

#include <stdio.h>

#include "config.h"
#include "service.h"

enum role { ROLE_SINGLE, ROLE_WORKER, ROLE_SUPERVISOR };

/** runner_init(g, build, foreground): the generation in force and the
 * function that builds a new configuration on reload. */
void runner_init(struct generation *g, struct conf *(*build)(FILE *err),
    int foreground);

/** runner_start(err): bind listeners (or take systemd's), open the metrics
 * endpoint and the log, daemonize unless foreground, install signal
 * handlers and write the pid file. -1 on error (printed to err). */
int runner_start(FILE *err);

/** runner_serve(role): drop privileges and run the loop until a drain
 * ends. Returns the exit status. */
int runner_serve(enum role role);

/** runner_reload(): build a new generation and swap it in, keeping
 * listeners whose address did not change. 0, or -1 (the old one stays). */
int runner_reload(void);

/** runner_close_listeners(): stop accepting (drain). */
void runner_close_listeners(void);

/** runner_set_role(r): the supervisor declares itself (it serves nothing). */
void runner_set_role(enum role r);

/** runner_set_serving_fd(fd): a worker writes one byte to fd, and closes
 * it, once it is about to serve (listeners watched, sandbox loaded). */
void runner_set_serving_fd(int fd);

/** runner_conf(): the configuration in force. */
const struct conf *runner_conf(void);

/** runner_sigfd(): the signal self-pipe (for the supervisor's wait). */
int runner_sigfd(void);

/** runner_exit(): release everything; removes the pid file. */
void runner_exit(void);

#endif
