/* board.h: the status board, a table of open connections in memory shared
 * by every process (made before workers are forked, like the metrics), so
 * that /status lists the connections of every worker whichever answers.
 * Each process writes only its own rows; readers take a row under its
 * sequence number (a seqlock), so a row being written is never shown torn.
 * Bounded: BOARD_ROWS rows (about 1.8 MiB of address space, touched only
 * as rows are used); connections beyond that are not listed. */
#ifndef SHEATH_BOARD_H
#define SHEATH_BOARD_H

#include <stdint.h>
#include <stdio.h>

#define BOARD_ROWS 4096

/** board_init(): map the shared table; before any fork. -1 on error (the
 * board is then off and /status lists nothing). */
int board_init(void);

/** board_add(service, peer, started_ms): a row for a new connection of
 * this process; returns its index, or -1 when the board is full. */
int board_add(const char *service, const char *peer, int64_t started_ms);

/** board_set(row, stage, identity, peer): change what the row shows; a
 * NULL leaves that field. row -1 is a no-op. */
void board_set(int row, const char *stage, const char *identity,
    const char *peer);

/** board_bytes(row, in, out): the byte counts of the row's connection. */
void board_bytes(int row, uint64_t in, uint64_t out);

/** board_remove(row): the connection ended; -1 is a no-op. */
void board_remove(int row);

/** board_forget(pid): drop the rows of a dead process (supervisor). */
void board_forget(int pid);

/** board_render(out, quote): the JSON array body (without brackets) of
 * every connection on the board, each with the pid of its process;
 * returns how many were listed. */
long board_render(FILE *out, void (*quote)(FILE *, const char *));

#endif
