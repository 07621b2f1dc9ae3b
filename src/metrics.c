/* metrics.c: counters live in one MAP_SHARED mapping made before any worker
 * is forked, so /metrics is the same whichever worker answers. Updates are
 * relaxed atomic adds: counters need no ordering. */
#include "autoconfig.h"
#include "metrics.h"
#include "util.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

static const double buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define NBUCKETS ARRAY_LEN(buckets)

struct svc_counters {
	char name[72];
	uint64_t accepted;
	int64_t active;
	uint64_t ended[OUT_COUNT];
	uint64_t rejected[V_COUNT];	/* by verdict; [V_OK] unused */
	uint64_t handshake_failures;
	uint64_t bytes_in, bytes_out;
	uint64_t hs_bucket[NBUCKETS];
	uint64_t hs_count;
	uint64_t hs_sum_us;
	uint64_t hs_resumed;
};

/* The open connections of one worker process, so that the supervisor can
 * take them off the shared gauges when the worker dies without ending
 * them (SIGKILL, OOM killer, crash). */
struct proc_counts {
	pid_t pid;		/* 0: free */
	int64_t active[METRICS_MAX_SERVICES];
};

struct table {
	double start_time;
	int64_t total_active;
	uint64_t reloads_ok, reloads_failed;
	int last_reload_ok;
	struct svc_counters svc[METRICS_MAX_SERVICES];
	struct proc_counts proc[METRICS_MAX_PROCS];
};

static struct table *t;
static struct proc_counts *mine;	/* this worker's, or NULL */

static const char *const outcome_names[OUT_COUNT] = { "closed",
	"truncated", "timeout", "rejected", "backend", "error", "no data" };
static const char *const outcome_labels[OUT_COUNT] = { "closed",
	"truncated", "timeout", "rejected", "backend", "error", "no_data" };

const char *
metrics_outcome_name(enum outcome o)
{
	return (unsigned)o < OUT_COUNT ? outcome_names[o] : "error";
}

const char *
metrics_outcome_label(enum outcome o)
{
	return (unsigned)o < OUT_COUNT ? outcome_labels[o] : "error";
}

#define ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)

int
metrics_init(void)
{
	struct timespec ts;

	if (t != NULL)
		return 0;
	if ((t = shared_map(sizeof(*t))) == NULL)
		return -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	t->start_time = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	t->last_reload_ok = 1;
	return 0;
}

