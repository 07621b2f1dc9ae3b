/* service.c: build and reference-count service runtimes. */
#include "autoconfig.h"
#include "service.h"
#include "log.h"
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

static void generation_free(struct generation *g);

static struct service *
service_new(struct generation *g, const struct service_conf *sc, FILE *err)
{
	struct service *s = xcalloc(1, sizeof(*s));
	char why[256];
	int n;

	s->gen = g;
	s->conf = sc;
	s->lfd = -1;
	s->lslot = -1;
	s->metrics_slot = metrics_slot(sc->name);
	n = addr_resolve(&sc->accept_addr, 1, s->listen_sa, 2, why,
	    sizeof(why));
	if (n < 0) {
		conf_report(err, sc->file, sc->line[K_ACCEPT], "accept", "%s",
		    why);
		goto err;
	}
	s->nlisten_sa = n;
	for (int i = 0; i < sc->nconnect; i++) {
		struct sockaddr_any sa[8];

		n = addr_resolve(&sc->connect_addr[i], 0, sa, 8, why,
		    sizeof(why));
		if (n < 0) {
			conf_report(err, sc->file, sc->line[K_CONNECT],
			    "connect", "%s", why);
			goto err;
		}
		for (int j = 0; j < n && s->ntargets < MAX_TARGETS; j++) {
			s->targets[s->ntargets].sa = sa[j];
			s->targets[s->ntargets].spec = i;
			s->ntargets++;
		}
	}
	if (sc->mode != MODE_CLIENT &&
	    (s->accept_tls = tls_ctx_new(sc, &sc->tls, 1, err)) == NULL)
		goto err;
	if (sc->mode == MODE_CLIENT &&
	    (s->connect_tls = tls_ctx_new(sc, &sc->tls, 0, err)) == NULL)
		goto err;
	if (sc->mode == MODE_BRIDGE &&
	    (s->connect_tls = tls_ctx_new(sc, &sc->upstream, 0, err)) == NULL)
		goto err;
	if (sc->tls.verify == VERIFY_NONE ||
	    (sc->has_upstream && sc->upstream.verify == VERIFY_NONE))
		log_warn("service %s: verify = \"none\": peers are not "
		    "authenticated", sc->name);
	return s;
err:
	tls_ctx_free(s->accept_tls);
	tls_ctx_free(s->connect_tls);
	free(s);
	return NULL;
}

struct generation *
generation_new(struct conf *conf, FILE *err)
{
	struct generation *g = xcalloc(1, sizeof(*g));
	int failed = 0;

	g->conf = conf;
	g->svc = xcalloc(conf->nsvc, sizeof(*g->svc));
	for (size_t i = 0; i < conf->nsvc; i++) {
		struct service *s;

		if (conf->svc[i].invalid) {
			failed = 1;	/* -t: still load the others */
			continue;
		}
		s = service_new(g, &conf->svc[i], err);

		if (s == NULL) {
			failed = 1;
			continue;
		}
		s->refs = 1;
		g->svc[g->nsvc++] = s;
		g->refs++;
	}
	if (failed) {
		for (size_t i = 0; i < g->nsvc; i++) {
			tls_ctx_free(g->svc[i]->accept_tls);
			tls_ctx_free(g->svc[i]->connect_tls);
			free(g->svc[i]);
		}
		g->nsvc = 0;
		generation_free(g);
		return NULL;
	}
	g->refs++;	/* the loader's own reference */
	return g;
}

static void
generation_free(struct generation *g)
{
	conf_free(g->conf);
	free(g->svc);
	free(g);
}

static void
generation_put(struct generation *g)
{
	if (--g->refs == 0)
		generation_free(g);
}

void
generation_unref(struct generation *g)
{
	if (g == NULL)
		return;
	/* The loader's reference on each service goes too. */
	for (size_t i = 0; i < g->nsvc; i++) {
		struct service *s = g->svc[i];

		g->svc[i] = NULL;
		service_unref(s);
	}
	g->nsvc = 0;
	generation_put(g);
}

void
service_ref(struct service *s)
{
	s->refs++;
}

void
service_unref(struct service *s)
{
	struct generation *g;

	if (s == NULL || --s->refs > 0)
		return;
	g = s->gen;
	tls_ctx_free(s->accept_tls);
	tls_ctx_free(s->connect_tls);
	free(s);
	generation_put(g);
}

struct service *
service_find(struct generation *g, const char *name)
{
	for (size_t i = 0; i < g->nsvc; i++)
		if (strcmp(g->svc[i]->conf->name, name) == 0)
			return g->svc[i];
	return NULL;
}
