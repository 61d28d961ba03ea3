/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The proxy tests' stand-in for the agent's kube caches: a fixed array of
 * objects, walked and looked up the way proxy/ asks a cache to be (the
 * each/get callbacks of its inputs). Define MAX_OBJS before including.
 */
#ifndef FERRY_PROXY_TESTS_OBJS_H
#define FERRY_PROXY_TESTS_OBJS_H

#include "kube/objects.h"

#include <string.h>

struct objs {
	struct kube_object *v[MAX_OBJS];
	size_t n;
};

static void each(const void *cache, int (*fn)(void *, const struct kube_object *), void *arg)
{
	const struct objs *o = cache;
	for (size_t i = 0; i < o->n; i++)
		if (fn(arg, o->v[i]))
			return;
}

static const struct kube_object *get(const void *cache, const char *ns, const char *name)
{
	const struct objs *o = cache;
	for (size_t i = 0; i < o->n; i++)
		if (!strcmp(o->v[i]->namespace, ns) && !strcmp(o->v[i]->name, name))
			return o->v[i];
	return NULL;
}

#endif
