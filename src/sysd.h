/* sysd.h: systemd integration (readiness notification, socket activation).
 * Every function is a harmless no-op when built without libsystemd or when
 * not started by systemd. */
#ifndef SHEATH_SYSD_H
#define SHEATH_SYSD_H

/** sysd_notify(fmt, ...): send a state string ("READY=1", "STATUS=..."). */
void sysd_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** sysd_listen_fd(name): the socket systemd passed for FileDescriptorName=
 * name (LISTEN_FDS/LISTEN_FDNAMES), taken over by the caller; or -1. */
int sysd_listen_fd(const char *name);

/** sysd_close_unused(): close (and log) passed sockets no service took. */
void sysd_close_unused(void);


#endif
