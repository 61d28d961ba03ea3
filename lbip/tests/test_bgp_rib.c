// SPDX-License-Identifier: GPL-2.0-or-later
/* lbip/bgp_rib.c: which prefixes go to which peer, the difference, the
 * UPDATEs (decoded again by lbip/bgp_msg.c to check what was written). */
#include "core/test.h"
#include "lbip/bgp_rib.h"

#include <stdlib.h>
#include <string.h>

static struct lb_addr A(const char *s)
{
	struct lb_addr a = { 0 };

	if (lb_addr_parse(s, &a))
		abort();
	return a;
}

/* ---- the configuration ---- */
static struct lb_label prod = { "env", "prod" };
static char *v_prod[] = { "prod" }, *v_a[] = { "a" };
static struct lb_sel_req req_prod = { "env", LB_SEL_IN, v_prod, 1 };
static struct lb_sel_req req_zone_a = { "zone", LB_SEL_IN, v_a, 1 };
static struct lb_selector sel_prod = { &req_prod, 1 }, sel_zone_a = { &req_zone_a, 1 };
static char *p4name[] = { "p4" }, *peerB[] = { "pB" };

static struct lb_range r4, r6, rl2;
static struct lb_pool pools[3];
static struct lb_community c1[] = {
	{ true, { 1, 2, 3 } }, { false, { 65000, 1 } }, { false, { 65000, 1 } },	/* dup */
};
static struct lb_community c2[] = { { false, { 64999, 7 } } };
static struct lb_bgp_adv advs[3];
static struct lb_peer peers[3];
static struct lb_config cfg;

static void setup(void)
{
	r4 = (struct lb_range){ A("198.51.100.0"), A("198.51.100.255") };
	r6 = (struct lb_range){ A("2001:db8:1::"), A("2001:db8:1::ffff") };
	rl2 = (struct lb_range){ A("203.0.113.0"), A("203.0.113.255") };
	pools[0] = (struct lb_pool){ .name = "p4", .ranges = &r4, .n_ranges = 1, .labels = &prod,
				     .n_labels = 1 };
	pools[1] = (struct lb_pool){ .name = "p6", .ranges = &r6, .n_ranges = 1 };
	pools[2] = (struct lb_pool){ .name = "l2", .protocol = LB_PROTO_LAYER2, .ranges = &rl2,
				     .n_ranges = 1 };
	/* a1: p4 by name, localpref 150, communities (a duplicate, unsorted) */
	advs[0] = (struct lb_bgp_adv){ .name = "a1", .aggregation_length = 32,
				       .aggregation_length_v6 = 128, .localpref = 150,
				       .communities = c1, .n_communities = 3, .pools = p4name,
				       .n_pools = 1 };
	/* a2: env=prod pools, aggregated to /24, only zone=a nodes */
	advs[1] = (struct lb_bgp_adv){ .name = "a2", .aggregation_length = 24,
				       .aggregation_length_v6 = 128, .pool_selectors = &sel_prod,
				       .n_pool_selectors = 1, .node_selectors = &sel_zone_a,
				       .n_node_selectors = 1 };
	/* a3: every pool, peer pB only, a community */
	advs[2] = (struct lb_bgp_adv){ .name = "a3", .aggregation_length = 32,
				       .aggregation_length_v6 = 64, .communities = c2,
				       .n_communities = 1, .peers = peerB, .n_peers = 1 };
	peers[0] = (struct lb_peer){ .name = "pA", .peer_asn = 64512, .my_asn = 64512 };
	peers[1] = (struct lb_peer){ .name = "pB", .peer_asn = 64512, .my_asn = 64513 };
	/* pC: only zone=a nodes keep a session */
	peers[2] = (struct lb_peer){ .name = "pC", .peer_asn = 64512, .my_asn = 64513,
				     .node_selectors = &sel_zone_a, .n_node_selectors = 1 };
	cfg = (struct lb_config){ .pools = pools, .n_pools = 3, .bgp_advs = advs, .n_bgp_advs = 3,
				  .peers = peers, .n_peers = 3 };
}

static struct lb_label zb[] = { { "zone", "b" } }, za[] = { { "zone", "a" } };
static struct lb_label excl[] = { { "zone", "a" }, { BGP_EXCLUDE_LABEL, "" } };

static bool has(const struct bgp_rib *r, const char *pfx, int len)
{
	struct bgp_prefix p = { A(pfx), (uint8_t)len };

	return bgp_rib_find(r, &p) != NULL;
}

