/* buf.h: a fixed-capacity byte buffer per relay direction. Storage comes
 * from a free list only while bytes are queued, so an idle connection holds
 * no buffer memory. The head never moves while a TLS send is pending. */
#ifndef SHEATH_BUF_H
#define SHEATH_BUF_H

#include <stddef.h>

#define BUF_SIZE (64 * 1024)

struct buf {
	unsigned char *data;	/* NULL while empty */
	size_t head, tail;
};

/** buf_len(b): bytes queued. */
static inline size_t buf_len(const struct buf *b) { return b->tail - b->head; }

/* Compaction moves queued bytes to the front only once at least this much
 * has been consumed, so a slow writer never costs a large memmove per small
 * write. */
#define BUF_COMPACT_MIN (BUF_SIZE / 2)

/** buf_has_room(b, pinned): whether buf_space would return space. */
static inline int
buf_has_room(const struct buf *b, int pinned)
{
	return b->data == NULL || b->tail < BUF_SIZE ||
	    (b->head >= BUF_COMPACT_MIN && !pinned);
}

/** buf_space(b, pinned): a pointer to free space at the tail and its size
 * (via *room), taking storage from the pool if needed; compacts first when
 * the tail is at the end, the head is not pinned and at least
 * BUF_COMPACT_MIN bytes were consumed. NULL when there is no room. */
unsigned char *buf_space(struct buf *b, int pinned, size_t *room);

/** buf_produced(b, n) / buf_consumed(b, n): account for n bytes. An emptied
 * buffer goes back to the pool. */
void buf_produced(struct buf *b, size_t n);
void buf_consumed(struct buf *b, size_t n);

/** buf_release(b): return storage to the pool; queued bytes are dropped. */
void buf_release(struct buf *b);

/** buf_pool_trim(): free every pooled buffer (shutdown, leak checks). */
void buf_pool_trim(void);

#endif
