/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The proxier: keeps the data plane in step with the informer caches.
 * Changes only mark Services changed; one timer turns them into syncs
 * that rebuild just those (proxy_build with `only` -> nft_sync_update), or
 * everything (-> nft_sync_apply) after a Node change, an error and every
 * --sync-period. A sync runs at once for an isolated change, gathered
 * with a growing wait (up to --min-sync-period) while changes keep coming,
 * and at least every --sync-period. A failed sync leaves the last good
 * ruleset and retries.
 */
#ifndef FERRY_SRC_PROXIER_H
#define FERRY_SRC_PROXIER_H

#include "core/loop.h"
#include "kube/informer.h"
#include "nft/model.h"
#include "src/hcserver.h"
#include "proxy/kpmetrics.h"
#include "proxy/proxy.h"

#include <stdint.h>

struct proxier;

struct proxier_opts {
	struct proxy_config cfg;
	uint64_t sync_period_ms;	/* periodic full resync */
	uint64_t min_sync_period_ms;	/* under a stream of changes, one sync per this */
};

struct proxier_stats {
	uint64_t syncs, sync_errors, service_changes, endpoint_changes;
	double last_sync_ms;
	uint64_t last_sync_unix_ms;	/* wall clock of the last good sync */
	size_t services, service_ports, endpoints;
};

struct proxier *proxier_new(struct loop *l, const struct proxier_opts *o,
			    struct kube_informer *services, struct kube_informer *slices,
			    struct kube_informer *nodes);
void proxier_free(struct proxier *p);
/* The informers are synced: the first sync may run. */
void proxier_start(struct proxier *p);
/* Every EndpointSlice event (old NULL on an add, obj NULL on a delete), from
 * the first list on: keeps the index of slices per Service. */
void proxier_slice_event(struct proxier *p, const struct kube_object *old,
			 const struct kube_object *obj);
/* An EndpointSlice was added or changed: its trigger time feeds the
 * network programming latency metric when the next sync lands. */
void proxier_slice_changed(struct proxier *p, const struct kube_object *o);
/* Something of `kind` changed that touches every Service (this Node): the
 * next sync rebuilds from the whole cache. Soon. */
void proxier_changed(struct proxier *p, enum kube_kind kind);
/* A Service, or an EndpointSlice of it (kind says which), changed: the
 * next sync rebuilds that Service only. Soon. */
void proxier_service_changed(struct proxier *p, enum kube_kind kind, const char *ns,
			     const char *name);
const struct proxier_stats *proxier_stats(const struct proxier *p);
/* The state the last sync built (what the kernel holds after a good sync). */
const struct fstate *proxier_applied(const struct proxier *p);
/* For /healthz and /livez (hc_healthz_http) and /metrics (metrics_http). */
struct hc_health *proxier_health(struct proxier *p);
struct metrics *proxier_metrics(struct proxier *p);

#endif
