/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One struct hc_svc per served Service, one httpd per (Service, bind
 * address), in a table by namespace/name. The handler reads the count from
 * the hc_svc at request time, so hc_sync updates counts without touching
 * sockets.
 */
#include "src/hcserver.h"
#include "core/hash.h"
#include "core/httpd.h"
#include "core/log.h"
#include "core/loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hc_svc {
	struct hnode node;
	struct hc_servers *s;
	char *ns, *name;
	uint16_t port;
	uint32_t eps;
	bool keep;
	size_t n_h;
	struct httpd **h;
};

struct hc_servers {
	struct loop *loop;
	char **binds;
	size_t n_binds;
	bool none;			/* listen nowhere (hc_set_binds) */
	const struct hc_health *health;
	struct htab svcs;		/* struct hc_svc by namespace/name */
};

static uint64_t key_hash(const char *ns, const char *name)
{
	return hash_str(name, hash_str("/", hash_str(ns, HASH_SEED)));
}

static void svc_http(void *arg, const struct httpd_req *req, struct httpd_resp *r)
{
	struct hc_svc *v = arg;
	bool healthy = !v->s->health || hc_health_healthy(v->s->health);
	char *body = hc_service_body(v->ns, v->name, v->eps, healthy);

	r->content_type = "application/json";
	snprintf(r->headers, sizeof(r->headers),
		 "X-Content-Type-Options: nosniff\r\nX-Load-Balancing-Endpoint-Weight: %u\r\n", v->eps);
	r->status = v->eps && healthy ? 200 : 503;
	if (body)
		httpd_printf(r, "%s", body);
	free(body);
}

struct hc_servers *hc_new(struct loop *l, const char *const *binds, size_t n_binds,
			  const struct hc_health *health)
{
	struct hc_servers *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->loop = l;
	s->health = health;
	if (n_binds && binds) {
		s->binds = calloc(n_binds, sizeof(*s->binds));
		if (!s->binds) {
			free(s);
			return NULL;
		}
		for (size_t i = 0; i < n_binds; i++)
			if (!(s->binds[i] = strdup(binds[i]))) {
				s->n_binds = i;
				hc_free(s);
				return NULL;
			}
		s->n_binds = n_binds;
	}
	return s;
}

static void svc_close(struct hc_svc *v)
{
	for (size_t i = 0; i < v->n_h; i++)
		httpd_free(v->h[i]);
	free(v->h);
	v->h = NULL;
	v->n_h = 0;
}

static void svc_free(struct hc_svc *v)
{
	svc_close(v);
	free(v->ns);
	free(v->name);
	free(v);
}

void hc_free(struct hc_servers *s)
{
	if (!s)
		return;
	HTAB_WALK(&s->svcs, n) {
		htab_del(&s->svcs, n);
		svc_free(container_of(n, struct hc_svc, node));
	}
	htab_free(&s->svcs);
	for (size_t i = 0; i < s->n_binds; i++)
		free(s->binds[i]);
	free(s->binds);
	free(s);
}

static struct httpd *listen_one(struct hc_servers *s, const char *addr, uint16_t port, int *err)
{
	char b[80];

	snprintf(b, sizeof(b), strchr(addr, ':') ? "[%s]:%u" : "%s:%u", addr, port);
	return httpd_new(s->loop, b, err);
}

/* Opens every listener of v, or none (kube-proxy closes what it opened so
 * the next sync retries from scratch). */
static int svc_open(struct hc_servers *s, struct hc_svc *v)
{
	size_t n = s->none ? 0 : s->n_binds ? s->n_binds : 1;
	int err = 0;

	v->h = calloc(n ? n : 1, sizeof(*v->h));
	if (!v->h)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct httpd *h;

		if (s->n_binds) {
			h = listen_one(s, s->binds[i], v->port, &err);
		} else {
			h = listen_one(s, "::", v->port, &err);
			if (!h && (err == -EAFNOSUPPORT || err == -EADDRNOTAVAIL))
				h = listen_one(s, "0.0.0.0", v->port, &err);
		}
		if (!h || httpd_route(h, "*", svc_http, v) < 0) {
			if (h) {
				httpd_free(h);
				err = -ENOMEM;
			}
			log_err("healthcheck", "cannot open health-check port",
				"service=%s/%s port=%u bind=%s err=%s", v->ns, v->name, v->port,
				log_q(s->n_binds ? s->binds[i] : "*"), log_q(strerror(-err)));
			svc_close(v);
			return err;
		}
		v->h[v->n_h++] = h;
	}
	log_v(2, "healthcheck", "opened health-check port", "service=%s/%s port=%u", v->ns, v->name,
	      v->port);
	return 0;
}

