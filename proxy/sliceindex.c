/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "proxy/sliceindex.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One Service: "namespace/name" and the names of its slices. */
struct entry {
	struct entry *next;
	char **slices;
	size_t n, cap;
	char key[];
};

struct slice_index {
	struct entry **b;
	size_t nb, n_entries, n_slices;
};

static uint64_t hash(const char *ns, const char *svc)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (const char *p = ns; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	h = (h ^ '/') * 1099511628211ULL;
	for (const char *p = svc; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	return h;
}

/* the same as hash(ns, svc) for the key "ns/svc" */
static uint64_t hash_key(const char *key)
{
	uint64_t h = 1469598103934665603ULL;

	for (const char *p = key; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	return h;
}

static bool key_is(const struct entry *e, const char *ns, const char *svc)
{
	size_t n = strlen(ns);

	return !strncmp(e->key, ns, n) && e->key[n] == '/' && !strcmp(e->key + n + 1, svc);
}

struct slice_index *slice_index_new(void)
{
	struct slice_index *x = calloc(1, sizeof(*x));

	if (x && !(x->b = calloc(x->nb = 256, sizeof(*x->b)))) {
		free(x);
		return NULL;
	}
	return x;
}

static void entry_free(struct entry *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->slices[i]);
	free(e->slices);
	free(e);
}

void slice_index_free(struct slice_index *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->nb; i++)
		for (struct entry *e = x->b[i], *next; e; e = next) {
			next = e->next;
			entry_free(e);
		}
	free(x->b);
	free(x);
}

static struct entry **find(const struct slice_index *x, const char *ns, const char *svc)
{
	struct entry **pe = &x->b[hash(ns, svc) & (x->nb - 1)];

	while (*pe && !key_is(*pe, ns, svc))
		pe = &(*pe)->next;
	return pe;
}

static void grow(struct slice_index *x)
{
	size_t nb = 2 * x->nb;
	struct entry **b = calloc(nb, sizeof(*b));

	if (!b)
		return;		/* longer chains, still correct */
	for (size_t i = 0; i < x->nb; i++)
		for (struct entry *e = x->b[i], *next; e; e = next) {
			struct entry **pe = &b[hash_key(e->key) & (nb - 1)];

			next = e->next;
			e->next = *pe;
			*pe = e;
		}
	free(x->b);
	x->b = b;
	x->nb = nb;
}

static void del(struct slice_index *x, const char *ns, const char *svc, const char *slice)
{
	struct entry **pe = find(x, ns, svc), *e = *pe;

	if (!e)
		return;
	for (size_t i = 0; i < e->n; i++) {
		if (strcmp(e->slices[i], slice))
			continue;
		free(e->slices[i]);
		e->slices[i] = e->slices[--e->n];
		x->n_slices--;
		break;
	}
	if (!e->n) {
		*pe = e->next;
		entry_free(e);
		x->n_entries--;
	}
}

static int add(struct slice_index *x, const char *ns, const char *svc, const char *slice)
{
	struct entry **pe = find(x, ns, svc), *e = *pe;

	if (!e) {
		size_t len = strlen(ns) + 1 + strlen(svc) + 1;
		if (!(e = calloc(1, sizeof(*e) + len)))
			return -ENOMEM;
		snprintf(e->key, len, "%s/%s", ns, svc);
		*pe = e;
		if (++x->n_entries > x->nb)
			grow(x);
	}
	for (size_t i = 0; i < e->n; i++)
		if (!strcmp(e->slices[i], slice))
			return 0;
	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 2;
		char **v = realloc(e->slices, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		e->slices = v;
		e->cap = cap;
	}
	if (!(e->slices[e->n] = strdup(slice)))
		return -ENOMEM;
	e->n++;
	x->n_slices++;
	return 0;
}

static const char *service_of(const struct kube_object *o)
{
	const struct kube_endpointslice *s = kube_endpointslice(o);

	return s ? s->service_name : NULL;
}

int slice_index_update(struct slice_index *x, const struct kube_object *old,
		       const struct kube_object *obj)
{
	if (old && service_of(old))
		del(x, old->namespace, service_of(old), old->name);
	if (obj && service_of(obj))
		return add(x, obj->namespace, service_of(obj), obj->name);
	return 0;
}

void slice_index_foreach(const struct slice_index *x, const char *ns, const char *svc,
			 void (*fn)(void *arg, const char *slice), void *arg)
{
	const struct entry *e = *find(x, ns, svc);

	for (size_t i = 0; e && i < e->n; i++)
		fn(arg, e->slices[i]);
}

size_t slice_index_count(const struct slice_index *x) { return x->n_slices; }
