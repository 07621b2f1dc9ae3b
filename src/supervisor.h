/* supervisor.h: workers = N: a parent that holds the listening sockets and
 * the configuration, and N worker processes that serve them. */
#ifndef SHEATH_SUPERVISOR_H
#define SHEATH_SUPERVISOR_H

/** supervise(n): fork n workers and keep n running until SIGTERM; SIGHUP
 * reloads by starting n workers on the new configuration and retiring the
 * old ones (they stop accepting and finish their connections). Returns the
 * exit status. */
int supervise(int n);

#endif