static void test_rule(void)
{
	struct lb_addr ip1[] = { A("198.51.100.10") }, ip2[] = { A("198.51.100.20"), A("2001:db8:1::5") };
	struct lb_addr ipl2[] = { A("203.0.113.5") }, ipnone[] = { A("192.0.2.1") };
	struct bgp_svc svcs[] = {
		{ ip1, 1, .serving = true },			/* Cluster */
		{ ip2, 2, .local = true, .serving = true, .local_serving = true },
		{ ipl2, 1, .serving = true },			/* layer-2 pool */
		{ ipnone, 1, .serving = true },			/* in no pool */
	};
	struct bgp_node nb = { "n1", zb, 1, false }, na = { "n2", za, 1, false };
	struct bgp_rib rib = { 0 };
	const struct bgp_route *r;
	struct bgp_prefix p;

	/* zone=b, iBGP peer pA: a1 only (a2 needs zone=a, a3 is for pB) */
	CHECK_EQ_INT(bgp_rib_compute(&cfg, 0, &nb, svcs, 4, &rib), 0);
	CHECK_EQ_INT(rib.n, 2);
	CHECK(has(&rib, "198.51.100.10", 32) && has(&rib, "198.51.100.20", 32));
	p = (struct bgp_prefix){ A("198.51.100.10"), 32 };
	r = bgp_rib_find(&rib, &p);
	CHECK(r && r->local_pref == 150 && r->n_comms == 2);
	/* sorted, the duplicate gone: standard first */
	CHECK(r && !r->comms[0].large && r->comms[0].v[0] == 65000 && r->comms[1].large);

	/* zone=a adds the /24 aggregate, one route for both addresses */
	CHECK_EQ_INT(bgp_rib_compute(&cfg, 0, &na, svcs, 4, &rib), 0);
	CHECK_EQ_INT(rib.n, 3);
	CHECK(has(&rib, "198.51.100.0", 24));
	/* sorted by prefix: the /24 before its /32s */
	CHECK(rib.r[0].pfx.len == 24 && rib.r[1].pfx.len == 32);

	/* eBGP peer pB: a1 (no LOCAL_PREF on eBGP) and a3 (every pool,
	 * IPv6 aggregated to /64), merged per prefix */
	CHECK_EQ_INT(bgp_rib_compute(&cfg, 1, &nb, svcs, 4, &rib), 0);
	CHECK_EQ_INT(rib.n, 3);
	CHECK(has(&rib, "2001:db8:1::", 64));
	p = (struct bgp_prefix){ A("198.51.100.20"), 32 };
	r = bgp_rib_find(&rib, &p);
	CHECK(r && r->local_pref == 0 && r->n_comms == 3);	/* 64999:7 65000:1 1:2:3 */
	CHECK(r && r->comms[0].v[0] == 64999);
	CHECK(!has(&rib, "203.0.113.5", 32));			/* layer-2 pool */

	/* Local without a local endpoint: not from this node */
	svcs[1].local_serving = false;
	CHECK_EQ_INT(bgp_rib_compute(&cfg, 1, &nb, svcs, 4, &rib), 0);
	CHECK_EQ_INT(rib.n, 1);
	CHECK(has(&rib, "198.51.100.10", 32));
	/* Cluster without any endpoint: nowhere */
	svcs[0].serving = false;
	CHECK_EQ_INT(bgp_rib_compute(&cfg, 1, &nb, svcs, 4, &rib), 0);
	CHECK_EQ_INT(rib.n, 0);
	svcs[0].serving = svcs[1].local_serving = true;

	/* the exclusion label and NetworkUnavailable */
	struct bgp_node ne = { "n3", excl, 2, false }, nu = { "n4", za, 1, true };
	CHECK_EQ_INT(bgp_rib_compute(&cfg, 0, &ne, svcs, 4, &rib), 0);
	CHECK_EQ_INT(rib.n, 0);
	CHECK_EQ_INT(bgp_rib_compute(&cfg, 0, &nu, svcs, 4, &rib), 0);
	CHECK_EQ_INT(rib.n, 0);

	/* a peer's node selectors */
	CHECK(!bgp_peer_selects_node(&peers[2], &nb));
	CHECK(bgp_peer_selects_node(&peers[2], &na));
	CHECK_EQ_INT(bgp_rib_compute(&cfg, 2, &nb, svcs, 4, &rib), 0);
	CHECK_EQ_INT(rib.n, 0);
	CHECK_EQ_INT(bgp_rib_compute(&cfg, 2, &na, svcs, 4, &rib), 0);
	CHECK(rib.n > 0);
	bgp_rib_free(&rib);
}

/* ---- the difference ---- */

