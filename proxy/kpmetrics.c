/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "proxy/kpmetrics.h"
#include "core/httpd.h"
#include "core/log.h"
#include "core/metrics.h"
#include "proxy/healthcheck.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* component-base prefixes the help of ALPHA metrics with "[ALPHA] " */
#define A "[ALPHA] "

static const char *const fam_label[2] = { "ip_family=\"IPv4\"", "ip_family=\"IPv6\"" };

int kp_metrics_init(struct kp_metrics *m)
{
	return kp_metrics_init_families(m, true, true);
}

int kp_metrics_init_families(struct kp_metrics *m, bool ipv4, bool ipv6)
{
	double sync_b[15], np_b[1 + 2 + 59 + 12 + 7], batch_b[10];
	struct metrics *r;
	bool ok = true;

	memset(m, 0, sizeof(*m));
	m->reg = r = metrics_new();
	if (!r)
		return -ENOMEM;
	m->family[0] = ipv4;
	m->family[1] = ipv6;
	/* metrics.ExponentialBuckets(0.001, 2, 15) */
	metrics_exp_buckets(sync_b, 0.001, 2, 15);
	/* metrics.MergeBuckets starts from a 0 bucket, then 0.25s, 0.5s,
	 * 1..59s, 60..115s by 5, 120..300s by 30 */
	np_b[0] = 0;
	metrics_lin_buckets(np_b + 1, 0.25, 0.25, 2);
	metrics_lin_buckets(np_b + 3, 1, 1, 59);
	metrics_lin_buckets(np_b + 62, 60, 5, 12);
	metrics_lin_buckets(np_b + 74, 120, 30, 7);
	metrics_exp_buckets(batch_b, 1, 4, 10);

	/* label sets of one name must be registered one after another */
#define PER_FAMILY(field, call)                                   \
	for (int f = 0; f < 2; f++)                               \
		if (m->family[f]) {                               \
			const char *l = fam_label[f];             \
			ok = ok && (m->field[f] = (call)) != NULL; \
		}
	PER_FAMILY(sync_duration, metrics_histogram(r, "kubeproxy_sync_proxy_rules_duration_seconds", l,
						    A "SyncProxyRules latency in seconds", sync_b, 15));
	PER_FAMILY(sync_full_duration,
		   metrics_histogram(r, "kubeproxy_sync_full_proxy_rules_duration_seconds", l,
				     A "SyncProxyRules latency in seconds for full resyncs", sync_b, 15));
	PER_FAMILY(sync_partial_duration,
		   metrics_histogram(r, "kubeproxy_sync_partial_proxy_rules_duration_seconds", l,
				     A "SyncProxyRules latency in seconds for partial resyncs", sync_b, 15));
	PER_FAMILY(last_timestamp, metrics_gauge(r, "kubeproxy_sync_proxy_rules_last_timestamp_seconds", l,
						 A "The last time proxy rules were successfully synced"));
	PER_FAMILY(last_queued_timestamp,
		   metrics_gauge(r, "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", l,
				 A "The last time a sync of proxy rules was queued"));
	PER_FAMILY(netprog_duration, metrics_histogram(r, "kubeproxy_network_programming_duration_seconds", l,
						       A "In Cluster Network Programming Latency in seconds", np_b,
						       sizeof(np_b) / sizeof(np_b[0])));
	PER_FAMILY(nft_sync_failures, metrics_counter(r, "kubeproxy_sync_proxy_rules_nftables_sync_failures_total", l,
						      A "Cumulative proxy nftables sync failures"));
	PER_FAMILY(ct_duration, metrics_histogram(r, "kubeproxy_conntrack_reconciler_sync_duration_seconds", l,
						  A "ReconcileConntrackFlowsLatency latency in seconds", sync_b, 15));
	PER_FAMILY(ct_deleted, metrics_counter(r, "kubeproxy_conntrack_reconciler_deleted_entries_total", l,
					       A "Cumulative conntrack flows deleted by conntrack reconciler"));
	for (int f = 0; f < 2; f++) {
		char li[64], le[64];

		if (!m->family[f])
			continue;
		snprintf(li, sizeof(li), "traffic_policy=\"internal\",%s", fam_label[f]);
		snprintf(le, sizeof(le), "traffic_policy=\"external\",%s", fam_label[f]);
		ok = ok && (m->no_local_internal[f] = metrics_gauge(r, "kubeproxy_sync_proxy_rules_no_local_endpoints_total",
								       li, A "Number of services with a Local traffic policy and no endpoints"));
		ok = ok && (m->no_local_external[f] = metrics_gauge(r, "kubeproxy_sync_proxy_rules_no_local_endpoints_total",
								       le, A "Number of services with a Local traffic policy and no endpoints"));
	}
#undef PER_FAMILY
	ok = ok && (m->endpoint_changes_pending = metrics_gauge(r, "kubeproxy_sync_proxy_rules_endpoint_changes_pending",
							      NULL, A "Pending proxy rules Endpoint changes"));
	ok = ok && (m->endpoint_changes_total = metrics_counter(r, "kubeproxy_sync_proxy_rules_endpoint_changes_total", NULL,
							      A "Cumulative proxy rules Endpoint changes"));
	ok = ok && (m->service_changes_pending = metrics_gauge(r, "kubeproxy_sync_proxy_rules_service_changes_pending", NULL,
							     A "Pending proxy rules Service changes"));
	ok = ok && (m->service_changes_total = metrics_counter(r, "kubeproxy_sync_proxy_rules_service_changes_total", NULL,
							     A "Cumulative proxy rules Service changes"));
	ok = ok && (m->healthz[0] = metrics_counter(r, "kubeproxy_proxy_healthz_total", "code=\"200\"",
						  A "Cumulative proxy healthz HTTP status"));
	ok = ok && (m->healthz[1] = metrics_counter(r, "kubeproxy_proxy_healthz_total", "code=\"503\"",
						  A "Cumulative proxy healthz HTTP status"));
	ok = ok && (m->livez[0] = metrics_counter(r, "kubeproxy_proxy_livez_total", "code=\"200\"",
						A "Cumulative proxy livez HTTP status"));
	ok = ok && (m->livez[1] = metrics_counter(r, "kubeproxy_proxy_livez_total", "code=\"503\"",
						A "Cumulative proxy livez HTTP status"));
	ok = ok && (m->nft_objects = metrics_gauge(r, "ferry_nft_objects", NULL,
						 "Rules and set/map elements in ferry's nftables tables after the last sync"));
	ok = ok && (m->nft_batch_messages = metrics_histogram(r, "ferry_nft_batch_messages", NULL,
							    "Netlink messages per nftables sync batch", batch_b, 10));
	ok = ok && (m->nft_sync_errors = metrics_counter(r, "ferry_nft_sync_errors_total", NULL,
						       "nftables syncs the kernel refused or that failed"));
	/* kube-proxy's registry carries the process collector too */
	ok = ok && metrics_add_process(r) == 0;
	if (!ok) {
		kp_metrics_free(m);
		return -ENOMEM;
	}
	return 0;
}

