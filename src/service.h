/* service.h: the runtime of a service, built once per (re)load from its
 * service_conf: resolved addresses, TLS contexts, its listener. Connections
 * hold a reference, so a reload never pulls settings from under them. */
#ifndef SHEATH_SERVICE_H
#define SHEATH_SERVICE_H

#include <stdint.h>
#include <stdio.h>

#include "addr.h"
#include "config.h"
#include "tls.h"

#define MAX_TARGETS 32

struct target {
	struct sockaddr_any sa;
	int spec;		/* index into conf->connect_addr */
};

struct generation;

struct service {
	int refs;
	struct generation *gen;
	const struct service_conf *conf;
	struct tls_ctx *accept_tls;	/* server, bridge */
	struct tls_ctx *connect_tls;	/* client, bridge */
	struct target targets[MAX_TARGETS];
	int ntargets;
	struct sockaddr_any listen_sa[2];
	int nlisten_sa;
	int lfd;			/* listening socket, -1 when closed */
	int lslot;
	int activated;			/* lfd came from systemd */
	int metrics_slot;
	int active;			/* open connections */
	int64_t last_limit_log;
};

/* Everything built from one (re)load of the configuration. */
struct generation {
	int refs;
	struct conf *conf;
	struct service **svc;
	size_t nsvc;
};

/** generation_new(conf, err): build every service of conf (resolve names,
 * load credentials). Takes ownership of conf. NULL on error, with every
 * problem printed to err. */
struct generation *generation_new(struct conf *conf, FILE *err);

/** generation_unref(g): drop the loader's reference; the generation goes
 * when its last connection has. NULL is a no-op. */
void generation_unref(struct generation *g);

/** service_ref(s) / service_unref(s): connection references. */
void service_ref(struct service *s);
void service_unref(struct service *s);

/** service_find(g, name): the service of that name, or NULL. */
struct service *service_find(struct generation *g, const char *name);

#endif