static void route(struct bgp_rib *rib, const char *ip, int len, uint32_t lp, struct lb_community *c,
		  size_t n)
{
	struct bgp_rib one = { 0 };
	struct bgp_route r = { { A(ip), (uint8_t)len }, lp, c, n };

	one.r = &r;
	one.n = 1;
	/* append through a copy so the rib owns its communities */
	struct bgp_rib cp = { 0 };
	if (bgp_rib_copy(&cp, &one))
		abort();
	rib->r = realloc(rib->r, (rib->n + 1) * sizeof(*rib->r));
	rib->r[rib->n++] = cp.r[0];
	free(cp.r);
}

static void test_diff(void)
{
	struct bgp_rib old = { 0 }, nw = { 0 };
	struct bgp_rib_diff d;

	route(&old, "198.51.100.1", 32, 0, NULL, 0);
	route(&old, "198.51.100.2", 32, 0, c2, 1);
	route(&old, "198.51.100.3", 32, 0, NULL, 0);
	route(&nw, "198.51.100.2", 32, 0, c1, 2);	/* attributes changed */
	route(&nw, "198.51.100.3", 32, 0, NULL, 0);	/* same */
	route(&nw, "198.51.100.4", 32, 0, NULL, 0);	/* new */
	CHECK_EQ_INT(bgp_rib_diff(&old, &nw, &d), 0);
	CHECK_EQ_INT(d.n_withdraw, 1);
	CHECK(d.n_withdraw == 1 && d.withdraw[0].addr.b[3] == 1);
	CHECK_EQ_INT(d.n_announce, 2);
	CHECK(d.n_announce == 2 && d.announce[0]->pfx.addr.b[3] == 2 &&
	      d.announce[1]->pfx.addr.b[3] == 4);
	bgp_rib_diff_free(&d);
	/* nothing changed: nothing to send */
	CHECK_EQ_INT(bgp_rib_diff(&nw, &nw, &d), 0);
	CHECK(d.n_withdraw == 0 && d.n_announce == 0);
	bgp_rib_diff_free(&d);
	/* everything gone */
	struct bgp_rib empty = { 0 };
	CHECK_EQ_INT(bgp_rib_diff(&nw, &empty, &d), 0);
	CHECK(d.n_withdraw == 3 && d.n_announce == 0);
	bgp_rib_diff_free(&d);
	bgp_rib_free(&old);
	bgp_rib_free(&nw);
}

/* ---- UPDATEs ---- */

static void decode_all(const struct bgp_wire_list *l, const struct bgp_ctx *ctx, size_t *nlri,
		       size_t *withdrawn, size_t *eor, bool *bad)
{
	*nlri = *withdrawn = *eor = 0;
	for (size_t i = 0; i < l->n; i++) {
		struct bgp_msg m;
		struct bgp_error e;
		uint16_t afi;

		if (l->m[i].len > BGP_MAX_LEN || bgp_msg_frame(l->m[i].b, l->m[i].len, &e) != (int)l->m[i].len ||
		    bgp_msg_decode(l->m[i].b, l->m[i].len, ctx, &m, &e) || e.action != BGP_ERR_NONE) {
			*bad = true;
			bgp_msg_free(&m);
			continue;
		}
		if (bgp_update_is_eor(&m.update, &afi))
			(*eor)++;
		*nlri += m.update.n_nlri + m.update.n_mp_reach;
		*withdrawn += m.update.n_withdrawn + m.update.n_mp_unreach;
		bgp_msg_free(&m);
	}
}

static int rcmp(const void *a, const void *b)
{
	return bgp_prefix_cmp(&((const struct bgp_route *)a)->pfx, &((const struct bgp_route *)b)->pfx);
}

