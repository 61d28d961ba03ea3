/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The proxier's health and kube-proxy's health-check bodies, in memory (the
 * listeners are src/tests/test_hcserver.c's). */
#include "core/httpd.h"
#include "core/test.h"
#include "proxy/healthcheck.h"
#include "nft/model.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void test_body(void)
{
	char *b = hc_service_body("default", "web", 2, true);

	CHECK_EQ_STR(b, "{\n\t\"service\": {\n\t\t\"namespace\": \"default\",\n\t\t\"name\": \"web\"\n\t},\n"
		     "\t\"localEndpoints\": 2,\n\t\"serviceProxyHealthy\": true\n}");
	free(b);
	b = hc_service_body("a\"b", "c\\d", 0, false);
	CHECK(strstr(b, "\"namespace\": \"a\\\"b\"") != NULL);
	CHECK(strstr(b, "\"name\": \"c\\\\d\"") != NULL);
	CHECK(strstr(b, "\"serviceProxyHealthy\": false\n}") != NULL);
	free(b);
}

static void test_rfc3339(void)
{
	char buf[64];
	struct timespec t = { 1764165001, 123456789 };

	hc_rfc3339nano(buf, sizeof(buf), t);
	CHECK_EQ_STR(buf, "2025-11-26T13:50:01.123456789Z");
	t.tv_nsec = 500000000;
	hc_rfc3339nano(buf, sizeof(buf), t);
	CHECK_EQ_STR(buf, "2025-11-26T13:50:01.5Z");
	t.tv_nsec = 0;
	hc_rfc3339nano(buf, sizeof(buf), t);
	CHECK_EQ_STR(buf, "2025-11-26T13:50:01Z");
	hc_rfc3339nano(buf, sizeof(buf), (struct timespec){ 0, 0 });
	CHECK_EQ_STR(buf, "0001-01-01T00:00:00Z");
}

static bool api_ok;

static bool api_extra(void *arg, struct httpd_resp *r)
{
	bool ok = *(bool *)arg;

	httpd_printf(r, ",\"apiReachable\":%s", ok ? "true" : "false");
	return ok;
}

/* kube-proxy v1.37's bodies, byte for byte, at fixed clocks */
static void test_health_bodies(void)
{
	struct hc_health h;
	struct timespec now = { 1764165001, 250000000 };
	struct httpd_resp r = { .status = 200 };

	hc_health_init(&h, 60000);
	/* starting up, nothing synced: healthy */
	hc_health_body(&h, true, now, 1000, &r);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.content_type, "application/json");
	CHECK_EQ_STR(r.headers, "X-Content-Type-Options: nosniff\r\n");
	CHECK_EQ_STR(r.body, "{\"lastUpdated\":\"2025-11-26T13:50:01.25Z\",\"currentTime\":\"2025-11-26T13:50:01.25Z\","
		     "\"nodeEligible\":true,\"healthy\":true}");
	free(r.body);
	/* a node being deleted, nothing synced: Go's zero time */
	hc_health_node_eligible(&h, false);
	r = (struct httpd_resp){ .status = 200 };
	hc_health_body(&h, true, now, 1000, &r);
	CHECK_EQ_INT(r.status, 503);
	CHECK_EQ_STR(r.body, "{\"lastUpdated\":\"0001-01-01T00:00:00Z\",\"currentTime\":\"2025-11-26T13:50:01.25Z\","
		     "\"nodeEligible\":false,\"healthy\":true}");
	free(r.body);
	r = (struct httpd_resp){ .status = 200 };
	hc_health_body(&h, false, now, 1000, &r);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.body, "{\"lastUpdated\":\"2025-11-26T13:50:01.25Z\",\"currentTime\":\"2025-11-26T13:50:01.25Z\","
		     "\"healthy\":true}");
	free(r.body);

	/* synced IPv4 and IPv6, node eligible */
	hc_health_node_eligible(&h, true);
	h.updated[0] = h.updated[1] = true;
	h.last_updated[0] = (struct timespec){ 1764165000, 0 };
	h.last_updated[1] = (struct timespec){ 1764164999, 100 };
	r = (struct httpd_resp){ .status = 200 };
	hc_health_body(&h, true, now, 1000, &r);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.body, "{\"lastUpdated\":\"2025-11-26T13:50:01.25Z\",\"currentTime\":\"2025-11-26T13:50:01.25Z\","
		     "\"nodeEligible\":true,\"healthy\":true,\"status\":{"
		     "\"IPv4\":{\"lastUpdated\":\"2025-11-26T13:50:00Z\",\"healthy\":true},"
		     "\"IPv6\":{\"lastUpdated\":\"2025-11-26T13:49:59.0000001Z\",\"healthy\":true}}}");
	free(r.body);

	/* IPv6 has had an update pending for the whole timeout */
	h.queued[1] = true;
	h.queued_ms[1] = 1000;
	r = (struct httpd_resp){ .status = 200 };
	hc_health_body(&h, false, now, 1000 + 59999, &r);
	CHECK_EQ_INT(r.status, 200);
	free(r.body);
	r = (struct httpd_resp){ .status = 200 };
	hc_health_body(&h, false, now, 1000 + 60000, &r);
	CHECK_EQ_INT(r.status, 503);
	CHECK_EQ_STR(r.body, "{\"lastUpdated\":\"2025-11-26T13:50:00Z\",\"currentTime\":\"2025-11-26T13:50:01.25Z\","
		     "\"healthy\":false,\"status\":{"
		     "\"IPv4\":{\"lastUpdated\":\"2025-11-26T13:50:00Z\",\"healthy\":true},"
		     "\"IPv6\":{\"lastUpdated\":\"2025-11-26T13:49:59.0000001Z\",\"healthy\":false}}}");
	free(r.body);

	/* the agent's own conditions: extra fields, and they can fail it */
	hc_health_node_eligible(&h, true);
	h.extra = api_extra;
	h.extra_arg = &api_ok;
	api_ok = true;
	r = (struct httpd_resp){ .status = 200 };
	hc_health_body(&h, true, now, 1000, &r);
	CHECK_EQ_INT(r.status, 200);
	CHECK(strstr(r.body, "\"healthy\":true,\"status\":{") != NULL);
	CHECK(strstr(r.body, "}},\"apiReachable\":true}") != NULL);
	free(r.body);
	api_ok = false;
	r = (struct httpd_resp){ .status = 200 };
	hc_health_body(&h, true, now, 1000, &r);
	CHECK_EQ_INT(r.status, 503);
	CHECK(strstr(r.body, "\"healthy\":false,\"status\":{") != NULL);
	CHECK(strstr(r.body, "}},\"apiReachable\":false}") != NULL);
	free(r.body);
	/* not on /livez */
	r = (struct httpd_resp){ .status = 200 };
	hc_health_body(&h, false, now, 1000, &r);
	CHECK_EQ_INT(r.status, 200);
	CHECK(strstr(r.body, "apiReachable") == NULL);
	free(r.body);
	h.extra = NULL;

	/* a node being deleted: /healthz fails, "healthy" stays the proxy's */
	h.queued[1] = false;
	hc_health_node_eligible(&h, false);
	r = (struct httpd_resp){ .status = 200 };
	hc_health_body(&h, true, now, 1000, &r);
	CHECK_EQ_INT(r.status, 503);
	CHECK(strstr(r.body, "\"lastUpdated\":\"2025-11-26T13:50:00Z\",") == r.body + 1);
	CHECK(strstr(r.body, "\"nodeEligible\":false,\"healthy\":true,") != NULL);
	free(r.body);
}