static struct hc_svc *find(const struct hc_servers *s, const char *ns, const char *name)
{
	uint64_t h = key_hash(ns, name);

	for (struct hnode *n = htab_first(&s->svcs, h); n; n = htab_next(n, h)) {
		struct hc_svc *v = container_of(n, struct hc_svc, node);

		if (!strcmp(v->ns, ns) && !strcmp(v->name, name))
			return v;
	}
	return NULL;
}

int hc_sync(struct hc_servers *s, const struct hc_want *want, size_t n)
{
	int first_err = 0;

	HTAB_WALK(&s->svcs, node)
		container_of(node, struct hc_svc, node)->keep = false;
	for (size_t i = 0; i < n; i++) {
		struct hc_svc *v = find(s, want[i].namespace, want[i].name);

		if (v && v->port == want[i].port) {
			v->keep = true;
			v->eps = want[i].local_endpoints;
		}
	}
	/* close first: a port moving between two services must be free */
	HTAB_WALK(&s->svcs, node) {
		struct hc_svc *v = container_of(node, struct hc_svc, node);

		if (v->keep)
			continue;
		log_v(2, "healthcheck", "closing health-check port", "service=%s/%s port=%u", v->ns,
		      v->name, v->port);
		htab_del(&s->svcs, node);
		svc_free(v);
	}
	for (size_t i = 0; i < n; i++) {
		struct hc_svc *v = find(s, want[i].namespace, want[i].name);
		int rc;

		if (v)
			continue;	/* kept, or a duplicate of one opened just now */
		v = calloc(1, sizeof(*v));
		if (!v || !(v->ns = strdup(want[i].namespace)) || !(v->name = strdup(want[i].name))) {
			if (v)
				svc_free(v);
			return -ENOMEM;
		}
		v->s = s;
		v->port = want[i].port;
		v->eps = want[i].local_endpoints;
		if ((rc = svc_open(s, v)) < 0) {
			svc_free(v);
			if (!first_err)
				first_err = rc;
			continue;
		}
		if (htab_add(&s->svcs, &v->node, key_hash(v->ns, v->name)) < 0) {
			svc_free(v);
			return -ENOMEM;
		}
	}
	return first_err;
}

static bool same_binds(const struct hc_servers *s, const char *const *binds, size_t n, bool every)
{
	if (every)
		return !s->none && !s->n_binds;
	if (!s->none && !s->n_binds)
		return false;
	if (n != s->n_binds)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(s->binds[i], binds[i]))
			return false;
	return true;
}

int hc_set_binds(struct hc_servers *s, const char *const *binds, size_t n, bool every)
{
	char **nb = NULL;

	if (same_binds(s, binds, n, every))
		return 0;
	if (!every && n) {
		if (!(nb = calloc(n, sizeof(*nb))))
			return -ENOMEM;
		for (size_t i = 0; i < n; i++)
			if (!(nb[i] = strdup(binds[i]))) {
				while (i--)
					free(nb[i]);
				free(nb);
				return -ENOMEM;
			}
	}
	/* every listener moves: forget the Services, hc_sync reopens them */
	HTAB_WALK(&s->svcs, node) {
		htab_del(&s->svcs, node);
		svc_free(container_of(node, struct hc_svc, node));
	}
	for (size_t i = 0; i < s->n_binds; i++)
		free(s->binds[i]);
	free(s->binds);
	s->binds = nb;
	s->n_binds = every ? 0 : n;
	s->none = !every && !n;
	log_info("healthcheck", "health-check ports move", "binds=%zu every=%s", s->n_binds,
		 every ? "true" : "false");
	return 0;
}

size_t hc_count(const struct hc_servers *s) { return s->svcs.count; }

int hc_port(const struct hc_servers *s, const char *ns, const char *name)
{
	struct hc_svc *v = find(s, ns, name);

	return v && v->n_h ? httpd_port(v->h[0]) : -1;
}