void kp_metrics_free(struct kp_metrics *m)
{
	metrics_free(m->reg);
	memset(m, 0, sizeof(*m));
}

void kp_metrics_proxy_mode(void *arg, const struct httpd_req *req, struct httpd_resp *r)
{
	r->content_type = "text/plain; charset=utf-8";
	snprintf(r->headers, sizeof(r->headers), "X-Content-Type-Options: nosniff\r\n");
	httpd_printf(r, "nftables");
}

/* the apiserver healthz handler with only its ping check */
static void ping(void *arg, const struct httpd_req *req, struct httpd_resp *r)
{
	r->content_type = "text/plain; charset=utf-8";
	snprintf(r->headers, sizeof(r->headers), "X-Content-Type-Options: nosniff\r\n");
	httpd_printf(r, "ok");
}

int kp_metrics_serve(struct kp_metrics *m, struct httpd *h)
{
	int rc;

	if ((rc = httpd_route(h, "/metrics", metrics_http, m->reg)) < 0 ||
	    (rc = httpd_route(h, "/proxyMode", kp_metrics_proxy_mode, NULL)) < 0 ||
	    (rc = httpd_route(h, "/healthz", ping, NULL)) < 0)
		return rc;
	return 0;
}

void kp_metrics_bind_health(struct kp_metrics *m, struct hc_health *h)
{
	h->counters[0][0] = m->healthz[0];
	h->counters[0][1] = m->healthz[1];
	h->counters[1][0] = m->livez[0];
	h->counters[1][1] = m->livez[1];
}

