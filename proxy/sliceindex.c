/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "proxy/sliceindex.h"
#include "core/hash.h"
#include "core/vec.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One Service: "namespace/name" and the names of its slices. */
struct entry {
	struct hnode node;
	VEC(char *) slices;
	char key[];
};

struct slice_index {
	struct htab t;
	size_t n_slices;
};

/* the hash of the key "ns/svc", without building it */
static uint64_t hash(const char *ns, const char *svc)
{
	return hash_str(svc, hash_str("/", hash_str(ns, HASH_SEED)));
}

static bool key_is(const struct entry *e, const char *ns, const char *svc)
{
	size_t n = strlen(ns);

	return !strncmp(e->key, ns, n) && e->key[n] == '/' && !strcmp(e->key + n + 1, svc);
}

struct slice_index *slice_index_new(void)
{
	return calloc(1, sizeof(struct slice_index));
}

static void entry_free(struct entry *e)
{
	for (size_t i = 0; i < e->slices.n; i++)
		free(e->slices.v[i]);
	vec_free(&e->slices);
	free(e);
}

void slice_index_free(struct slice_index *x)
{
	if (!x)
		return;
	HTAB_WALK(&x->t, n) {
		htab_del(&x->t, n);
		entry_free(container_of(n, struct entry, node));
	}
	htab_free(&x->t);
	free(x);
}

static struct entry *find(const struct slice_index *x, const char *ns, const char *svc)
{
	uint64_t h = hash(ns, svc);

	for (struct hnode *n = htab_first(&x->t, h); n; n = htab_next(n, h))
		if (key_is(container_of(n, struct entry, node), ns, svc))
			return container_of(n, struct entry, node);
	return NULL;
}

static void del(struct slice_index *x, const char *ns, const char *svc, const char *slice)
{
	struct entry *e = find(x, ns, svc);

	if (!e)
		return;
	for (size_t i = 0; i < e->slices.n; i++) {
		if (strcmp(e->slices.v[i], slice))
			continue;
		free(e->slices.v[i]);
		e->slices.v[i] = e->slices.v[--e->slices.n];
		x->n_slices--;
		break;
	}
	if (!e->slices.n) {
		htab_del(&x->t, &e->node);
		entry_free(e);
	}
}

static int add(struct slice_index *x, const char *ns, const char *svc, const char *slice)
{
	struct entry *e = find(x, ns, svc);
	char *copy;

	if (!e) {
		size_t len = strlen(ns) + 1 + strlen(svc) + 1;
		if (!(e = calloc(1, sizeof(*e) + len)))
			return -ENOMEM;
		snprintf(e->key, len, "%s/%s", ns, svc);
		if (htab_add(&x->t, &e->node, hash(ns, svc)) < 0) {
			free(e);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < e->slices.n; i++)
		if (!strcmp(e->slices.v[i], slice))
			return 0;
	if (!(copy = strdup(slice)))
		return -ENOMEM;
	if (vec_push(&e->slices, copy) < 0) {
		free(copy);
		return -ENOMEM;
	}
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
	const struct entry *e = find(x, ns, svc);

	for (size_t i = 0; e && i < e->slices.n; i++)
		fn(arg, e->slices.v[i]);
}

size_t slice_index_count(const struct slice_index *x) { return x->n_slices; }
