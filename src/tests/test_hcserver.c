/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Health-check node ports and /healthz over real sockets on 127.0.0.1. */
#include "core/httpd.h"
#include "core/loop.h"
#include "core/test.h"
#include "core/tests/http_get.h"
#include "src/hcserver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct loop *L;

static int get(int port, const char *path, char *out, size_t len)
{
	return test_http_get(L, port, path, out, len);
}

static const char *body(const char *resp)
{
	const char *b = strstr(resp, "\r\n\r\n");

	return b ? b + 4 : "";
}

static void test_ports(void)
{
	const char *binds[] = { "127.0.0.1" };
	struct hc_health health;
	struct hc_servers *s;
	char resp[4096];
	int pa, pb, pa2;

	hc_health_init(&health, 60000);
	s = hc_new(L, binds, 1, &health);
	struct hc_want w[] = {
		{ "default", "web", 0, 2 },
		{ "ns2", "dns", 0, 0 },
		{ "default", "web", 0, 7 },	/* duplicate: first wins */
	};
	CHECK_EQ_INT(hc_sync(s, w, 3), 0);
	CHECK_EQ_INT(hc_count(s), 2);
	pa = hc_port(s, "default", "web");
	pb = hc_port(s, "ns2", "dns");
	CHECK(pa > 0 && pb > 0 && pa != pb);

	CHECK_EQ_INT(get(pa, "/healthz", resp, sizeof(resp)), 200);
	CHECK(strstr(resp, "Content-Type: application/json\r\n") != NULL);
	CHECK(strstr(resp, "X-Content-Type-Options: nosniff\r\n") != NULL);
	CHECK(strstr(resp, "X-Load-Balancing-Endpoint-Weight: 2\r\n") != NULL);
	CHECK_EQ_STR(body(resp), "{\n\t\"service\": {\n\t\t\"namespace\": \"default\",\n\t\t\"name\": \"web\"\n\t},\n"
		     "\t\"localEndpoints\": 2,\n\t\"serviceProxyHealthy\": true\n}");
	/* any path: load balancers probe "/", "/healthz", ... */
	CHECK_EQ_INT(get(pa, "/", resp, sizeof(resp)), 200);
	CHECK_EQ_INT(get(pb, "/x", resp, sizeof(resp)), 503);
	CHECK(strstr(resp, "X-Load-Balancing-Endpoint-Weight: 0\r\n") != NULL);
	CHECK(strstr(body(resp), "\"localEndpoints\": 0,") != NULL);

	/* counts change in place: the same sockets keep serving */
	w[0].local_endpoints = 0;
	w[1].local_endpoints = 3;
	CHECK_EQ_INT(hc_sync(s, w, 2), 0);
	CHECK_EQ_INT(hc_port(s, "default", "web"), pa);
	CHECK_EQ_INT(hc_port(s, "ns2", "dns"), pb);
	CHECK_EQ_INT(get(pa, "/", resp, sizeof(resp)), 503);
	CHECK_EQ_INT(get(pb, "/", resp, sizeof(resp)), 200);
	CHECK(strstr(resp, "X-Load-Balancing-Endpoint-Weight: 3\r\n") != NULL);

	/* an unhealthy proxier fails every service */
	health.timeout_ms = 0;
	hc_health_updated(&health, AF_INET);
	hc_health_queued(&health, AF_INET);
	CHECK_EQ_INT(get(pb, "/", resp, sizeof(resp)), 503);
	CHECK(strstr(body(resp), "\"serviceProxyHealthy\": false") != NULL);
	hc_health_updated(&health, AF_INET);
	CHECK_EQ_INT(get(pb, "/", resp, sizeof(resp)), 200);

	/* removal closes; the rest stays */
	CHECK_EQ_INT(hc_sync(s, &w[1], 1), 0);
	CHECK_EQ_INT(hc_count(s), 1);
	CHECK_EQ_INT(hc_port(s, "default", "web"), -1);
	CHECK_EQ_INT(get(pa, "/", resp, sizeof(resp)), -1);
	CHECK_EQ_INT(hc_port(s, "ns2", "dns"), pb);

	/* a port held by someone else: error, retried on the next sync */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 1) == 0);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	struct hc_want w2[] = { { "ns2", "dns", 0, 3 }, { "default", "web", ntohs(sa.sin_port), 1 } };
	CHECK_EQ_INT(hc_sync(s, w2, 2), -EADDRINUSE);
	CHECK_EQ_INT(hc_count(s), 1);
	close(fd);
	CHECK_EQ_INT(hc_sync(s, w2, 2), 0);
	pa2 = hc_port(s, "default", "web");
	CHECK_EQ_INT(pa2, ntohs(sa.sin_port));
	CHECK_EQ_INT(get(pa2, "/", resp, sizeof(resp)), 200);

	CHECK_EQ_INT(hc_sync(s, NULL, 0), 0);
	CHECK_EQ_INT(hc_count(s), 0);
	hc_free(s);
}

