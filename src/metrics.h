/* metrics.h: per-service counters in memory shared by every worker, and
 * their Prometheus text rendering. */
#ifndef SHEATH_METRICS_H
#define SHEATH_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "verdict.h"

/* How a connection ended (the `end=` of the log line). */
enum outcome { OUT_CLOSED, OUT_TRUNCATED, OUT_TIMEOUT, OUT_REJECTED,
	OUT_BACKEND, OUT_ERROR, OUT_NO_DATA, OUT_COUNT };

/** metrics_outcome_name(o): the name of an outcome, as the log's end= and
 * the outcome label say it ("closed", ..., "no data" in the log and
 * "no_data" as a label: see metrics_outcome_label). */
const char *metrics_outcome_name(enum outcome o);
const char *metrics_outcome_label(enum outcome o);


#define METRICS_MAX_SERVICES 256
#define METRICS_MAX_PROCS 64	/* workers, current and retired, at once */

/** metrics_init(): map the shared table; call once before forking. */
int metrics_init(void);

/** metrics_worker_start(): in a worker, before it accepts: keep this
 * process's open connections apart too, so they can be taken off the shared
 * counts if it dies. -1 when METRICS_MAX_PROCS are taken (its connections
 * then cannot be corrected). */
int metrics_worker_start(void);

/** metrics_worker_gone(pid): in the supervisor, once worker PID has been
 * reaped: take the connections it still counted off the shared counts;
 * returns how many there were. */
int64_t metrics_worker_gone(pid_t pid);

/** metrics_slot(name): the table slot for a service name (assigned on first
 * use; names keep their slot across reloads), or -1 when full. */
int metrics_slot(const char *name);

void metrics_accepted(int slot);
void metrics_ended(int slot, enum outcome o, enum verdict why,
    uint64_t bytes_in, uint64_t bytes_out);
/** metrics_handshake(slot, ms, resumed): a verified handshake, ms after
 * accept; resumed when it resumed a TLS session. */
void metrics_handshake(int slot, int64_t ms, int resumed);
void metrics_reload(int ok);

/** metrics_render(out, names, n): the Prometheus text exposition for the
 * services named (those of the configuration in force). */
void metrics_render(FILE *out, const char *const *names, size_t n);

/** metrics_active(slot): open connections of that service, across all
 * workers; -1 without a table. */
int64_t metrics_active(int slot);

/** metrics_total_active(): open connections of every service, across all
 * workers; -1 without a table. */
int64_t metrics_total_active(void);

#endif
