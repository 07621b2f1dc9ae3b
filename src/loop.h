/* loop.h: the one poll() loop. File descriptors are registered once and
 * their interest changed in place, so a pass costs no set-up per
 * connection; removals are deferred until the pass ends so callbacks may
 * add or remove freely. */
#ifndef SHEATH_LOOP_H
#define SHEATH_LOOP_H

#include <stdint.h>

typedef void loop_cb(void *arg, short revents);

/** loop_add(slot, fd, events, cb, arg): watch fd; *slot is kept up to date
 * with its index and must stay valid until loop_del. */
void loop_add(int *slot, int fd, short events, loop_cb *cb, void *arg);

/** loop_mod(slot, events): change the interest of a watched fd. */
void loop_mod(int slot, short events);

/** loop_del(slot): stop watching; *slot becomes -1. */
void loop_del(int *slot);

/** loop_set_tick(cb, interval_ms): call cb at most every interval_ms (timers
 * are swept there). */
void loop_set_tick(void (*cb)(int64_t now), int interval_ms);

/** loop_set_ready(has_work, run): has_work() true makes poll() not sleep;
 * run() is called after every poll() (work that poll cannot see, such as
 * decrypted TLS bytes). */
void loop_set_ready(int (*has_work)(void), void (*run)(void));

/** loop_once(max_wait_ms): one pass: timers, poll() for at most max_wait_ms
 * (-1: until the next tick), callbacks. -1 if poll() failed. */
int loop_once(int max_wait_ms);

/** loop_run(stop): run until *stop becomes true (checked after each pass). */
void loop_run(volatile int *stop);


/** loop_free(): release the tables. */
void loop_free(void);

#endif
