/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "proxy/ctsync.h"
#include "core/vec.h"
#include "nft/model.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const struct fsvc *find(const struct fstate *s, const char *key)
{
	size_t lo = 0, hi = s ? s->n_svcs : 0;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(s->svcs[mid].key, key);

		if (!c)
			return &s->svcs[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

bool proxy_ct_needed(const struct fstate *old, const struct fstate *cur)
{
	for (size_t i = 0; cur && i < cur->n_svcs; i++) {
		const struct fsvc *v = &cur->svcs[i], *o;

		if (v->proto != IPPROTO_UDP)
			continue;
		o = find(old, v->key);
		if (!o || !fsvc_equal(o, v))
			return true;
	}
	for (size_t i = 0; old && i < old->n_svcs; i++)
		if (old->svcs[i].proto == IPPROTO_UDP && !find(cur, old->svcs[i].key))
			return true;
	return false;
}

/* kube-proxy's IsServing(): the endpoint can take traffic, whatever the
 * traffic policy, topology or terminating state */
static bool serving(const struct fendpoint *e) { return e->serving || e->ready; }

static int fidx(int family) { return family == AF_INET6 ? 1 : 0; }

struct builder {
	struct proxy_ct *c;
	size_t cap[2], fb_cap[2];
	size_t *fb[2];		/* per frontend: its first backend in c->b, fixed up at the end */
};

static struct ct_frontend *add_front(struct builder *bd, int family, size_t first_b)
{
	int k = fidx(family);
	struct proxy_ct *c = bd->c;

	/* two arrays in step: each with its own capacity */
	if (vec_grow((void **)&c->f[k], &bd->cap[k], c->n[k] + 1, sizeof(*c->f[k])) ||
	    vec_grow((void **)&bd->fb[k], &bd->fb_cap[k], c->n[k] + 1, sizeof(*bd->fb[k])))
		return NULL;
	bd->fb[k][c->n[k]] = first_b;
	memset(&c->f[k][c->n[k]], 0, sizeof(c->f[k][0]));
	c->f[k][c->n[k]].family = family;
	return &c->f[k][c->n[k]++];
}

/* Appends v's serving endpoints of `family` to c->b; returns the count or -1. */
static long add_backends(struct proxy_ct *c, size_t *cap, const struct fsvc *v, int family)
{
	long n = 0;

	for (size_t i = 0; v && i < v->n_eps; i++) {
		const struct fendpoint *e = &v->eps[i];

		if (e->addr.family != family || !serving(e))
			continue;
		if (vec_grow((void **)&c->b, cap, c->n_b + 1, sizeof(*c->b)))
			return -1;
		memset(&c->b[c->n_b], 0, sizeof(c->b[0]));
		memcpy(c->b[c->n_b].addr, e->addr.a, family == AF_INET6 ? 16 : 4);
		c->b[c->n_b].port = e->port;
		c->n_b++;
		n++;
	}
	return n;
}

/* The frontends of one service port; `deleted`: none serving. */
static int add_svc(struct builder *bd, size_t *bcap, const struct fsvc *v, bool deleted)
{
	const struct faddr *lists[] = { v->cluster_ips, v->external_ips, v->lb_ips };
	const size_t counts[] = { v->n_cluster_ips, v->n_external_ips, v->n_lb_ips };
	size_t first[2] = { 0, 0 };
	long nb[2] = { 0, 0 };

	for (int k = 0; k < 2; k++) {
		int fam = k ? AF_INET6 : AF_INET;

		first[k] = bd->c->n_b;
		if (!deleted && (nb[k] = add_backends(bd->c, bcap, v, fam)) < 0)
			return -ENOMEM;
	}
	for (size_t l = 0; l < 3; l++)
		for (size_t i = 0; i < counts[l]; i++) {
			const struct faddr *a = &lists[l][i];
			int k = fidx(a->family);
			struct ct_frontend *f = add_front(bd, a->family, first[k]);

			if (!f)
				return -ENOMEM;
			memcpy(f->addr, a->a, a->family == AF_INET6 ? 16 : 4);
			f->port = v->port;
			f->n_serving = nb[k];
		}
	/* *:NodePort with nothing serving would hit unrelated flows: skipped */
	for (int k = 0; v->node_port && k < 2; k++) {
		struct ct_frontend *f;

		if (!nb[k])
			continue;
		if (!(f = add_front(bd, k ? AF_INET6 : AF_INET, first[k])))
			return -ENOMEM;
		f->node_port = true;
		f->port = v->node_port;
		f->n_serving = nb[k];
	}
	return 0;
}

int proxy_ct_build(const struct fstate *old, const struct fstate *cur, struct proxy_ct *c)
{
	struct builder bd = { .c = c };
	size_t bcap = 0;
	int rc = 0;

	memset(c, 0, sizeof(*c));
	/* the current state first: a reused Service IP belongs to its new owner */
	for (size_t i = 0; cur && i < cur->n_svcs && !rc; i++)
		if (cur->svcs[i].proto == IPPROTO_UDP)
			rc = add_svc(&bd, &bcap, &cur->svcs[i], false);
	for (size_t i = 0; old && i < old->n_svcs && !rc; i++)
		if (old->svcs[i].proto == IPPROTO_UDP && !find(cur, old->svcs[i].key))
			rc = add_svc(&bd, &bcap, &old->svcs[i], true);
	/* c->b moved while growing: point the frontends at it now */
	for (int k = 0; k < 2 && !rc; k++)
		for (size_t i = 0; i < c->n[k]; i++)
			c->f[k][i].serving = c->f[k][i].n_serving ? &c->b[bd.fb[k][i]] : NULL;
	free(bd.fb[0]);
	free(bd.fb[1]);
	return rc;
}

void proxy_ct_free(struct proxy_ct *c)
{
	free(c->f[0]);
	free(c->f[1]);
	free(c->b);
	memset(c, 0, sizeof(*c));
}
