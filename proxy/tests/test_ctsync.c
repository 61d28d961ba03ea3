/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy_ct_needed/proxy_ct_build on states built in memory, then
 * proxy_ct_sync against real conntrack entries (ctest runs this under
 * `unshare -n`; the addresses and DNAT rules are the test's own).
 */
#include "core/metrics.h"
#include "core/test.h"
#include "nft/model.h"
#include "proxy/ctsync.h"
#include "proxy/kpmetrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static void addr(struct faddr **l, size_t *n, const char *s)
{
	struct faddr a;

	CHECK_EQ_INT(faddr_parse(&a, s), 0);
	CHECK_EQ_INT(fsvc_add_addr(l, n, &a), 0);
}

static void ep(struct fsvc *v, const char *ip, uint16_t port, bool ready, bool serving)
{
	struct fendpoint *e = fsvc_add_ep(v);

	CHECK_EQ_INT(faddr_parse(&e->addr, ip), 0);
	e->port = port;
	e->ready = ready;
	e->serving = serving;
	e->terminating = serving && !ready;
}

/* old: UDP A and D, TCP T; A has a v4 ready endpoint, a v4 one neither
 * ready nor serving, a v6 terminating-but-serving one */
static void build_old(struct fstate *s)
{
	struct fsvc *v;

	fstate_init(s);
	v = fstate_add_svc(s, "ns/a:dns/udp");
	v->proto = IPPROTO_UDP;
	v->port = 53;
	v->node_port = 30053;
	addr(&v->cluster_ips, &v->n_cluster_ips, "203.0.113.10");
	addr(&v->cluster_ips, &v->n_cluster_ips, "2001:db8:0:1::10");
	addr(&v->external_ips, &v->n_external_ips, "203.0.113.11");
	ep(v, "198.51.100.1", 5353, true, true);
	ep(v, "198.51.100.2", 5353, false, false);
	ep(v, "2001:db8::1", 5353, false, true);
	v = fstate_add_svc(s, "ns/d:dns/udp");
	v->proto = IPPROTO_UDP;
	v->port = 53;
	addr(&v->cluster_ips, &v->n_cluster_ips, "203.0.113.20");
	ep(v, "198.51.100.3", 5353, true, true);
	v = fstate_add_svc(s, "ns/t:http/tcp");
	v->proto = IPPROTO_TCP;
	v->port = 80;
	addr(&v->cluster_ips, &v->n_cluster_ips, "203.0.113.10");
	fstate_sort(s);
}

static const struct fsvc *svc(const struct fstate *s, const char *key)
{
	for (size_t i = 0; i < s->n_svcs; i++)
		if (!strcmp(s->svcs[i].key, key))
			return &s->svcs[i];
	return NULL;
}

/* cur = old without D */
static void build_cur(struct fstate *cur, const struct fstate *old)
{
	fstate_init(cur);
	for (size_t i = 0; i < old->n_svcs; i++) {
		if (!strcmp(old->svcs[i].key, "ns/d:dns/udp"))
			continue;
		struct fsvc *v = fstate_add_svc(cur, old->svcs[i].key);

		fsvc_free(v);	/* the fresh entry's key: the copy brings its own */
		CHECK_EQ_INT(fsvc_copy(v, &old->svcs[i]), 0);
	}
	fstate_sort(cur);
}

static void test_needed_and_build(void)
{
	struct fstate old, cur, same;
	struct proxy_ct c;

	build_old(&old);
	build_old(&same);
	CHECK(!proxy_ct_needed(&old, &same));
	CHECK(!proxy_ct_needed(NULL, NULL));
	/* only TCP changed: nothing to do */
	((struct fsvc *)svc(&same, "ns/t:http/tcp"))->port = 8080;
	CHECK(!proxy_ct_needed(&old, &same));
	/* a UDP endpoint changed */
	((struct fsvc *)svc(&same, "ns/a:dns/udp"))->eps[1].ready = true;
	CHECK(proxy_ct_needed(&old, &same));
	CHECK(proxy_ct_needed(NULL, &old));
	CHECK(proxy_ct_needed(&old, NULL));
	build_cur(&cur, &old);
	CHECK_EQ_INT(cur.n_svcs, 2);
	CHECK(proxy_ct_needed(&old, &cur));	/* D went */

	CHECK_EQ_INT(proxy_ct_build(&old, &cur, &c), 0);
	/* IPv4: A's cluster IP, external IP, NodePort; D's cluster IP */
	CHECK_EQ_INT(c.n[0], 4);
	/* IPv6: A's cluster IP and NodePort (its endpoint is serving) */
	CHECK_EQ_INT(c.n[1], 2);
	if (c.n[0] == 4 && c.n[1] == 2) {
		uint8_t a10[4] = { 203, 0, 113, 10 }, a11[4] = { 203, 0, 113, 11 }, a20[4] = { 203, 0, 113, 20 };
		uint8_t e1[4] = { 198, 51, 100, 1 };

		CHECK(!memcmp(c.f[0][0].addr, a10, 4) && c.f[0][0].port == 53 && !c.f[0][0].node_port);
		CHECK(!memcmp(c.f[0][1].addr, a11, 4) && c.f[0][1].port == 53);
		CHECK(c.f[0][2].node_port && c.f[0][2].port == 30053);
		for (int i = 0; i < 3; i++) {
			CHECK_EQ_INT(c.f[0][i].n_serving, 1);
			CHECK(c.f[0][i].serving && !memcmp(c.f[0][i].serving[0].addr, e1, 4) &&
			      c.f[0][i].serving[0].port == 5353);
		}
		CHECK(!memcmp(c.f[0][3].addr, a20, 4) && c.f[0][3].n_serving == 0 && !c.f[0][3].serving);
		CHECK_EQ_INT(c.f[1][0].family, AF_INET6);
		CHECK_EQ_INT(c.f[1][0].n_serving, 1);
		CHECK(c.f[1][1].node_port && c.f[1][1].n_serving == 1);
		CHECK_EQ_INT(c.f[1][1].serving[0].addr[15], 1);
	}
	proxy_ct_free(&c);
	fstate_free(&old);
	fstate_free(&same);
	fstate_free(&cur);
}

static const char *setup =
	"set -e\n"
	"ip link set lo up\n"
	"ip addr add 198.51.100.1/32 dev lo\n"
	"ip addr add 198.51.100.2/32 dev lo\n"
	"ip addr add 198.51.100.3/32 dev lo\n"
	"ip route add 203.0.113.0/24 dev lo\n"
	"nft -f - <<'EOF'\n"
	"table ip ctsync {\n"
	"  chain out {\n"
	"    type nat hook output priority -100;\n"
	"    ip daddr 203.0.113.10 udp dport 53 dnat to 198.51.100.1:5353\n"
	"    ip daddr 203.0.113.11 udp dport 53 dnat to 198.51.100.2:5353\n"
	"    ip daddr 203.0.113.20 udp dport 53 dnat to 198.51.100.3:5353\n"
	"  }\n"
	"}\n"
	"EOF\n";

static void udp_send(const char *dst, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	inet_pton(AF_INET, dst, &sa.sin_addr);
	CHECK(sendto(fd, "x", 1, 0, (struct sockaddr *)&sa, sizeof(sa)) == 1);
	close(fd);
}

static int ct_count(const char *w)
{
	FILE *p = popen("conntrack -L -p udp 2>/dev/null", "r");
	char line[1024];
	int n = 0;

	while (fgets(line, sizeof(line), p))
		n += strstr(line, w) != NULL;
	pclose(p);
	return n;
}

static void test_sync(void)
{
	struct fstate old, cur;
	struct kp_metrics m;
	char *t;

	if (system(setup) != 0) {
		fprintf(stderr, "setup failed (needs root in a network namespace)\n");
		CHECK(0);
		return;
	}
	udp_send("203.0.113.10", 53);	/* to A, DNAT'ed to its serving endpoint: stays */
	udp_send("203.0.113.11", 53);	/* to A, DNAT'ed to one not serving: goes */
	udp_send("203.0.113.20", 53);	/* to D, deleted: goes */
	CHECK_EQ_INT(ct_count("sport=5353"), 3);
	build_old(&old);
	build_cur(&cur, &old);
	CHECK_EQ_INT(kp_metrics_init_families(&m, true, true), 0);
	CHECK_EQ_INT(proxy_ct_sync(&old, &cur, &m), 2);
	CHECK_EQ_INT(ct_count("dst=203.0.113.10 "), 1);
	CHECK_EQ_INT(ct_count("dst=203.0.113.11 "), 0);
	CHECK_EQ_INT(ct_count("dst=203.0.113.20 "), 0);
	/* nothing changed since: not even a dump */
	CHECK_EQ_INT(proxy_ct_sync(&cur, &cur, &m), 0);
	t = metrics_text(m.reg);
	CHECK(strstr(t, "\nkubeproxy_conntrack_reconciler_deleted_entries_total{ip_family=\"IPv4\"} 2\n") != NULL);
	CHECK(strstr(t, "\nkubeproxy_conntrack_reconciler_sync_duration_seconds_count{ip_family=\"IPv4\"} 1\n") != NULL);
	free(t);
	kp_metrics_free(&m);
	fstate_free(&old);
	fstate_free(&cur);
	if (system("nft delete table ip ctsync") != 0)
		CHECK(0);
}

int main(void)
{
	test_needed_and_build();
	test_sync();
	return test_done("proxy_ctsync");
}
