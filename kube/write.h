/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writes to the API: create, patch (merge, JSON, strategic; on the object or
 * its /status subresource), delete, and read-modify-write with optimistic
 * concurrency (retry on 409 Conflict). All go through the client's rate
 * limiter. Paths are API paths, e.g.
 *   "/api/v1/namespaces/shop/services/web/status".
 */
#ifndef FERRY_KUBE_WRITE_H
#define FERRY_KUBE_WRITE_H

#include "kube/client.h"

struct json_object;

enum kube_patch_type { KUBE_PATCH_MERGE, KUBE_PATCH_JSON, KUBE_PATCH_STRATEGIC };

struct kube_req *kube_get(struct kube_client *c, const char *path, kube_done_fn done, void *arg);
struct kube_req *kube_create(struct kube_client *c, const char *collection_path, const char *json,
			     kube_done_fn done, void *arg);
struct kube_req *kube_put(struct kube_client *c, const char *path, const char *json,
			  kube_done_fn done, void *arg);
struct kube_req *kube_patch(struct kube_client *c, const char *path, enum kube_patch_type t,
			    const char *patch, kube_done_fn done, void *arg);
struct kube_req *kube_delete(struct kube_client *c, const char *path, kube_done_fn done, void *arg);

/*
 * Read-modify-write. GET `path`; call mutate with the current object (NULL
 * when it does not exist) to get the body to write: PUT to `path` (it must
 * carry the metadata.resourceVersion it read, so a concurrent writer makes
 * it fail with 409), or POST to `create_path` when the object did not exist
 * (NULL create_path: a 404 ends the update). On 409 it starts over, at most
 * `max_tries` times (0: 5). mutate returns a malloc'd JSON string, or NULL
 * to write nothing (done then gets status 0, err 0). done gets the result
 * of the last request.
 */
typedef char *(*kube_mutate_fn)(void *arg, struct json_object *current);
struct kube_update;
struct kube_update *kube_update(struct kube_client *c, const char *path, const char *create_path,
				int max_tries, kube_mutate_fn mutate, kube_done_fn done, void *arg);
void kube_update_cancel(struct kube_update *u);

/*
 * A Service's status.loadBalancer.ingress := [{"ip": ips[0]}, ...] (n 0:
 * an empty list, no address). A merge patch of the /status subresource with
 * the full list; with a resource_version (the one the decision was based
 * on) the API answers 409 Conflict when the Service changed since: re-read
 * (the informer brings it) and decide again. NULL on allocation failure.
 */
struct kube_req *kube_service_set_ingress(struct kube_client *c, const char *ns, const char *name,
					  const char *resource_version, const char *const *ips, size_t n,
					  kube_done_fn done, void *arg);

/* The "message" of a Status body, or NULL (a static buffer). */
const char *kube_status_message(const char *body);

#endif
