// SPDX-License-Identifier: GPL-2.0-or-later
/* lbip/l2owner.c: the owner function, as tables of nodes and addresses. */
#include <stdlib.h>
#include <string.h>

#include "core/test.h"
#include "lbip/l2owner.h"
#include "lbip/sha256.h"

/* ---- a small configuration: pools p1 (env=prod), p2 (env=dev), p3 ---- */

static struct lb_label prod = { "env", "prod" }, dev = { "env", "dev" };
static char *v_prod[] = { "prod" }, *v_a[] = { "a" };
static struct lb_sel_req req_prod = { "env", LB_SEL_IN, v_prod, 1 };
static struct lb_sel_req req_zone_a = { "zone", LB_SEL_IN, v_a, 1 };
static struct lb_selector sel_prod = { &req_prod, 1 }, sel_zone_a = { &req_zone_a, 1 };
static char *name_p2[] = { "p2" }, *if_eth1[] = { "eth1" };

static struct lb_pool pools[] = {
	{ .name = "p1", .labels = &prod, .n_labels = 1 },
	{ .name = "p2", .labels = &dev, .n_labels = 1 },
	{ .name = "p3" },
};

/* all: every pool, every node. */
static struct lb_l2_adv adv_all = { .name = "all" };
/* prod pools, zone=a nodes only, on eth1; p2 by name, every node */
static struct lb_l2_adv advs_sel[] = {
	{ .name = "prod-a", .pool_selectors = &sel_prod, .n_pool_selectors = 1,
	  .node_selectors = &sel_zone_a, .n_node_selectors = 1, .interfaces = if_eth1, .n_interfaces = 1 },
	{ .name = "dev", .pools = name_p2, .n_pools = 1 },
};

static struct lb_config cfg_all = { .pools = pools, .n_pools = 3, .l2_advs = &adv_all, .n_l2_advs = 1 };
static struct lb_config cfg_sel = { .pools = pools, .n_pools = 3, .l2_advs = advs_sel, .n_l2_advs = 2 };

static struct lb_label zone_a = { "zone", "a" }, zone_b = { "zone", "b" };
static struct lb_label excl = { L2_EXCLUDE_LABEL, "" };

#define N(name, lbl, ready, unavail, alive) { name, lbl, 1, ready, unavail, alive }
#define N0(name, ready, unavail, alive) { name, NULL, 0, ready, unavail, alive }

static const struct l2_svc cluster = { .serving = true };

static struct lb_addr ip_n(int i)
{
	struct lb_addr a = { .family = 4 };

	/* 198.51.100.0 .. 203.0.113.x: 500 addresses from two test nets */
	if (i < 256) {
		a.b[0] = 198; a.b[1] = 51; a.b[2] = 100; a.b[3] = (uint8_t)i;
	} else {
		a.b[0] = 203; a.b[1] = 0; a.b[2] = 113; a.b[3] = (uint8_t)(i - 256);
	}
	return a;
}

static const char *owner_name(const struct lb_config *c, const char *pool, const struct lb_addr *ip,
			      const struct l2_svc *s, const struct l2_node *n, size_t nn)
{
	int o = l2_owner(c, pool, ip, s, n, nn);

	return o < 0 ? "-" : n[o].name;
}

/* l2_owned must agree with l2_owner for every node. */
static void check_batch(const struct lb_config *c, const char *pool, const struct l2_svc *s,
			const struct l2_node *n, size_t nn, int n_ips)
{
	struct l2_ip *ips = calloc(n_ips, sizeof(*ips));
	bool *owned = calloc(n_ips, sizeof(bool));

	for (int i = 0; i < n_ips; i++)
		ips[i] = (struct l2_ip){ ip_n(i), pool, s };
	for (size_t k = 0; k < nn; k++) {
		CHECK_EQ_INT(l2_owned(c, ips, n_ips, n, nn, n[k].name, owned), 0);
		for (int i = 0; i < n_ips; i++) {
			bool want = l2_owner(c, pool, &ips[i].ip, s, n, nn) == (int)k;

			if (owned[i] != want) {
				CHECK_EQ_INT(owned[i], want);
				break;
			}
		}
	}
	free(ips);
	free(owned);
}