static void test_updates(void)
{
	struct bgp_rib old = { 0 }, nw = { 0 };
	struct bgp_rib_diff d;
	struct bgp_wire_list wl = { 0 };
	struct bgp_out_params o = { .ctx = { .as4 = true, .local_as = 64513, .peer_as = 64512 },
				    .local_as = 64513, .ipv4 = true, .ipv6 = true,
				    .nh4 = A("192.0.2.10"), .nh6 = A("2001:db8::10"),
				    .nh6_ll = A("fe80::10") };
	struct bgp_ctx dec = { .as4 = true, .local_as = 64512, .peer_as = 64513 };
	size_t nlri, wd, eor;
	bool bad = false;
	char ip[64];

	/* 1000 IPv6 /128s with communities, 10 IPv4 /32s without */
	for (int i = 0; i < 1000; i++) {
		snprintf(ip, sizeof(ip), "2001:db8:2::%x", i + 1);
		route(&nw, ip, 128, 0, c1, 2);
	}
	for (int i = 0; i < 10; i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%d", i + 1);
		route(&nw, ip, 32, 0, NULL, 0);
	}
	qsort(nw.r, nw.n, sizeof(*nw.r), rcmp);
	CHECK_EQ_INT(bgp_rib_diff(&old, &nw, &d), 0);
	CHECK_EQ_INT(bgp_rib_updates(&d, &o, &wl), 0);
	CHECK_EQ_INT(wl.n_prefixes, 1010);
	CHECK(wl.n >= 5);	/* 1000 * 17 bytes need at least five messages */
	CHECK(wl.n < 12);	/* ... and halving does not waste many */
	decode_all(&wl, &dec, &nlri, &wd, &eor, &bad);
	CHECK(!bad);
	CHECK_EQ_INT(nlri, 1010);
	CHECK_EQ_INT(wd, 0);
	/* the IPv4 message: AS_PATH of our AS, NEXT_HOP, no LOCAL_PREF */
	{
		struct bgp_msg m;
		struct bgp_error e;
		bool found = false;

		for (size_t i = 0; i < wl.n; i++) {
			if (bgp_msg_decode(wl.m[i].b, wl.m[i].len, &dec, &m, &e) == 0 && m.update.n_nlri) {
				found = true;
				CHECK_EQ_INT(m.update.n_nlri, 10);
				CHECK(m.update.as_path.n_segs == 1 && m.update.as_path.segs[0].asn[0] == 64513);
				CHECK(m.update.next_hop.b[3] == 10);
				CHECK(!BGP_HAS(&m.update, BGP_ATTR_LOCAL_PREF));
			} else if (m.update.n_mp_reach) {
				CHECK_EQ_INT(m.update.n_communities, 1);
				CHECK_EQ_INT(m.update.n_large, 1);
				CHECK(m.update.mp_nh.family == 6 && m.update.mp_nh.b[15] == 0x10);
				/* the link-local beside it: a 32-byte next hop */
				CHECK(m.update.mp_nh_ll.family == 6 && m.update.mp_nh_ll.b[0] == 0xfe &&
				      m.update.mp_nh_ll.b[15] == 0x10);
			}
			bgp_msg_free(&m);
		}
		CHECK(found);
	}
	bgp_wire_list_free(&wl);
	bgp_rib_diff_free(&d);

	/* everything withdrawn; without an IPv6 next hop IPv6 is not sent */
	o.nh6.family = 0;
	CHECK_EQ_INT(bgp_rib_diff(&nw, &old, &d), 0);
	CHECK_EQ_INT(bgp_rib_updates(&d, &o, &wl), 0);
	CHECK_EQ_INT(wl.n_withdrawn, 10);
	CHECK_EQ_INT(bgp_rib_eor(&o, &wl), 0);
	decode_all(&wl, &dec, &nlri, &wd, &eor, &bad);
	CHECK(!bad);
	CHECK_EQ_INT(wd, 10);
	CHECK_EQ_INT(eor, 2);		/* End-of-RIB for both negotiated families */
	bgp_wire_list_free(&wl);
	bgp_rib_diff_free(&d);

	/* iBGP: LOCAL_PREF always present (100 when unset), empty AS_PATH */
	o.ctx.ibgp = true;
	dec.ibgp = true;
	dec.peer_as = 64513;
	route(&old, "198.51.100.99", 32, 0, NULL, 0);
	{
		struct bgp_rib none = { 0 };
		struct bgp_msg m;
		struct bgp_error e;

		CHECK_EQ_INT(bgp_rib_diff(&none, &old, &d), 0);
		CHECK_EQ_INT(bgp_rib_updates(&d, &o, &wl), 0);
		CHECK_EQ_INT(wl.n, 1);
		CHECK_EQ_INT(bgp_msg_decode(wl.m[0].b, wl.m[0].len, &dec, &m, &e), 0);
		CHECK_EQ_INT(e.action, BGP_ERR_NONE);
		CHECK(BGP_HAS(&m.update, BGP_ATTR_LOCAL_PREF) && m.update.local_pref == 100);
		CHECK_EQ_INT(m.update.as_path.n_segs, 0);
		bgp_msg_free(&m);
	}
	bgp_wire_list_free(&wl);
	bgp_rib_diff_free(&d);
	bgp_rib_free(&old);
	bgp_rib_free(&nw);
}

int main(void)
{
	setup();
	test_rule();
	test_diff();
	test_updates();
	return test_done("lbip_bgp_rib");
}
