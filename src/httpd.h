/* httpd.h: the plaintext HTTP endpoint for /metrics and /status, served
 * inside the same poll() loop, bounded so a slow or hostile client never
 * stalls a tunnel. */
#ifndef SHEATH_HTTPD_H
#define SHEATH_HTTPD_H

#include <stdint.h>
#include <stdio.h>

struct generation;

struct conf;

/** httpd_open(c, err): listen on c's `metrics` address (host:port or
 * unix:/path, with c's unix_mode and unix_group). Returns 0, or -1 with
 * the problem printed to err. */
int httpd_open(const struct conf *c, FILE *err);

/** httpd_reperm(c): a reload that keeps a unix: endpoint applies c's
 * unix_mode and unix_group to it. */
void httpd_reperm(const struct conf *c);

/** httpd_watch(): start serving in the loop. */
void httpd_watch(void);

/** httpd_close(): stop serving and close every client. */
void httpd_close(void);

/** httpd_addr(): the address being served, or NULL. */
const char *httpd_addr(void);

/** httpd_set_generation(g): the configuration /status describes. */
void httpd_set_generation(struct generation *g);

/** httpd_keep_files(): never unlink a unix socket file (a worker). */
void httpd_keep_files(void);

/** httpd_sweep(now): close clients past their deadline. */
void httpd_sweep(int64_t now);

enum httpd_route { HTTPD_BAD_REQUEST, HTTPD_METRICS, HTTPD_STATUS,
	HTTPD_NOT_FOUND };

/** httpd_parse_request(req, head): what the request text req (as received,
 * NUL-terminated, at most 4095 bytes) asks for; *head says whether the
 * answer goes without its body (a HEAD request, even a bad one). Pure: the
 * fuzzers call it. */
enum httpd_route httpd_parse_request(const char *req, int *head);

#endif
