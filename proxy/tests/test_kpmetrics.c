/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/metrics.h"
#include "core/test.h"
#include "proxy/kpmetrics.h"

#include <errno.h>
#include <stdlib.h>

static int count_lines(const char *t, const char *prefix)
{
	int n = 0;

	for (const char *p = t; (p = strstr(p, prefix)); p++)
		if (p == t || p[-1] == '\n')
			n++;
	return n;
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
	CHECK(strstr(t, "\nkubeproxy_sync_proxy_rules_service_changes_total 2\n") != NULL);
	CHECK(strstr(t, "\nkubeproxy_sync_proxy_rules_endpoint_changes_total 6\n") != NULL);
	CHECK(strstr(t, "\nkubeproxy_sync_proxy_rules_endpoint_changes_pending 6\n") != NULL);
	CHECK(strstr(t, "# HELP kubeproxy_sync_proxy_rules_duration_seconds [ALPHA] SyncProxyRules latency in seconds\n"
		     "# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram\n"
		     "kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"0.001\"} 0\n") != NULL);
	/* ExponentialBuckets(0.001, 2, 15): last is 16.384 */
	CHECK(strstr(t, "kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"16.384\"} 0\n"
		     "kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"+Inf\"} 0\n") != NULL);
	CHECK_EQ_INT(count_lines(t, "kubeproxy_sync_proxy_rules_duration_seconds_bucket"), 16);
	/* network programming: 0, 0.25, 0.5, 1..59, 60..115, 120..300, +Inf */
	CHECK_EQ_INT(count_lines(t, "kubeproxy_network_programming_duration_seconds_bucket"), 82);
	CHECK(strstr(t, "kubeproxy_network_programming_duration_seconds_bucket{le=\"0\"} 0\n"
		     "kubeproxy_network_programming_duration_seconds_bucket{le=\"0.25\"} 0\n"
		     "kubeproxy_network_programming_duration_seconds_bucket{le=\"0.5\"} 0\n"
		     "kubeproxy_network_programming_duration_seconds_bucket{le=\"1\"} 0\n") != NULL);
	CHECK(strstr(t, "{le=\"59\"} 0\nkubeproxy_network_programming_duration_seconds_bucket{le=\"60\"}") != NULL);
	CHECK(strstr(t, "{le=\"115\"} 0\nkubeproxy_network_programming_duration_seconds_bucket{le=\"120\"}") != NULL);
	CHECK(strstr(t, "{le=\"300\"} 0\nkubeproxy_network_programming_duration_seconds_bucket{le=\"+Inf\"}") != NULL);
	CHECK(strstr(t, "\n# TYPE ferry_nft_objects gauge\n") != NULL);
	CHECK(strstr(t, "\n# TYPE ferry_nft_batch_messages histogram\n") != NULL);
	CHECK(strstr(t, "\nferry_nft_sync_errors_total 0\n") != NULL);
	CHECK(strstr(t, "\nkubeproxy_proxy_healthz_total{code=\"503\"} 0\n") != NULL);
	free(t);

	struct kp_sync_result bad = { .ok = false, .full = true, .seconds = 0.003 };
	struct kp_sync_result good = { .ok = true, .full = false, .seconds = 0.0005, .messages = 7, .objects = 1234567 };
	kp_metrics_synced(&m, &bad);
	kp_metrics_synced(&m, &good);
	t = metrics_text(m.reg);
	CHECK(strstr(t, "\nferry_nft_sync_errors_total 1\n") != NULL);
	CHECK(strstr(t, "\nkubeproxy_sync_proxy_rules_duration_seconds_count 2\n") != NULL);
	CHECK(strstr(t, "\nkubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"0.001\"} 1\n") != NULL);
	CHECK(strstr(t, "\nkubeproxy_sync_full_proxy_rules_duration_seconds_count 1\n") != NULL);
	CHECK(strstr(t, "\nkubeproxy_sync_partial_proxy_rules_duration_seconds_count 1\n") != NULL);
	CHECK(strstr(t, "\nkubeproxy_sync_proxy_rules_endpoint_changes_pending 0\n") != NULL);
	CHECK(strstr(t, "\nkubeproxy_sync_proxy_rules_endpoint_changes_total 6\n") != NULL);
	CHECK(strstr(t, "\nferry_nft_objects 1.234567e+06\n") != NULL);
	CHECK(strstr(t, "\nferry_nft_batch_messages_bucket{le=\"16\"} 1\n") != NULL);
	CHECK(strstr(t, "\nkubeproxy_sync_proxy_rules_last_timestamp_seconds 0\n") == NULL);
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
	CHECK_EQ_INT(kp_metrics_netprog(&m, "2026-11-26T13:50:01Z", now), 0);
	CHECK_EQ_INT(kp_metrics_netprog(&m, NULL, now), -EINVAL);
	CHECK_EQ_INT(kp_metrics_netprog(&m, "yesterday", now), -EINVAL);
	t = metrics_text(m.reg);
	CHECK(strstr(t, "\nkubeproxy_network_programming_duration_seconds_bucket{le=\"2\"} 0\n"
		     "kubeproxy_network_programming_duration_seconds_bucket{le=\"3\"} 1\n") != NULL);
	CHECK(strstr(t, "\nkubeproxy_network_programming_duration_seconds_sum 2.1\n") != NULL);
	free(t);
	kp_metrics_free(&m);
	return test_done("proxy_kpmetrics");
}
