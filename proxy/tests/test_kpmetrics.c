/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/httpd.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/test.h"
#include "core/tests/http_get.h"
#include "proxy/healthcheck.h"
#include "proxy/kpmetrics.h"

#include <errno.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static int count_lines(const char *t, const char *prefix)
{
	int n = 0;

	for (const char *p = t; (p = strstr(p, prefix)); p++)
		if (p == t || p[-1] == '\n')
			n++;
	return n;
}

#define HAS(t, s) CHECK(strstr((t), (s)) != NULL)

static struct loop *L;

static int get(int port, const char *path, char *out, size_t len)
{
	return test_http_get(L, port, path, out, len);
}

static void test_serve(void)
{
	struct kp_metrics m;
	int err = 0;
	struct httpd *h;
	static char resp[1 << 17];

	L = loop_new();
	h = httpd_new(L, "127.0.0.1:0", &err);
	CHECK(h != NULL);
	CHECK_EQ_INT(kp_metrics_init(&m), 0);
	CHECK_EQ_INT(kp_metrics_serve(&m, h), 0);
	CHECK_EQ_INT(get(httpd_port(h), "/proxyMode", resp, sizeof(resp)), 200);
	CHECK(strstr(resp, "\r\n\r\nnftables") != NULL);
	CHECK(strstr(resp, "X-Content-Type-Options: nosniff\r\n") != NULL);
	CHECK_EQ_INT(get(httpd_port(h), "/healthz", resp, sizeof(resp)), 200);
	CHECK(strstr(resp, "\r\n\r\nok") != NULL);
	CHECK_EQ_INT(get(httpd_port(h), "/metrics", resp, sizeof(resp)), 200);
	CHECK(strstr(resp, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n") != NULL);
	CHECK(strstr(resp, "\n# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram\n") != NULL);
	httpd_free(h);
	kp_metrics_free(&m);
	loop_free(L);
}

static void test_single_stack(void)
{
	struct kp_metrics m;
	char *t;

	CHECK_EQ_INT(kp_metrics_init_families(&m, true, false), 0);
	t = metrics_text(m.reg);
	CHECK(strstr(t, "IPv6") == NULL);
	HAS(t, "\nkubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv4\"} 0\n");
	free(t);
	kp_metrics_free(&m);
}

int main(void)
{
	struct kp_metrics m;
	struct timespec ts, now;
	char *t;

	CHECK_EQ_INT(kp_metrics_init(&m), 0);
	kp_metrics_queued(&m, 2, 5);
	kp_metrics_queued(&m, 0, 1);
	t = metrics_text(m.reg);
	HAS(t, "\nkubeproxy_sync_proxy_rules_service_changes_total 2\n");
	HAS(t, "\nkubeproxy_sync_proxy_rules_endpoint_changes_total 6\n");
	HAS(t, "\nkubeproxy_sync_proxy_rules_endpoint_changes_pending 6\n");
	HAS(t, "# HELP kubeproxy_sync_proxy_rules_duration_seconds [ALPHA] SyncProxyRules latency in seconds\n"
	       "# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram\n"
	       "kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family=\"IPv4\",le=\"0.001\"} 0\n");
	/* ExponentialBuckets(0.001, 2, 15): last is 16.384 */
	HAS(t, "kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family=\"IPv6\",le=\"16.384\"} 0\n"
	       "kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family=\"IPv6\",le=\"+Inf\"} 0\n");
	CHECK_EQ_INT(count_lines(t, "kubeproxy_sync_proxy_rules_duration_seconds_bucket"), 32);
	CHECK_EQ_INT(count_lines(t, "# HELP kubeproxy_sync_proxy_rules_duration_seconds "), 1);
	/* network programming: 0, 0.25, 0.5, 1..59, 60..115, 120..300, +Inf per family */
	CHECK_EQ_INT(count_lines(t, "kubeproxy_network_programming_duration_seconds_bucket"), 164);
	HAS(t, "kubeproxy_network_programming_duration_seconds_bucket{ip_family=\"IPv4\",le=\"0\"} 0\n"
	       "kubeproxy_network_programming_duration_seconds_bucket{ip_family=\"IPv4\",le=\"0.25\"} 0\n"
	       "kubeproxy_network_programming_duration_seconds_bucket{ip_family=\"IPv4\",le=\"0.5\"} 0\n"
	       "kubeproxy_network_programming_duration_seconds_bucket{ip_family=\"IPv4\",le=\"1\"} 0\n");
	HAS(t, "le=\"59\"} 0\nkubeproxy_network_programming_duration_seconds_bucket{ip_family=\"IPv4\",le=\"60\"}");
	HAS(t, "le=\"115\"} 0\nkubeproxy_network_programming_duration_seconds_bucket{ip_family=\"IPv4\",le=\"120\"}");
	HAS(t, "le=\"300\"} 0\nkubeproxy_network_programming_duration_seconds_bucket{ip_family=\"IPv4\",le=\"+Inf\"}");
	HAS(t, "\nkubeproxy_sync_proxy_rules_no_local_endpoints_total{traffic_policy=\"internal\",ip_family=\"IPv4\"} 0\n"
	       "kubeproxy_sync_proxy_rules_no_local_endpoints_total{traffic_policy=\"external\",ip_family=\"IPv4\"} 0\n");
	HAS(t, "\nkubeproxy_sync_proxy_rules_nftables_sync_failures_total{ip_family=\"IPv6\"} 0\n");
	HAS(t, "\n# TYPE ferry_nft_objects gauge\n");
	HAS(t, "\n# TYPE ferry_nft_batch_messages histogram\n");
	HAS(t, "\nferry_nft_sync_errors_total 0\n");
	HAS(t, "\nkubeproxy_proxy_healthz_total{code=\"503\"} 0\n");
	HAS(t, "\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes ");
	free(t);

	struct kp_sync_result bad = { .ok = false, .full = true, .seconds = 0.003 };
	struct kp_sync_result good = { .ok = true, .full = false, .seconds = 0.0005, .messages = 7,
				       .objects = 1234567, .no_local_external = { 3, 1 } };
	kp_metrics_synced(&m, &bad);
	kp_metrics_synced(&m, &good);
	t = metrics_text(m.reg);
	HAS(t, "\nferry_nft_sync_errors_total 1\n");
	HAS(t, "\nkubeproxy_sync_proxy_rules_nftables_sync_failures_total{ip_family=\"IPv4\"} 1\n");
	HAS(t, "\nkubeproxy_sync_proxy_rules_duration_seconds_count{ip_family=\"IPv4\"} 2\n");
	HAS(t, "\nkubeproxy_sync_proxy_rules_duration_seconds_count{ip_family=\"IPv6\"} 2\n");
	HAS(t, "\nkubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family=\"IPv4\",le=\"0.001\"} 1\n");
	HAS(t, "\nkubeproxy_sync_full_proxy_rules_duration_seconds_count{ip_family=\"IPv4\"} 1\n");
	HAS(t, "\nkubeproxy_sync_partial_proxy_rules_duration_seconds_count{ip_family=\"IPv6\"} 1\n");
	HAS(t, "\nkubeproxy_sync_proxy_rules_endpoint_changes_pending 0\n");
	HAS(t, "\nkubeproxy_sync_proxy_rules_endpoint_changes_total 6\n");
	HAS(t, "\nkubeproxy_sync_proxy_rules_no_local_endpoints_total{traffic_policy=\"external\",ip_family=\"IPv4\"} 3\n");
	HAS(t, "\nkubeproxy_sync_proxy_rules_no_local_endpoints_total{traffic_policy=\"external\",ip_family=\"IPv6\"} 1\n");
	HAS(t, "\nferry_nft_objects 1.234567e+06\n");
	HAS(t, "\nferry_nft_batch_messages_bucket{le=\"16\"} 1\n");
	CHECK(strstr(t, "\nkubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv4\"} 0\n") == NULL);
	HAS(t, "\nkubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv4\"} 1.");
	free(t);

	/* RFC 3339 as the endpoints controller writes it */
	CHECK_EQ_INT(kp_parse_rfc3339("2026-11-26T13:50:01Z", &ts), 0);
	CHECK_EQ_INT(ts.tv_sec, 1795701001);
	CHECK_EQ_INT(ts.tv_nsec, 0);
	CHECK_EQ_INT(kp_parse_rfc3339("2026-11-26T15:50:01.25+02:00", &ts), 0);
	CHECK_EQ_INT(ts.tv_sec, 1795701001);
	CHECK_EQ_INT(ts.tv_nsec, 250000000);
	CHECK_EQ_INT(kp_parse_rfc3339("2026-11-26T13:50:01.1234567891Z", &ts), 0);
	CHECK_EQ_INT(ts.tv_nsec, 123456789);
	static const char *const bads[] = { "", "2026-11-26", "2026-11-26T13:50:01", "2026-13-26T13:50:01Z",
					    "2026-11-26T13:50:01.Z", "2026-11-26T13:50:01Zx", "x026-11-26T13:50:01Z",
					    "2026-11-26T13:50:01+0200" };
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++)
		CHECK_EQ_INT(kp_parse_rfc3339(bads[i], &ts), -EINVAL);

	now.tv_sec = 1795701001 + 2;
	now.tv_nsec = 100000000;
	CHECK_EQ_INT(kp_metrics_netprog(&m, AF_INET6, "2026-11-26T13:50:01Z", now), 0);
	CHECK_EQ_INT(kp_metrics_netprog(&m, AF_INET, NULL, now), -EINVAL);
	CHECK_EQ_INT(kp_metrics_netprog(&m, AF_INET, "yesterday", now), -EINVAL);
	t = metrics_text(m.reg);
	HAS(t, "\nkubeproxy_network_programming_duration_seconds_bucket{ip_family=\"IPv6\",le=\"2\"} 0\n"
	       "kubeproxy_network_programming_duration_seconds_bucket{ip_family=\"IPv6\",le=\"3\"} 1\n");
	HAS(t, "\nkubeproxy_network_programming_duration_seconds_sum{ip_family=\"IPv6\"} 2.1\n");
	HAS(t, "\nkubeproxy_network_programming_duration_seconds_count{ip_family=\"IPv4\"} 0\n");
	free(t);

	kp_metrics_conntrack(&m, AF_INET6, 0.002, 3);
	t = metrics_text(m.reg);
	HAS(t, "\nkubeproxy_conntrack_reconciler_deleted_entries_total{ip_family=\"IPv6\"} 3\n");
	HAS(t, "\nkubeproxy_conntrack_reconciler_deleted_entries_total{ip_family=\"IPv4\"} 0\n");
	HAS(t, "\nkubeproxy_conntrack_reconciler_sync_duration_seconds_bucket{ip_family=\"IPv6\",le=\"0.002\"} 1\n");
	free(t);

	/* /healthz answers are counted by code */
	struct hc_health h;
	struct httpd_resp r = { .status = 200 };

	hc_health_init(&h, 1000);
	kp_metrics_bind_health(&m, &h);
	hc_health_node_eligible(&h, false);
	hc_health_body(&h, true, now, 0, &r);	/* node being deleted: 503 */
	free(r.body);
	r = (struct httpd_resp){ .status = 200 };
	hc_health_body(&h, false, now, 0, &r);
	free(r.body);
	t = metrics_text(m.reg);
	HAS(t, "\nkubeproxy_proxy_healthz_total{code=\"200\"} 0\nkubeproxy_proxy_healthz_total{code=\"503\"} 1\n");
	HAS(t, "\nkubeproxy_proxy_livez_total{code=\"200\"} 1\nkubeproxy_proxy_livez_total{code=\"503\"} 0\n");
	free(t);
	kp_metrics_free(&m);

	test_single_stack();
	test_serve();
	return test_done("proxy_kpmetrics");
}