static double wall_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

void kp_metrics_queued(struct kp_metrics *m, uint32_t svc, uint32_t eps)
{
	double now = wall_now();

	metric_add(m->service_changes_total, svc);
	metric_add(m->endpoint_changes_total, eps);
	metric_set(m->service_changes_pending, metric_value(m->service_changes_pending) + svc);
	metric_set(m->endpoint_changes_pending, metric_value(m->endpoint_changes_pending) + eps);
	for (int f = 0; f < 2; f++)
		metric_set(m->last_queued_timestamp[f], now);
}

void kp_metrics_synced(struct kp_metrics *m, const struct kp_sync_result *r)
{
	double now = wall_now();

	for (int f = 0; f < 2; f++) {
		if (!m->family[f])
			continue;
		metric_observe(m->sync_duration[f], r->seconds);
		metric_observe(r->full ? m->sync_full_duration[f] : m->sync_partial_duration[f], r->seconds);
		if (!r->ok) {
			metric_inc(m->nft_sync_failures[f]);
			continue;
		}
		metric_set(m->last_timestamp[f], now);
		metric_set(m->no_local_internal[f], r->no_local_internal[f]);
		metric_set(m->no_local_external[f], r->no_local_external[f]);
	}
	if (!r->ok) {
		metric_inc(m->nft_sync_errors);
		return;
	}
	metric_set(m->service_changes_pending, 0);
	metric_set(m->endpoint_changes_pending, 0);
	metric_observe(m->nft_batch_messages, r->messages);
	metric_set(m->nft_objects, (double)r->objects);
}

void kp_metrics_conntrack(struct kp_metrics *m, int family, double seconds, uint32_t deleted)
{
	int f = family == AF_INET6 ? 1 : 0;

	metric_observe(m->ct_duration[f], seconds);
	metric_add(m->ct_deleted[f], deleted);
}

static int digits(const char **p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++, (*p)++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		v = v * 10 + (**p - '0');
	}
	return v;
}

int kp_parse_rfc3339(const char *s, struct timespec *out)
{
	struct tm tm = { 0 };
	const char *p = s;
	long nsec = 0;
	int y, mo, d, h, mi, sec, off = 0;

	if (!s)
		return -EINVAL;
	y = digits(&p, 4);
	if (y < 0 || *p++ != '-' || (mo = digits(&p, 2)) < 1 || mo > 12 || *p++ != '-' ||
	    (d = digits(&p, 2)) < 1 || d > 31 || (*p != 'T' && *p != 't') || !*p++ ||
	    (h = digits(&p, 2)) < 0 || h > 23 || *p++ != ':' || (mi = digits(&p, 2)) < 0 || mi > 59 ||
	    *p++ != ':' || (sec = digits(&p, 2)) < 0 || sec > 60)
		return -EINVAL;
	if (*p == '.') {
		int nd = 0;

		for (p++; isdigit((unsigned char)*p); p++, nd++)
			if (nd < 9)
				nsec = nsec * 10 + (*p - '0');
		if (!nd)
			return -EINVAL;
		for (; nd < 9; nd++)
			nsec *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;

		if ((oh = digits(&p, 2)) < 0 || oh > 23 || *p++ != ':' || (om = digits(&p, 2)) < 0 || om > 59)
			return -EINVAL;
		off = sign * (oh * 3600 + om * 60);
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	out->tv_sec = timegm(&tm) - off;
	out->tv_nsec = nsec;
	return 0;
}

int kp_metrics_netprog(struct kp_metrics *m, int family, const char *trigger, struct timespec now)
{
	struct timespec t;
	double d;

	if (kp_parse_rfc3339(trigger, &t) < 0) {
		if (trigger)
			log_v(2, "metrics", "bad last-change-trigger-time", "value=%s", log_q(trigger));
		return -EINVAL;
	}
	d = (now.tv_sec - t.tv_sec) + (now.tv_nsec - t.tv_nsec) / 1e9;
	/* clock skew between the control plane and this node can make it negative */
	metric_observe(m->netprog_duration[family == AF_INET6 ? 1 : 0], d < 0 ? 0 : d);
	return 0;
}
