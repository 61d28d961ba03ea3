/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kube-proxy's two health servers, on the core loop and core/httpd:
 *
 *  - Service health-check node ports (healthCheckNodePort of LoadBalancer
 *    Services with externalTrafficPolicy: Local). Cloud and hardware load
 *    balancers probe them, any path: 200 when this node has local endpoints
 *    and the proxy is healthy, 503 otherwise, with kube-proxy's JSON body and
 *    headers (pkg/proxy/healthcheck/service_health.go).
 *  - The proxier health behind /healthz and /livez: healthy unless an update
 *    was queued and not programmed within the timeout (kube-proxy uses twice
 *    the sync period); /healthz is also 503 while the node is not eligible
 *    (being deleted, or tainted ToBeDeletedByClusterAutoscaler).
 *    Bodies are kube-proxy v1.37's JSON (pkg/proxy/healthcheck/proxy_health.go):
 *    {"lastUpdated":"…","currentTime":"…","nodeEligible":true,"healthy":true,
 *     "status":{"IPv4":{"lastUpdated":"…","healthy":true}}}
 *    (no nodeEligible on /livez, no status before the first sync).
 */
#ifndef FERRY_PROXY_HEALTHCHECK_H
#define FERRY_PROXY_HEALTHCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct httpd_req;
struct httpd_resp;
struct metric;

/* ---- proxier health (/healthz, /livez) ---- */
struct hc_health {
	uint64_t timeout_ms;
	/* index 0 IPv4, 1 IPv6 */
	bool updated[2], queued[2];
	struct timespec last_updated[2];	/* CLOCK_REALTIME */
	uint64_t queued_ms[2];			/* loop_now_ms() of the oldest pending */
	bool node_eligible;			/* true until told otherwise */
	/* optional: kubeproxy_proxy_{healthz,livez}_total{code="200"|"503"},
	 * [0 healthz / 1 livez][0 for 200 / 1 for 503]; kp_metrics_bind_health */
	struct metric *counters[2][2];
	/* optional, /healthz only: the agent's own conditions (API reachable,
	 * informers synced). Appends ,"key":value fields to the body with
	 * httpd_printf; returning false reports "healthy":false and 503. */
	bool (*extra)(void *arg, struct httpd_resp *r);
	void *extra_arg;
};

/* timeout_ms: kube-proxy uses 2 x syncPeriod (default 60 s). */
void hc_health_init(struct hc_health *h, uint64_t timeout_ms);
/* A Service/EndpointSlice change for `family` (AF_INET/AF_INET6) is pending. */
void hc_health_queued(struct hc_health *h, int family);
/* The data plane for `family` now matches the API (a successful sync). */
void hc_health_updated(struct hc_health *h, int family);
/* false when this node's Node has a deletionTimestamp or the taint
 * ToBeDeletedByClusterAutoscaler, or is gone; true otherwise (kube-proxy's
 * NodeEligible). Call it on every Node event. */
void hc_health_node_eligible(struct hc_health *h, bool eligible);
/* The proxier's health, not counting the node (serviceProxyHealthy). */
bool hc_health_healthy(const struct hc_health *h);

/* httpd handlers, arg = struct hc_health *: kube-proxy's status, headers
 * and body for /healthz and /livez. */
void hc_healthz_http(void *arg, const struct httpd_req *req, struct httpd_resp *r);
void hc_livez_http(void *arg, const struct httpd_req *req, struct httpd_resp *r);

/* The body, status and headers of /healthz (healthz true) or /livez at wall
 * time `now` and loop_now_ms() `now_ms` (the handlers pass the clocks). */
void hc_health_body(const struct hc_health *h, bool healthz, struct timespec now, uint64_t now_ms,
		    struct httpd_resp *r);

/* Go's time.Time JSON (RFC 3339 with nanoseconds, trailing zeros dropped) of
 * a UTC wall time: "2026-11-26T13:50:01.1234Z"; {0,0} is Go's zero time. */
void hc_rfc3339nano(char *buf, size_t len, struct timespec t);

/* ---- Service health-check node ports (served by src/hcserver.h) ---- */

/* The exact body kube-proxy sends (no trailing newline); malloc'd. */
char *hc_service_body(const char *namespace, const char *name, uint32_t local_endpoints,
		      bool healthy);

struct fnode;
struct faddr;

/*
 * Where the health-check ports listen, as kube-proxy's per-family
 * NodePortAddresses decide (pkg/proxy/healthcheck/service_health.go): on
 * every address when each family's nodePortAddresses match all (a zero
 * CIDR, or the node's list empty); else on the node's addresses (`local`,
 * the interfaces') inside them, which may be none. Returns -1 for "every
 * address", else how many of `local` match; their indexes go into `out`
 * (room for n_local).
 */
int hc_bind_addrs(const struct fnode *node, const struct faddr *local, size_t n_local, size_t *out);

#endif
