/* httpd.c: a deliberately tiny HTTP/1.0 server: one request per connection,
 * at most HTTPD_CLIENTS at once, 4 KiB of request, 10 s per client. */
#include "autoconfig.h"
#include "httpd.h"
#include "addr.h"
#include "conn.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "board.h"
#include "metrics.h"
#include "service.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HTTPD_CLIENTS 16
#define HTTPD_REQ_MAX 4096
#define HTTPD_TIMEOUT_MS 10000

struct client {
	int fd, slot;
	char req[HTTPD_REQ_MAX];
	size_t reqlen;
	char *resp;
	size_t resplen, sent;
	int64_t deadline;
};

static int lfd = -1, lslot = -1;
static char *addr_text;
static struct addr_spec spec;
static struct client clients[HTTPD_CLIENTS];
static struct generation *gen;
static int64_t last_full_log;
static int inited;
static int keep_files;

void
httpd_keep_files(void)
{
	keep_files = 1;
}

static void
clients_init(void)
{
	if (inited)
		return;
	for (int i = 0; i < HTTPD_CLIENTS; i++) {
		clients[i].fd = -1;
		clients[i].slot = -1;
	}
	inited = 1;
}

void
httpd_reperm(const struct conf *c)
{
	if (lfd != -1 && spec.kind == ADDR_UNIX && !keep_files &&
	    unix_perm_apply(spec.path, &c->metrics_perm) == -1)
		log_warn("metrics: cannot set unix_mode/unix_group of %s: %s",
		    spec.path, strerror(errno));
}

int
httpd_open(const struct conf *c, FILE *err)
{
	const char *addr = c->metrics, *file = c->file;
	int line = c->line[K_METRICS];
	struct sockaddr_any sa[2];
	char why[256];
	int n;

	if (addr_parse(addr, &spec, why, sizeof(why)) == -1 ||
	    (n = addr_resolve(&spec, 1, sa, 2, why, sizeof(why))) < 0) {
		conf_report(err, file, line, "metrics", "%s", why);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		lfd = listen_socket(&sa[i], &c->metrics_perm, why,
		    sizeof(why));
		if (lfd != -1)
			break;
	}
	if (lfd == -1) {
		conf_report(err, file, line, "metrics", "%s", why);
		return -1;
	}
	free(addr_text);
	addr_text = xstrdup(addr);
	clients_init();
	return 0;
}

const char *
httpd_addr(void)
{
	return lfd != -1 ? addr_text : NULL;
}

void
httpd_set_generation(struct generation *g)
{
	gen = g;
}

static void
client_close(struct client *c)
{
	loop_del(&c->slot);
	close(c->fd);
	c->fd = -1;
	free(c->resp);
	c->resp = NULL;
	c->reqlen = c->resplen = c->sent = 0;
}

static void
json_string(FILE *o, const char *s)
{
	fputc('"', o);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(o, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(o, "\\u%04x", *p);
		else
			fputc(*p, o);
	}
	fputc('"', o);
}

/* Services and connections of every worker: the counts and the status
 * board are shared by all processes. */
static void
render_status(FILE *o)
{
	int64_t open_now = metrics_total_active();
	long listed;

	fprintf(o, "{\"pid\":%ld,\"services\":[", (long)getpid());
	for (size_t i = 0; gen && i < gen->nsvc; i++) {
		const struct service *s = gen->svc[i];

		fprintf(o, "%s{\"name\":", i ? "," : "");
		json_string(o, s->conf->name);
		fprintf(o, ",\"mode\":\"%s\",\"accept\":",
		    mode_name(s->conf->mode));
		json_string(o, s->conf->accept);
		fprintf(o, ",\"listening\":%s,\"active\":%lld}",
		    s->lfd != -1 ? "true" : "false",
		    (long long)(metrics_active(s->metrics_slot) >= 0 ?
		    metrics_active(s->metrics_slot) : s->active));
	}
	fputs("],\"connections\":[", o);
	listed = board_render(o, json_string);
	/* Beyond the board's rows connections are counted, not listed. */
	fprintf(o, "],\"connections_unlisted\":%lld}\n",
	    (long long)(open_now > listed ? open_now - listed : 0));
}