static void test_spread(void)
{
	struct l2_node n[] = { N0("node-a", 1, 0, 1), N0("node-b", 1, 0, 1), N0("node-c", 1, 0, 1) };
	int count[3] = { 0 };

	for (int i = 0; i < 500; i++) {
		struct lb_addr a = ip_n(i);
		int o = l2_owner(&cfg_all, "p1", &a, &cluster, n, 3);
		CHECK(o >= 0 && o < 3);
		if (o >= 0)
			count[o]++;
	}
	/* fair share 166.7; a binomial sd is ~10.5, so +-50 fails only on a bad hash */
	for (int k = 0; k < 3; k++)
		CHECK(count[k] > 116 && count[k] < 217);
	check_batch(&cfg_all, "p1", &cluster, n, 3, 500);
}

/* The MetalLB order, computed independently (Python hashlib, sorted by
 * sha256(node + "#" + ip)); also pins the IPv6 text form to Go's. */
static void test_metallb_rank(void)
{
	static const struct { const char *ip, *owner; } rows[] = {
		{ "192.0.2.10", "kind-control-plane" }, { "192.0.2.11", "kind-worker" },
		{ "192.0.2.12", "kind-control-plane" }, { "2001:db8::a", "kind-worker" },
		{ "2001:db8:0:1::", "kind-worker2" }, { "198.51.100.7", "kind-worker2" },
	};
	struct l2_node n[] = { N0("kind-worker", 1, 0, 1), N0("kind-worker2", 1, 0, 1),
			       N0("kind-control-plane", 1, 0, 1) };
	unsigned char k[32];
	struct lb_addr a;
	char hex[65];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		CHECK(!lb_addr_parse(rows[i].ip, &a));
		CHECK_EQ_STR(owner_name(&cfg_all, "p3", &a, &cluster, n, 3), rows[i].owner);
	}
	CHECK(!lb_addr_parse("2001:db8::1", &a));
	l2_rank_key("node-a", &a, k);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", k[i]);
	CHECK_EQ_STR(hex, "3c9f88a7e2ef52a1c015be314124ea3ab99785b842ce9ee37afdf6470837efbe");
}

static void test_local(void)
{
	struct l2_node n[] = { N0("node-a", 1, 0, 1), N0("node-b", 1, 0, 1), N0("node-c", 1, 0, 1),
			       N0("node-d", 1, 0, 0) };
	static const char *const only_b[] = { "node-b" }, *const b_c[] = { "node-b", "node-c" },
			  *const d_x[] = { "node-d", "elsewhere" };
	static const struct { const struct l2_svc svc; const char *allowed; } rows[] = {
		{ { true, true, only_b, 1 }, "node-b" },
		{ { true, true, b_c, 2 }, "node-b node-c" },
		{ { true, true, d_x, 2 }, "" },		/* the only endpoint node is dead */
		{ { true, true, NULL, 0 }, "" },
		{ { false, false, NULL, 0 }, "" },	/* Cluster, nothing serving */
		{ { true, false, only_b, 1 }, "" },
	};
	int seen_c = 0;

	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		for (int i = 0; i < 200; i++) {
			struct lb_addr a = ip_n(i);
			const char *o = owner_name(&cfg_all, "p1", &a, &rows[r].svc, n, 4);

			if (!*rows[r].allowed)
				CHECK_EQ_STR(o, "-");
			else
				CHECK(strcmp(o, "-") && strstr(rows[r].allowed, o));
			seen_c += r == 1 && !strcmp(o, "node-c");
		}
		check_batch(&cfg_all, "p1", &rows[r].svc, n, 4, 200);
	}
	CHECK(seen_c > 50 && seen_c < 150);	/* both endpoint nodes get a share */
}

/* Nodes that must never own, with one healthy node that then owns all. */
static void test_never(void)
{
	static struct lb_label excl_labels[] = { { "zone", "a" }, { L2_EXCLUDE_LABEL, "true" } };
	struct l2_node n[] = {
		N("excluded", &excl, 1, 0, 1),
		{ "excluded2", excl_labels, 2, 1, 0, 1 },
		N0("not-ready", 0, 0, 1),
		N0("no-network", 1, 1, 1),
		N0("dead", 1, 0, 0),
		{ NULL, NULL, 0, 1, 0, 1 },	/* a nameless node never owns */
		N0("good", 1, 0, 1),
	};

	for (int i = 0; i < 300; i++) {
		struct lb_addr a = ip_n(i);

		CHECK_EQ_STR(owner_name(&cfg_all, "p1", &a, &cluster, n, 7), "good");
	}
	CHECK(!l2_node_eligible(&cfg_all, "p1", &n[0]));
	CHECK(!l2_node_eligible(&cfg_all, "p1", &n[2]));
	CHECK(l2_node_eligible(&cfg_all, "p1", &n[4]));	/* liveness is not config */
	n[6].alive = false;
	for (int i = 0; i < 50; i++) {
		struct lb_addr a = ip_n(i);

		CHECK_EQ_STR(owner_name(&cfg_all, "p1", &a, &cluster, n, 7), "-");
	}
}

