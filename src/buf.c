/* buf.c: relay buffers and their free list. */
#include "autoconfig.h"
#include "buf.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define POOL_MAX 256

static unsigned char *pool[POOL_MAX];
static size_t npool;

static unsigned char *
pool_get(void)
{
	return npool ? pool[--npool] : xmalloc(BUF_SIZE);
}

static void
pool_put(unsigned char *p)
{
	if (npool < POOL_MAX)
		pool[npool++] = p;
	else
		free(p);
}

unsigned char *
buf_space(struct buf *b, int pinned, size_t *room)
{
	if (b->data == NULL) {
		b->data = pool_get();
		b->head = b->tail = 0;
	}
	if (b->tail == BUF_SIZE && b->head >= BUF_COMPACT_MIN && !pinned) {
		memmove(b->data, b->data + b->head, b->tail - b->head);
		b->tail -= b->head;
		b->head = 0;
	}
	*room = BUF_SIZE - b->tail;
	return *room ? b->data + b->tail : NULL;
}

void
buf_produced(struct buf *b, size_t n)
{
	b->tail += n;
	if (b->tail == b->head)
		buf_release(b);
}

void
buf_consumed(struct buf *b, size_t n)
{
	b->head += n;
	if (b->head == b->tail)
		buf_release(b);
}

void
buf_release(struct buf *b)
{
	if (b->data != NULL)
		pool_put(b->data);
	b->data = NULL;
	b->head = b->tail = 0;
}

void
buf_pool_trim(void)
{
	while (npool)
		free(pool[--npool]);
}