/* two bind addresses, IPv4 and IPv6: both answer on the one port */
static void test_two_binds(void)
{
	const char *binds[] = { "127.0.0.1", "::1" };
	struct hc_servers *s = hc_new(L, binds, 2, NULL);
	struct hc_want w = { "default", "web", 0, 1 };
	char resp[2048];
	int fd, port;
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };
	size_t got = 0;

	fd = socket(AF_INET6, SOCK_STREAM, 0);
	/* port 0 would pick two different ports: take a free one first */
	sa.sin6_addr = in6addr_loopback;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "no IPv6 loopback here; skipping the two-address case\n");
		if (fd >= 0)
			close(fd);
		hc_free(s);
		return;
	}
	socklen_t sl = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	w.port = ntohs(sa.sin6_port);
	close(fd);
	CHECK_EQ_INT(hc_sync(s, &w, 1), 0);
	port = hc_port(s, "default", "web");
	CHECK_EQ_INT(port, w.port);
	CHECK_EQ_INT(get(port, "/", resp, sizeof(resp)), 200);
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	static const char req[] = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";

	CHECK(write(fd, req, sizeof(req) - 1) == (ssize_t)sizeof(req) - 1);
	for (int i = 0; i < 200; i++) {
		ssize_t n;

		loop_run_once(L, 10);
		n = recv(fd, resp + got, sizeof(resp) - 1 - got, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n > 0)
			got += n;
	}
	resp[got] = 0;
	close(fd);
	CHECK(!strncmp(resp, "HTTP/1.1 200 OK\r\n", 17));
	CHECK(strstr(resp, "\"localEndpoints\": 1,") != NULL);
	hc_free(s);
}

/* many services: counts update in place, removals close only theirs */
static void test_many(void)
{
	enum { N = 300 };
	const char *binds[] = { "127.0.0.1" };
	struct hc_servers *s = hc_new(L, binds, 1, NULL);
	static struct hc_want w[N];
	static char names[N][16];
	static int ports[N];
	char resp[2048];
	uint64_t t0;

	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "svc-%d", i);
		w[i] = (struct hc_want){ "ns", names[i], 0, 0 };
	}
	CHECK_EQ_INT(hc_sync(s, w, N), 0);
	CHECK_EQ_INT(hc_count(s), N);
	for (int i = 0; i < N; i++)
		ports[i] = hc_port(s, "ns", names[i]);
	for (int i = 0; i < N; i++)
		w[i].local_endpoints = i;
	t0 = loop_now_us();
	CHECK_EQ_INT(hc_sync(s, w, N), 0);
	fprintf(stderr, "hc_sync of %d unchanged ports: %llu us\n", N, (unsigned long long)(loop_now_us() - t0));
	for (int i = 0; i < N; i++)
		CHECK_EQ_INT(hc_port(s, "ns", names[i]), ports[i]);
	CHECK_EQ_INT(get(ports[N - 1], "/", resp, sizeof(resp)), 200);
	CHECK(strstr(resp, "X-Load-Balancing-Endpoint-Weight: 299\r\n") != NULL);
	/* keep the odd ones */
	for (int i = 0; i < N / 2; i++)
		w[i] = w[2 * i + 1];
	CHECK_EQ_INT(hc_sync(s, w, N / 2), 0);
	CHECK_EQ_INT(hc_count(s), N / 2);
	CHECK_EQ_INT(hc_port(s, "ns", "svc-1"), ports[1]);
	CHECK_EQ_INT(hc_port(s, "ns", "svc-2"), -1);
	hc_free(s);
}

