/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The metrics ferry serves on /metrics: kube-proxy's names, help texts and
 * buckets where they apply (pkg/proxy/metrics/metrics.go), so dashboards and
 * alerts written for kube-proxy keep working, plus ferry's own nft ones.
 */
#ifndef FERRY_PROXY_KPMETRICS_H
#define FERRY_PROXY_KPMETRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct metrics;
struct metric;

struct kp_metrics {
	struct metrics *reg;	/* route "/metrics" to metrics_http with this */
	struct metric *sync_duration, *sync_full_duration, *sync_partial_duration;
	struct metric *last_timestamp, *last_queued_timestamp;
	struct metric *netprog_duration;
	struct metric *endpoint_changes_total, *endpoint_changes_pending;
	struct metric *service_changes_total, *service_changes_pending;
	struct metric *healthz_200, *healthz_503, *livez_200, *livez_503;
	struct metric *nft_objects, *nft_batch_messages, *nft_sync_errors;
};

/* 0, or -ENOMEM. */
int kp_metrics_init(struct kp_metrics *m);
void kp_metrics_free(struct kp_metrics *m);

/* Informer events that need a sync: counts changes and stamps the queue time. */
void kp_metrics_queued(struct kp_metrics *m, uint32_t service_changes, uint32_t endpoint_changes);

struct kp_sync_result {
	bool ok;		/* the kernel took the batch */
	bool full;		/* whole tables rebuilt (nft_sync_stats.full) */
	double seconds;		/* whole sync: compute + netlink */
	uint32_t messages;	/* netlink messages in the batch */
	uint64_t objects;	/* rules + set/map elements now in ferry's tables */
};
/* After every sync attempt. On success the pending gauges go to 0 and the
 * last-sync timestamp moves; on failure ferry_nft_sync_errors_total grows. */
void kp_metrics_synced(struct kp_metrics *m, const struct kp_sync_result *r);

/*
 * Network programming latency of one EndpointSlice programmed by a sync:
 * `trigger` is its annotation endpoints.kubernetes.io/last-change-trigger-time
 * (RFC 3339), `now` the wall time the sync finished. Returns 0, or -EINVAL
 * for a missing or unparsable annotation (nothing observed).
 */
int kp_metrics_netprog(struct kp_metrics *m, const char *trigger, struct timespec now);

/* RFC 3339 ("2026-11-26T13:50:01Z", ".123456789", "+02:00") to a timespec. */
int kp_parse_rfc3339(const char *s, struct timespec *out);

#endif
