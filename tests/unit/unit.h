/* unit.h: a minimal assertion harness for automake's test driver: each
 * failed CHECK prints where and why; main returns non-zero if any failed. */
#ifndef SHEATH_UNIT_H
#define SHEATH_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failed, unit_checks;

#define CHECK(cond) do { \
	unit_checks++; \
	if (!(cond)) { \
		unit_failed++; \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
		    __LINE__, #cond); \
	} \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *unit_a = (a), *unit_b = (b); \
	unit_checks++; \
	if (unit_a == NULL || unit_b == NULL || strcmp(unit_a, unit_b)) { \
		unit_failed++; \
		fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__, \
		    __LINE__, unit_a ? unit_a : "(null)", \
		    unit_b ? unit_b : "(null)"); \
	} \
} while (0)

static int
unit_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, unit_checks, unit_failed);
	return unit_failed ? 1 : 0;
}

#endif