static void test_healthz(void)
{
	struct hc_health h;
	int err = 0;
	struct httpd *d = httpd_new(L, "127.0.0.1:0", &err);
	char resp[4096];

	hc_health_init(&h, 60000);
	httpd_route(d, "/healthz", hc_healthz_http, &h);
	httpd_route(d, "/livez", hc_livez_http, &h);
	/* the node is being deleted */
	hc_health_node_eligible(&h, false);
	CHECK_EQ_INT(get(httpd_port(d), "/healthz", resp, sizeof(resp)), 503);
	CHECK(strstr(resp, "Content-Type: application/json\r\n") != NULL);
	CHECK(strstr(resp, "X-Content-Type-Options: nosniff\r\n") != NULL);
	CHECK(strstr(body(resp), "\"nodeEligible\":false,\"healthy\":true}") != NULL);
	CHECK_EQ_INT(get(httpd_port(d), "/livez", resp, sizeof(resp)), 200);
	hc_health_node_eligible(&h, true);
	CHECK_EQ_INT(get(httpd_port(d), "/healthz", resp, sizeof(resp)), 200);
	CHECK(!strncmp(body(resp), "{\"lastUpdated\":\"20", 18));
	/* an update pending past the timeout */
	hc_health_updated(&h, AF_INET6);
	hc_health_queued(&h, AF_INET6);
	CHECK(hc_health_healthy(&h));
	h.timeout_ms = 0;
	CHECK(!hc_health_healthy(&h));
	CHECK_EQ_INT(get(httpd_port(d), "/livez", resp, sizeof(resp)), 503);
	CHECK(strstr(body(resp), "\"IPv6\":{\"lastUpdated\":\"20") != NULL);
	CHECK_EQ_INT(get(httpd_port(d), "/healthz", resp, sizeof(resp)), 503);
	/* a family never synced does not count */
	hc_health_queued(&h, AF_INET);
	hc_health_updated(&h, AF_INET6);
	CHECK(hc_health_healthy(&h));
	CHECK_EQ_INT(get(httpd_port(d), "/healthz", resp, sizeof(resp)), 200);
	httpd_free(d);
}

static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return ntohs(sa.sin_port);
}

/* the addresses move (nodePortAddresses, the Node's IPs): listeners follow,
 * and with no address nothing listens */
static void test_set_binds(void)
{
	const char *b1[] = { "127.0.0.1" }, *b2[] = { "127.0.0.2" };
	struct hc_servers *s = hc_new(L, b1, 1, NULL);
	struct hc_want w = { "default", "web", 0, 1 };
	char resp[2048];
	int port = free_port();

	CHECK(port > 0);
	w.port = port;
	CHECK_EQ_INT(hc_sync(s, &w, 1), 0);
	CHECK_EQ_INT(get(port, "/", resp, sizeof(resp)), 200);
	CHECK_EQ_INT(hc_set_binds(s, b1, 1, false), 0);	/* the same: nothing moves */
	CHECK_EQ_INT(hc_count(s), 1);
	CHECK_EQ_INT(hc_set_binds(s, b2, 1, false), 0);
	CHECK_EQ_INT(hc_count(s), 0);
	CHECK_EQ_INT(hc_sync(s, &w, 1), 0);
	CHECK_EQ_INT(hc_port(s, "default", "web"), port);
	CHECK(get(port, "/", resp, sizeof(resp)) < 0);	/* 127.0.0.1 no longer */
	CHECK_EQ_INT(hc_set_binds(s, NULL, 0, false), 0);
	CHECK_EQ_INT(hc_sync(s, &w, 1), 0);
	CHECK_EQ_INT(hc_count(s), 1);
	CHECK_EQ_INT(hc_port(s, "default", "web"), -1);	/* served nowhere */
	CHECK_EQ_INT(hc_set_binds(s, NULL, 0, true), 0);
	CHECK_EQ_INT(hc_sync(s, &w, 1), 0);
	CHECK_EQ_INT(get(port, "/", resp, sizeof(resp)), 200);
	hc_free(s);
}

int main(void)
{
	L = loop_new();
	test_ports();
	test_two_binds();
	test_many();
	test_healthz();
	test_set_binds();
	loop_free(L);
	return test_done("src_hcserver");
}
