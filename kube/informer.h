/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An informer: list then watch one resource type, keep a local cache of
 * compact typed objects (kube/objects.h) keyed by namespace/name, and tell
 * the owner what changed.
 *
 *  - Lists are paged (limit=100) so a big cluster never sits in memory as
 *    one JSON tree; the watch resumes from the list's resourceVersion with
 *    allowWatchBookmarks.
 *  - A relist (410 Gone, repeated watch failures) compares against the cache
 *    and delivers only real differences: adds, updates whose kept fields
 *    changed, deletes of objects that are gone. Never delete+add.
 *  - A broken or timed-out watch resumes from the last resourceVersion seen.
 *  - Errors back off exponentially (0.8 s .. 30 s) with jitter.
 *  - Malformed objects are logged and skipped; the cache keeps its last good
 *    state.
 *  - A resource the server does not serve (404 on list: a metallb.io CRD not
 *    installed) counts as synced with zero objects (so startup does not
 *    wait for it), is logged once, and is listed again every
 *    missing_retry_ms (30 s); when
 *    it appears, its objects arrive as adds.
 *
 * Callbacks run from the loop. Object pointers are valid during the call
 * (the `old` of an update and the object of a delete are freed after it) and,
 * for cached ones, until the next change of that key.
 */
#ifndef FERRY_KUBE_INFORMER_H
#define FERRY_KUBE_INFORMER_H

#include "kube/client.h"
#include "kube/objects.h"

struct kube_informer;

struct kube_handlers {
	void (*add)(void *arg, const struct kube_object *obj);
	void (*update)(void *arg, const struct kube_object *old, const struct kube_object *obj);
	void (*del)(void *arg, const struct kube_object *obj);
	void (*synced)(void *arg);	/* once, after the first full list */
};

struct kube_informer_opts {
	const char *label_selector;	/* e.g. "!service.kubernetes.io/headless" */
	const char *field_selector;	/* e.g. "metadata.name=node1" */
	/* only this namespace (namespaced kinds; NULL/"": all). One ConfigMap:
	 * .namespace = "metallb-system", .field_selector = "metadata.name=config" */
	const char *namespace;
	unsigned page_size;		/* 0: 100 */
	unsigned watch_timeout_s;	/* 0: random in [300, 600) as client-go */
	unsigned missing_retry_ms;	/* list again after a 404; 0: 30000 */
	/* an optional input the operator may not have granted (MetalLB's
	 * legacy ConfigMap): a 403 is read as "nothing there", as a 404 is.
	 * Never for what forwarding reads: an empty cache would drop rules. */
	bool forbidden_is_empty;
};

struct kube_informer *kube_informer_new(struct kube_client *c, enum kube_kind kind,
					const struct kube_informer_opts *o,
					const struct kube_handlers *h, void *arg);
int kube_informer_start(struct kube_informer *inf);
void kube_informer_free(struct kube_informer *inf);

bool kube_informer_synced(const struct kube_informer *inf);
size_t kube_informer_count(const struct kube_informer *inf);
/* namespace "" for cluster-scoped objects */
const struct kube_object *kube_informer_get(const struct kube_informer *inf,
					    const char *ns, const char *name);
/* Visit every cached object; stop when fn returns non-zero. */
void kube_informer_foreach(const struct kube_informer *inf,
			   int (*fn)(void *arg, const struct kube_object *o), void *arg);
/* Bytes held by cached objects (for the benchmark and /metrics). */
size_t kube_informer_bytes(const struct kube_informer *inf);
const char *kube_informer_resource_version(const struct kube_informer *inf);

struct kube_informer_stats {
	unsigned lists, relists, watches, watch_errors, bad_objects, gone;
	unsigned missing;	/* lists answered 404 (resource not served) */
};
void kube_informer_stats(const struct kube_informer *inf, struct kube_informer_stats *s);

#endif
