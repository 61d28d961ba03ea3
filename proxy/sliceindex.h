/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * EndpointSlices by the Service they belong to (the label
 * kubernetes.io/service-name): a sync of a few Services reads just their
 * slices instead of walking every slice in the cache. Fed with the slice
 * informer's events; holds names only, never object pointers.
 */
#ifndef FERRY_PROXY_SLICEINDEX_H
#define FERRY_PROXY_SLICEINDEX_H

#include "kube/objects.h"

struct slice_index;

struct slice_index *slice_index_new(void);
void slice_index_free(struct slice_index *x);
/* An informer event for a slice: `old` NULL on an add, `obj` NULL on a
 * delete. 0, or -ENOMEM: then the index may miss this slice, and the
 * caller stops using it (src/proxier.c walks the whole cache from then on). */
int slice_index_update(struct slice_index *x, const struct kube_object *old,
		       const struct kube_object *obj);
/* Calls fn with the name of each slice of Service ns/svc (any order). */
void slice_index_foreach(const struct slice_index *x, const char *ns, const char *svc,
			 void (*fn)(void *arg, const char *slice), void *arg);
size_t slice_index_count(const struct slice_index *x);	/* slices held */

#endif