int
metrics_worker_start(void)
{
	pid_t self = getpid();

	if (t == NULL)
		return 0;
	for (int i = 0; i < METRICS_MAX_PROCS; i++) {
		pid_t free_pid = 0;

		if (__atomic_compare_exchange_n(&t->proc[i].pid, &free_pid,
		    self, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
			mine = &t->proc[i];
			return 0;
		}
	}
	return -1;
}

int64_t
metrics_worker_gone(pid_t pid)
{
	struct proc_counts *p = NULL;
	int64_t lost = 0;

	if (t == NULL || pid <= 0)
		return 0;
	for (int i = 0; i < METRICS_MAX_PROCS && p == NULL; i++)
		if (LOAD(&t->proc[i].pid) == pid)
			p = &t->proc[i];
	if (p == NULL)
		return 0;
	/* The process is dead: nothing else writes its entry now. */
	for (int i = 0; i < METRICS_MAX_SERVICES; i++)
		if (p->active[i] != 0) {
			ADD(&t->svc[i].active, -p->active[i]);
			lost += p->active[i];
			p->active[i] = 0;
		}
	ADD(&t->total_active, -lost);
	__atomic_store_n(&p->pid, 0, __ATOMIC_SEQ_CST);
	return lost;
}

int
metrics_slot(const char *name)
{
	if (t == NULL)
		return -1;
	for (int i = 0; i < METRICS_MAX_SERVICES; i++) {
		if (strcmp(t->svc[i].name, name) == 0)
			return i;
		if (t->svc[i].name[0] == '\0') {
			snprintf(t->svc[i].name, sizeof(t->svc[i].name), "%s",
			    name);
			return i;
		}
	}
	return -1;
}

void
metrics_accepted(int slot)
{
	if (t == NULL || slot < 0)
		return;
	ADD(&t->svc[slot].accepted, 1);
	ADD(&t->svc[slot].active, 1);
	ADD(&t->total_active, 1);
	if (mine != NULL)
		ADD(&mine->active[slot], 1);
}


void
metrics_ended(int slot, enum outcome o, enum verdict why, uint64_t in,
    uint64_t out)
{
	struct svc_counters *s;

	if (t == NULL || slot < 0)
		return;
	s = &t->svc[slot];
	ADD(&s->active, -1);
	ADD(&t->total_active, -1);
	if (mine != NULL)
		ADD(&mine->active[slot], -1);
	ADD(&s->ended[o], 1);
	ADD(&s->bytes_in, in);
	ADD(&s->bytes_out, out);
	if (o == OUT_REJECTED && why > V_OK && why < V_COUNT) {
		ADD(&s->rejected[why], 1);
		if (verdict_info(why)->handshake)
			ADD(&s->handshake_failures, 1);
	}
}

void
metrics_handshake(int slot, int64_t ms, int resumed)
{
	struct svc_counters *s;
	double secs = (double)ms / 1000.0;

	if (t == NULL || slot < 0)
		return;
	s = &t->svc[slot];
	for (size_t i = 0; i < NBUCKETS; i++)
		if (secs <= buckets[i])
			ADD(&s->hs_bucket[i], 1);
	ADD(&s->hs_count, 1);
	ADD(&s->hs_sum_us, (uint64_t)(ms * 1000));
	if (resumed)
		ADD(&s->hs_resumed, 1);
}

void
metrics_reload(int ok)
{
	if (t == NULL)
		return;
	ADD(ok ? &t->reloads_ok : &t->reloads_failed, 1);
	__atomic_store_n(&t->last_reload_ok, ok, __ATOMIC_RELAXED);
}

int64_t
metrics_active(int slot)
{
	return t && slot >= 0 ? LOAD(&t->svc[slot].active) : -1;
}

int64_t
metrics_total_active(void)
{
	return t ? LOAD(&t->total_active) : -1;
}

static void
header(FILE *o, const char *name, const char *type, const char *help)
{
	fprintf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Service names are [A-Za-z0-9._-] (config.c), safe as label values. */
void
metrics_render(FILE *o, const char *const *names, size_t n)
{
	int slot[METRICS_MAX_SERVICES];
	size_t ns = 0;

	if (t == NULL)
		return;
	for (size_t i = 0; i < n && ns < METRICS_MAX_SERVICES; i++) {
		int s = metrics_slot(names[i]);

		if (s >= 0)
			slot[ns++] = s;
	}
#define EACH for (size_t i = 0; i < ns; i++)
#define S (&t->svc[slot[i]])
	header(o, "sheath_connections_accepted_total", "counter",
	    "Connections accepted.");
	EACH fprintf(o, "sheath_connections_accepted_total{service=\"%s\"} "
	    "%llu\n", S->name, (unsigned long long)LOAD(&S->accepted));
	header(o, "sheath_connections_active", "gauge",
	    "Connections open now.");
	EACH fprintf(o, "sheath_connections_active{service=\"%s\"} %lld\n",
	    S->name, (long long)LOAD(&S->active));
	header(o, "sheath_connections_ended_total", "counter",
	    "Connections ended, by outcome.");
	EACH for (int k = 0; k < OUT_COUNT; k++)
		fprintf(o, "sheath_connections_ended_total{service=\"%s\","
		    "outcome=\"%s\"} %llu\n", S->name, outcome_labels[k],
		    (unsigned long long)LOAD(&S->ended[k]));
	header(o, "sheath_connections_rejected_total", "counter",
	    "Peers rejected, by reason.");
	EACH for (int k = V_OK + 1; k < V_COUNT; k++)
		fprintf(o, "sheath_connections_rejected_total{service=\"%s\","
		    "reason=\"%s\"} %llu\n", S->name, verdict_label(k),
		    (unsigned long long)LOAD(&S->rejected[k]));
	header(o, "sheath_handshake_failures_total", "counter",
	    "TLS handshakes that failed.");
	EACH fprintf(o, "sheath_handshake_failures_total{service=\"%s\"} "
	    "%llu\n", S->name,
	    (unsigned long long)LOAD(&S->handshake_failures));
	header(o, "sheath_handshakes_resumed_total", "counter",
	    "Verified handshakes that resumed a TLS session.");
	EACH fprintf(o, "sheath_handshakes_resumed_total{service=\"%s\"} "
	    "%llu\n", S->name, (unsigned long long)LOAD(&S->hs_resumed));
	header(o, "sheath_bytes_total", "counter", "Payload bytes relayed: in "
	    "= read from the accepted peer, out = written to it.");
	EACH {
		fprintf(o, "sheath_bytes_total{service=\"%s\",direction=\"in\"} "
		    "%llu\n", S->name, (unsigned long long)LOAD(&S->bytes_in));
		fprintf(o, "sheath_bytes_total{service=\"%s\",direction="
		    "\"out\"} %llu\n", S->name,
		    (unsigned long long)LOAD(&S->bytes_out));
	}
	header(o, "sheath_handshake_duration_seconds", "histogram",
	    "From accept to a verified TLS handshake.");
	EACH {
		for (size_t b = 0; b < NBUCKETS; b++)
			fprintf(o, "sheath_handshake_duration_seconds_bucket{"
			    "service=\"%s\",le=\"%g\"} %llu\n", S->name,
			    buckets[b],
			    (unsigned long long)LOAD(&S->hs_bucket[b]));
		fprintf(o, "sheath_handshake_duration_seconds_bucket{service="
		    "\"%s\",le=\"+Inf\"} %llu\n", S->name,
		    (unsigned long long)LOAD(&S->hs_count));
		fprintf(o, "sheath_handshake_duration_seconds_sum{service="
		    "\"%s\"} %.6f\n", S->name,
		    (double)LOAD(&S->hs_sum_us) / 1e6);
		fprintf(o, "sheath_handshake_duration_seconds_count{service="
		    "\"%s\"} %llu\n", S->name,
		    (unsigned long long)LOAD(&S->hs_count));
	}
#undef EACH
#undef S
	header(o, "sheath_start_time_seconds", "gauge",
	    "Start time of the process since the Unix epoch.");
	fprintf(o, "sheath_start_time_seconds %.3f\n", t->start_time);
	header(o, "sheath_config_reloads_total", "counter",
	    "Configuration reloads, by result.");
	fprintf(o, "sheath_config_reloads_total{result=\"success\"} %llu\n",
	    (unsigned long long)LOAD(&t->reloads_ok));
	fprintf(o, "sheath_config_reloads_total{result=\"failure\"} %llu\n",
	    (unsigned long long)LOAD(&t->reloads_failed));
	header(o, "sheath_config_last_reload_successful", "gauge",
	    "1 if the last reload succeeded (or none was tried).");
	fprintf(o, "sheath_config_last_reload_successful %d\n",
	    LOAD(&t->last_reload_ok));
}