static void test_selectors(void)
{
	struct l2_node n[] = { N("a1", &zone_a, 1, 0, 1), N("a2", &zone_a, 1, 0, 1), N("b1", &zone_b, 1, 0, 1),
			       N0("nolabel", 1, 0, 1) };
	int dev_seen[4] = { 0 };

	for (int i = 0; i < 200; i++) {
		struct lb_addr a = ip_n(i);
		int o;

		/* p1 (env=prod) via the selector adv: zone=a nodes only */
		o = l2_owner(&cfg_sel, "p1", &a, &cluster, n, 4);
		CHECK(o == 0 || o == 1);
		/* p2 by name: every node */
		o = l2_owner(&cfg_sel, "p2", &a, &cluster, n, 4);
		CHECK(o >= 0);
		if (o >= 0)
			dev_seen[o]++;
		/* p3: no advertisement selects it; unknown pool: nobody */
		CHECK_EQ_INT(l2_owner(&cfg_sel, "p3", &a, &cluster, n, 4), -1);
		CHECK_EQ_INT(l2_owner(&cfg_sel, "gone", &a, &cluster, n, 4), -1);
		CHECK_EQ_INT(l2_owner(&cfg_sel, NULL, &a, &cluster, n, 4), -1);
	}
	for (int k = 0; k < 4; k++)
		CHECK(dev_seen[k] > 20);
	check_batch(&cfg_sel, "p1", &cluster, n, 4, 200);
	check_batch(&cfg_sel, "p3", &cluster, n, 4, 20);

	/* interfaces: p1 on eth1 only (zone=a); p2 anywhere; p3 nowhere */
	CHECK(l2_interface_allowed(&cfg_sel, "p1", &n[0], "eth1"));
	CHECK(!l2_interface_allowed(&cfg_sel, "p1", &n[0], "eth0"));
	CHECK(!l2_interface_allowed(&cfg_sel, "p1", &n[2], "eth1"));
	CHECK(l2_interface_allowed(&cfg_sel, "p2", &n[2], "eth0"));
	CHECK(!l2_interface_allowed(&cfg_sel, "p3", &n[0], "eth1"));
	/* a node selected by both for a pool both select: the union (all) */
	pools[1].labels = &prod;
	CHECK(l2_interface_allowed(&cfg_sel, "p2", &n[0], "eth0"));
	pools[1].labels = &dev;
}

static void test_determinism(void)
{
	struct l2_node n[] = { N0("n0", 1, 0, 1), N0("n1", 1, 0, 1), N0("n2", 1, 0, 0),
			       N("n3", &excl, 1, 0, 1), N0("n4", 1, 0, 1), N0("n5", 0, 0, 1) };
	struct l2_node p[6];
	size_t nn = 6;

	for (int i = 0; i < 200; i++) {
		struct lb_addr a = ip_n(i);
		const char *want = owner_name(&cfg_all, "p1", &a, &cluster, n, nn);

		/* every rotation, and each of them reversed */
		for (size_t r = 0; r < nn; r++) {
			for (size_t k = 0; k < nn; k++)
				p[k] = n[(k + r) % nn];
			CHECK_EQ_STR(owner_name(&cfg_all, "p1", &a, &cluster, p, nn), want);
			for (size_t k = 0; k < nn; k++)
				p[nn - 1 - k] = n[(k + r) % nn];
			CHECK_EQ_STR(owner_name(&cfg_all, "p1", &a, &cluster, p, nn), want);
		}
	}
	/* a node coming back takes back exactly the addresses that rank it first */
	int moved = 0, wrong = 0;

	for (int i = 0; i < 300; i++) {
		struct lb_addr a = ip_n(i);
		const char *before, *after;

		n[2].alive = false;
		before = owner_name(&cfg_all, "p1", &a, &cluster, n, nn);
		n[2].alive = true;
		after = owner_name(&cfg_all, "p1", &a, &cluster, n, nn);
		if (strcmp(before, after)) {
			moved++;
			wrong += strcmp(after, "n2") != 0;
		}
	}
	CHECK(moved > 40 && moved < 120);	/* a quarter of 300 */
	CHECK_EQ_INT(wrong, 0);
}

int main(void)
{
	test_spread();
	test_metallb_rank();
	test_local();
	test_never();
	test_selectors();
	test_determinism();
	return test_done("lbip_l2owner");
}
