/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The proxier: keeps the data plane in step with the informer caches; the
 * agent's first consumer (src/consumer.h). Changes only mark Services
 * changed; one timer turns them into syncs that rebuild just those
 * (proxy_build with `only` -> nft_sync_update), or everything
 * (-> nft_sync_apply) after a Node change, an error and every
 * --sync-period. A sync runs at once for an isolated change, gathered
 * with a growing wait (up to --min-sync-period) while changes keep coming,
 * and at least every --sync-period. A failed sync leaves the last good
 * ruleset and retries. Services that are not a proxy's
 * (proxy_service_ours) are ignored.
 *
 * Serves kube-proxy's /healthz and /livez on the agent's healthz server,
 * /metrics and /healthz on its metrics server, health-check node ports
 * (src/hcserver.h), and its sync counts and state on /status.
 */
#ifndef FERRY_SRC_PROXIER_H
#define FERRY_SRC_PROXIER_H

#include "proxy/proxy.h"
#include "src/consumer.h"

#include <stdint.h>

/* The list entry's opts for proxier_consumer. */
struct proxier_opts {
	struct proxy_config cfg;
	uint64_t sync_period_ms;	/* periodic full resync */
	uint64_t min_sync_period_ms;	/* under a stream of changes, one sync per this */
	/* after the first complete sync, remove kube-proxy's leftovers (a node
	 * moving from kube-proxy; --cleanup-kube-proxy=false keeps them) */
	bool keep_kube_proxy;
};

struct proxier_stats {
	uint64_t syncs, sync_errors, service_changes, endpoint_changes;
	double last_sync_ms;
	uint64_t last_sync_unix_ms;	/* wall clock of the last good sync */
	size_t services, service_ports, endpoints;
};

extern const struct consumer_ops proxier_consumer;

#endif