enum httpd_route
httpd_parse_request(const char *req, int *head)
{
	char method[8] = "", path[256] = "";
	int n = sscanf(req, "%7s %255s HTTP/", method, path);

	/* Without a first token method is not set at all. */
	*head = n >= 1 && strcmp(method, "HEAD") == 0;
	if (n != 2 || (strcmp(method, "GET") != 0 && !*head))
		return HTTPD_BAD_REQUEST;
	if (strcmp(path, "/metrics") == 0)
		return HTTPD_METRICS;
	if (strcmp(path, "/status") == 0)
		return HTTPD_STATUS;
	return HTTPD_NOT_FOUND;
}

static void
respond(struct client *c)
{
	char *body = NULL;
	const char *status = "200 OK", *type = "text/plain; charset=utf-8";
	size_t blen = 0;
	FILE *b = open_memstream(&body, &blen);
	FILE *r;
	int head;
	enum httpd_route route;

	if (b == NULL) {
		client_close(c);
		return;
	}
	route = httpd_parse_request(c->req, &head);
	if (route == HTTPD_BAD_REQUEST) {
		status = "400 Bad Request";
		fputs("only GET /metrics and GET /status\n", b);
	} else if (route == HTTPD_METRICS) {
		const char *names[METRICS_MAX_SERVICES];
		size_t n = 0;

		for (size_t i = 0; gen && i < gen->nsvc && i < ARRAY_LEN(names);
		    i++)
			names[n++] = gen->svc[i]->conf->name;
		type = "text/plain; version=0.0.4; charset=utf-8";
		metrics_render(b, names, n);
	} else if (route == HTTPD_STATUS) {
		type = "application/json";
		render_status(b);
	} else {
		status = "404 Not Found";
		fputs("not found: try /metrics or /status\n", b);
	}
	fclose(b);
	r = open_memstream(&c->resp, &c->resplen);
	if (r == NULL) {
		free(body);
		client_close(c);
		return;
	}
	fprintf(r, "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n", status, type, blen);
	if (!head)
		fwrite(body, 1, blen, r);
	fclose(r);
	free(body);
	loop_mod(c->slot, POLLOUT);
}

static void
client_event(void *arg, short revents)
{
	struct client *c = arg;
	ssize_t n;

	if (c->resp == NULL) {
		n = recv(c->fd, c->req + c->reqlen,
		    sizeof(c->req) - 1 - c->reqlen, 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			client_close(c);
			return;
		}
		c->reqlen += (size_t)n;
		c->req[c->reqlen] = '\0';
		if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
			respond(c);
		else if (c->reqlen >= sizeof(c->req) - 1)
			client_close(c);	/* request too large */
		return;
	}
	if (revents & (POLLOUT | POLLERR | POLLHUP)) {
		n = send(c->fd, c->resp + c->sent, c->resplen - c->sent,
		    MSG_NOSIGNAL);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0 || (c->sent += (size_t)n) == c->resplen)
			client_close(c);
	}
}

static void
accept_event(void *arg, short revents)
{
	(void)arg;
	(void)revents;
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct client *c = NULL;

		if (fd == -1)
			return;
		for (int i = 0; i < HTTPD_CLIENTS && c == NULL; i++)
			if (clients[i].fd == -1)
				c = &clients[i];
		if (c == NULL) {
			close(fd);
			log_ratelimited(&last_full_log, LOG_WARNING, "metrics: "
			    "%d clients already, refusing more", HTTPD_CLIENTS);
			continue;
		}
		c->fd = fd;
		c->deadline = now_ms() + HTTPD_TIMEOUT_MS;
		loop_add(&c->slot, fd, POLLIN, client_event, c);
	}
}

void
httpd_watch(void)
{
	if (lfd != -1 && lslot < 0) {
		loop_add(&lslot, lfd, POLLIN, accept_event, NULL);
		log_notice("metrics: serving /metrics and /status on %s",
		    addr_text);
	}
}

void
httpd_sweep(int64_t now)
{
	clients_init();
	for (int i = 0; i < HTTPD_CLIENTS; i++)
		if (clients[i].fd != -1 && now >= clients[i].deadline)
			client_close(&clients[i]);
}

void
httpd_close(void)
{
	clients_init();
	for (int i = 0; i < HTTPD_CLIENTS; i++)
		if (clients[i].fd != -1)
			client_close(&clients[i]);
	if (lfd != -1) {
		loop_del(&lslot);
		close(lfd);
		lfd = -1;
		if (spec.kind == ADDR_UNIX && !keep_files)
			unlink(spec.path);
	}
	free(addr_text);
	addr_text = NULL;
}
