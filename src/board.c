/* board.c: see board.h. */
#include "autoconfig.h"
#include "board.h"
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define ACQ(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* A row is shown while pid != 0 and seq is even and not 0; its owner makes
 * seq odd while it writes, and leaves it odd when the row is freed. */
struct row {
	int pid;
	unsigned seq;
	int64_t started;
	uint64_t in, out;		/* atomic stores, outside the seqlock */
	char service[72], peer[160], identity[192], stage[24];
};

struct board {
	struct row row[BOARD_ROWS];
};

static struct board *b;
static int hint;			/* where this process looks first */

int
board_init(void)
{
	if (b != NULL)
		return 0;
	b = shared_map(sizeof(*b));
	return b == NULL ? -1 : 0;
}

static void
write_begin(struct row *r)
{
	unsigned s = r->seq;

	if ((s & 1) == 0)
		REL(&r->seq, s + 1);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void
write_end(struct row *r)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
	REL(&r->seq, r->seq + 1);
}

static void
copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src);
}

int
board_add(const char *service, const char *peer, int64_t started_ms)
{
	int pid = (int)getpid();

	for (int i = 0; b != NULL && i < BOARD_ROWS; i++) {
		int k = (hint + i) % BOARD_ROWS, free_pid = 0;
		struct row *r = &b->row[k];

		if (ACQ(&r->pid) != 0 || !__atomic_compare_exchange_n(&r->pid,
		    &free_pid, pid, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			continue;
		hint = k + 1;
		write_begin(r);
		r->started = started_ms;
		copy(r->service, sizeof(r->service), service);
		copy(r->peer, sizeof(r->peer), peer);
		copy(r->identity, sizeof(r->identity), "-");
		copy(r->stage, sizeof(r->stage), "-");
		REL(&r->in, 0);
		REL(&r->out, 0);
		write_end(r);
		return k;
	}
	return -1;	/* full: counted by /status as unlisted */
}

void
board_set(int row, const char *stage, const char *identity,
    const char *peer)
{
	struct row *r;

	if (b == NULL || row < 0)
		return;
	r = &b->row[row];
	write_begin(r);
	if (stage != NULL)
		copy(r->stage, sizeof(r->stage), stage);
	if (identity != NULL)
		copy(r->identity, sizeof(r->identity), identity);
	if (peer != NULL)
		copy(r->peer, sizeof(r->peer), peer);
	write_end(r);
}

void
board_bytes(int row, uint64_t in, uint64_t out)
{
	if (b == NULL || row < 0)
		return;
	REL(&b->row[row].in, in);
	REL(&b->row[row].out, out);
}

static void
free_row(struct row *r)
{
	write_begin(r);
	REL(&r->pid, 0);
}

void
board_remove(int row)
{
	if (b != NULL && row >= 0)
		free_row(&b->row[row]);
}

void
board_forget(int pid)
{
	if (b == NULL || pid <= 0)
		return;
	/* The process is dead: nothing else writes its rows now. */
	for (int i = 0; i < BOARD_ROWS; i++)
		if (ACQ(&b->row[i].pid) == pid)
			free_row(&b->row[i]);
}

/* A consistent copy of row i, or 0 when it is free or being written. */
static int
read_row(int i, struct row *out)
{
	const struct row *r = &b->row[i];
	unsigned s1 = ACQ(&r->seq);

	if (s1 == 0 || (s1 & 1) || ACQ(&r->pid) == 0)
		return 0;
	memcpy(out, r, sizeof(*out));
	out->in = ACQ(&r->in);
	out->out = ACQ(&r->out);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (ACQ(&r->seq) != s1)
		return 0;
	/* The strings were copied whole only if seq held: still, never
	 * trust a row to end in NUL. */
	out->service[sizeof(out->service) - 1] = '\0';
	out->peer[sizeof(out->peer) - 1] = '\0';
	out->identity[sizeof(out->identity) - 1] = '\0';
	out->stage[sizeof(out->stage) - 1] = '\0';
	return 1;
}

long
board_render(FILE *o, void (*quote)(FILE *, const char *))
{
	int64_t now = now_ms();
	long listed = 0;

	if (b == NULL)
		return 0;
	for (int i = 0; i < BOARD_ROWS; i++) {
		struct row r;

		if (!read_row(i, &r))
			continue;
		fprintf(o, "%s{\"pid\":%d,\"service\":", listed ? "," : "",
		    r.pid);
		quote(o, r.service);
		fputs(",\"peer\":", o);
		quote(o, r.peer);
		fputs(",\"identity\":", o);
		quote(o, r.identity);
		fputs(",\"stage\":", o);
		quote(o, r.stage);
		fprintf(o, ",\"age_seconds\":%.3f,\"bytes_in\":%llu,"
		    "\"bytes_out\":%llu}", (double)(now - r.started) / 1000.0,
		    (unsigned long long)r.in, (unsigned long long)r.out);
		listed++;
	}
	return listed;
}
