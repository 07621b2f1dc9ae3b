/* sandbox.h: no-new-privileges and a seccomp allow-list for the processes
 * that handle connections (the `sandbox` global key). */
#ifndef SHEATH_SANDBOX_H
#define SHEATH_SANDBOX_H

#include <stdio.h>

#include "config.h"

/** sandbox_init(c, err): at start-up, before any worker is forked. Says
 * whether the serving processes will be sandboxed: 1 when c->sandbox is
 * set and this build and kernel can do it; 0 when c->sandbox is false, or
 * with a warning when the build lacks libseccomp or runs under valgrind;
 * -1 (printed to err) when the kernel has no seccomp filters. Also takes the
 * test-only SHEATH_TEST_SANDBOX_VIOLATION variable out of the environment
 * (see sandbox_enter). */
int sandbox_init(const struct conf *c, FILE *err);

/** sandbox_enter(c): in a worker, once privileges are dropped and the loop
 * is set up: set no-new-privileges and load the filter. 0, or -1 (logged)
 * when it could not be loaded; the worker must then not serve. */
int sandbox_enter(const struct conf *c);

/** sandbox_test_forked(): in the supervisor after a fork: the test-only
 * violation (SHEATH_TEST_SANDBOX_VIOLATION=1 at start-up) is for the first
 * worker only, so that its replacement serves. */
void sandbox_test_forked(void);

#endif
