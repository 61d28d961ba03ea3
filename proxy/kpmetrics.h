/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The metrics ferry serves on /metrics: kube-proxy v1.37's names, labels,
 * help texts and buckets where they apply (pkg/proxy/metrics/metrics.go), so
 * dashboards and alerts written for kube-proxy keep working, plus ferry's
 * own nft ones.
 *
 * kube-proxy runs one proxier per IP family and labels its sync metrics
 * ip_family="IPv4"|"IPv6"; ferry programs both families in one batch, so a
 * sync is observed once under each family the node has.
 */
#ifndef FERRY_PROXY_KPMETRICS_H
#define FERRY_PROXY_KPMETRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct metrics;
struct metric;
struct hc_health;
struct httpd;
struct httpd_req;
struct httpd_resp;

struct kp_metrics {
	struct metrics *reg;	/* route "/metrics" to metrics_http with this */
	bool family[2];		/* [0] IPv4, [1] IPv6: the label sets registered */
	/* per family (NULL for a family the node does not have) */
	struct metric *sync_duration[2], *sync_full_duration[2], *sync_partial_duration[2];
	struct metric *last_timestamp[2], *last_queued_timestamp[2];
	struct metric *netprog_duration[2];
	struct metric *nft_sync_failures[2];
	struct metric *no_local_internal[2], *no_local_external[2];
	struct metric *ct_duration[2], *ct_deleted[2];
	struct metric *endpoint_changes_total, *endpoint_changes_pending;
	struct metric *service_changes_total, *service_changes_pending;
	struct metric *healthz[2], *livez[2];	/* code 200, 503 */
	struct metric *nft_objects, *nft_batch_messages, *nft_sync_errors;
};

/* Both families registered. 0, or -ENOMEM. */
int kp_metrics_init(struct kp_metrics *m);
/* Only the families this node proxies get ip_family label sets, as
 * kube-proxy runs a proxier per family. */
int kp_metrics_init_families(struct kp_metrics *m, bool ipv4, bool ipv6);
void kp_metrics_free(struct kp_metrics *m);

/* kube-proxy's metrics server paths on `h` (metricsBindAddress, default
 * 127.0.0.1:10249): /metrics, /proxyMode ("nftables"), /healthz ("ok").
 * 0, or a negative errno from httpd_route. */
int kp_metrics_serve(struct kp_metrics *m, struct httpd *h);
/* GET /proxyMode: "nftables", as kube-proxy's metrics server answers */
void kp_metrics_proxy_mode(void *arg, const struct httpd_req *req, struct httpd_resp *r);

/* Count /healthz and /livez answers in kubeproxy_proxy_{healthz,livez}_total. */
void kp_metrics_bind_health(struct kp_metrics *m, struct hc_health *h);

/* Informer events that need a sync: counts changes, stamps the queue time. */
void kp_metrics_queued(struct kp_metrics *m, uint32_t service_changes, uint32_t endpoint_changes);

struct kp_sync_result {
	bool ok;		/* the kernel took the batch */
	bool full;		/* whole tables rebuilt (nft_sync_stats.full) */
	double seconds;		/* whole sync: compute + netlink */
	uint32_t messages;	/* netlink messages in the batch */
	uint64_t objects;	/* rules + set/map elements now in ferry's tables */
	/* Services with a Local policy and no local endpoints, per family
	 * (kubeproxy_sync_proxy_rules_no_local_endpoints_total) */
	uint32_t no_local_internal[2], no_local_external[2];
};
/* After every sync attempt. Durations are observed for every attempt (as
 * kube-proxy's deferred call); on success the pending gauges go to 0 and
 * the last-sync timestamps move; on failure the failure counters grow. */
void kp_metrics_synced(struct kp_metrics *m, const struct kp_sync_result *r);

/*
 * Network programming latency of one EndpointSlice a successful sync
 * programmed: `trigger` is its annotation
 * endpoints.kubernetes.io/last-change-trigger-time (RFC 3339), `family`
 * AF_INET/AF_INET6 (its addressType), `now` the wall time the sync ended.
 * Returns 0, or -EINVAL for a missing or unparsable annotation.
 */
int kp_metrics_netprog(struct kp_metrics *m, int family, const char *trigger, struct timespec now);

/* One conntrack reconciliation (nft/conntrack.h ct_reconcile) of `family`:
 * kubeproxy_conntrack_reconciler_{sync_duration_seconds,deleted_entries_total}. */
void kp_metrics_conntrack(struct kp_metrics *m, int family, double seconds, uint32_t deleted);

/* RFC 3339 ("2026-11-26T13:50:01Z", ".123456789", "+02:00") to a timespec. */
int kp_parse_rfc3339(const char *s, struct timespec *out);

#endif