/* Health-check ports listen where NodePorts are served, per family. */
static int binds(const char *const *cidrs, size_t n, size_t *out)
{
	static const char *const local_s[] = { "127.0.0.1", "192.0.2.11", "198.51.100.7", "::1",
						"2001:db8::11" };
	struct faddr local[5];
	struct fnode nd = { 0 };
	int r;

	for (size_t i = 0; i < 5; i++)
		faddr_parse(&local[i], local_s[i]);
	for (size_t i = 0; i < n; i++) {
		struct faddr c;

		CHECK_EQ_INT(faddr_parse(&c, cidrs[i]), 0);
		fsvc_add_addr(&nd.nodeport_cidrs, &nd.n_nodeport_cidrs, &c);
	}
	r = hc_bind_addrs(&nd, local, 5, out);
	fnode_free(&nd);
	return r;
}

static void test_bind_addrs(void)
{
	size_t out[5];

	CHECK_EQ_INT(binds(NULL, 0, out), -1);
	CHECK_EQ_INT(binds((const char *[]){ "0.0.0.0/0", "::/0" }, 2, out), -1);
	/* primary on a single-stack node: its IP, and every IPv6 address */
	CHECK_EQ_INT(binds((const char *[]){ "192.0.2.11", "::/0" }, 2, out), 3);
	CHECK(out[0] == 1 && out[1] == 3 && out[2] == 4);
	CHECK_EQ_INT(binds((const char *[]){ "198.51.100.0/24", "2001:db8::11" }, 2, out), 2);
	CHECK(out[0] == 2 && out[1] == 4);
	/* the Node unknown: NodePorts wait, so do the health-check ports */
	CHECK_EQ_INT(binds((const char *[]){ "0.0.0.0/32", "::/128" }, 2, out), 0);
}

int main(void)
{
	test_bind_addrs();
	test_body();
	test_rfc3339();
	test_health_bodies();
	return test_done("proxy_healthcheck");
}
