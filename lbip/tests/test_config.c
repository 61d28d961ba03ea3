/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The MetalLB configuration parser: a table of inputs, each valid (with the
 * fields checked) or invalid (with the path/message it must report). The
 * cases follow the situations MetalLB's own config tests cover. */
#include "core/test.h"
#include "lbip/configparse.h"
#include "lbip/range.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum fmt { CM, CRD };

struct tcase {
	const char *name;
	enum fmt fmt;
	const char *text;
	const char *err;	/* NULL: must be valid; else a substring of "path: msg" */
	void (*check)(const struct lb_config *c);
};

static void check_range(const struct lb_range *r, const char *lo, const char *hi)
{
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];

	inet_ntop(r->lo.family == 4 ? AF_INET : AF_INET6, r->lo.b, a, sizeof(a));
	inet_ntop(r->hi.family == 4 ? AF_INET : AF_INET6, r->hi.b, b, sizeof(b));
	CHECK_EQ_STR(a, lo);
	CHECK_EQ_STR(b, hi);
}

static void c_seed(const struct lb_config *c)
{
	CHECK_EQ_INT(c->source, LB_SRC_CONFIGMAP);
	CHECK_EQ_INT(c->n_pools, 1);
	if (c->n_pools != 1)
		return;
	CHECK_EQ_STR(c->pools[0].name, "my-ip-space");
	CHECK_EQ_INT(c->pools[0].protocol, LB_PROTO_LAYER2);
	CHECK(c->pools[0].auto_assign);
	CHECK(!c->pools[0].avoid_buggy_ips);
	CHECK_EQ_INT(c->pools[0].n_ranges, 1);
	check_range(&c->pools[0].ranges[0], "192.0.2.200", "192.0.2.250");
	CHECK_EQ_INT(c->n_l2_advs, 1);
	if (c->n_l2_advs == 1 && c->l2_advs[0].n_pools == 1)
		CHECK_EQ_STR(c->l2_advs[0].pools[0], "my-ip-space");
	CHECK_EQ_INT(c->n_bgp_advs, 0);
}

static void c_full_legacy(const struct lb_config *c)
{
	CHECK_EQ_INT(c->n_peers, 2);
	CHECK_EQ_INT(c->n_pools, 2);
	CHECK_EQ_INT(c->n_bfd_profiles, 1);
	if (c->n_peers == 2) {
		const struct lb_peer *p = &c->peers[0];
		char a[INET6_ADDRSTRLEN];

		CHECK_EQ_INT(p->my_asn, 64512);
		CHECK_EQ_INT(p->peer_asn, 64513);
		CHECK_EQ_INT(p->peer_port, 1179);
		CHECK_EQ_INT(p->hold_time_s, 180);
		CHECK_EQ_INT(p->keepalive_time_s, 60);
		CHECK_EQ_STR(p->password, "s3cret");
		CHECK(p->ebgp_multihop);
		CHECK_EQ_INT(p->router_id.family, 4);
		inet_ntop(AF_INET, p->source_address.b, a, sizeof(a));
		CHECK_EQ_STR(a, "198.51.100.2");
		CHECK_EQ_INT(p->n_node_selectors, 1);
		if (p->n_node_selectors == 1) {
			const struct lb_selector *s = &p->node_selectors[0];

			CHECK_EQ_INT(s->n_reqs, 2);
			if (s->n_reqs == 2) {
				CHECK_EQ_STR(s->reqs[0].key, "rack");
				CHECK_EQ_INT(s->reqs[0].op, LB_SEL_IN);
				CHECK_EQ_STR(s->reqs[1].key, "kubernetes.io/hostname");
				CHECK_EQ_INT(s->reqs[1].op, LB_SEL_NOT_IN);
				CHECK_EQ_INT(s->reqs[1].n_values, 2);
			}
		}
		CHECK_EQ_STR(c->peers[1].bfd_profile, "fast");
		CHECK_EQ_INT(c->peers[1].hold_time_s, 90);
		CHECK_EQ_INT(c->peers[1].keepalive_time_s, 30);
		CHECK_EQ_INT(c->peers[1].peer_port, 179);
	}
	if (c->n_pools == 2) {
		const struct lb_pool *p = &c->pools[0];

		CHECK_EQ_INT(p->protocol, LB_PROTO_BGP);
		CHECK(!p->auto_assign);
		CHECK(p->avoid_buggy_ips);
		CHECK_EQ_INT(p->n_ranges, 3);
		if (p->n_ranges == 3) {
			check_range(&p->ranges[0], "198.51.100.0", "198.51.100.255");
			check_range(&p->ranges[1], "203.0.113.250", "203.0.114.5");
			check_range(&p->ranges[2], "2001:db8::", "2001:db8::ffff");
		}
	}
	CHECK_EQ_INT(c->n_bgp_advs, 3);	/* two in pool 0, the default one of pool 1 */
	if (c->n_bgp_advs == 3) {
		const struct lb_bgp_adv *a = &c->bgp_advs[0];

		CHECK_EQ_INT(a->aggregation_length, 30);
		CHECK_EQ_INT(a->aggregation_length_v6, 112);
		CHECK_EQ_INT(a->localpref, 100);
		CHECK_EQ_INT(a->n_communities, 2);
		if (a->n_communities == 2) {
			CHECK(!a->communities[0].large);
			CHECK_EQ_INT(a->communities[0].v[0], 65535);
			CHECK_EQ_INT(a->communities[0].v[1], 65282);
			CHECK(a->communities[1].large);
			CHECK_EQ_INT(a->communities[1].v[2], 4294967295u);
		}
		CHECK_EQ_STR(a->pool, "bgp-pool");
		CHECK_EQ_INT(c->bgp_advs[1].aggregation_length, 32);
		CHECK_EQ_INT(c->bgp_advs[2].aggregation_length, 32);
		CHECK_EQ_INT(c->bgp_advs[2].aggregation_length_v6, 128);
		CHECK_EQ_STR(c->bgp_advs[2].pool, "single");
	}
}

static void c_crds(const struct lb_config *c)
{
	CHECK_EQ_INT(c->source, LB_SRC_CRDS);
	CHECK_EQ_INT(c->n_pools, 2);
	CHECK_EQ_INT(c->n_l2_advs, 1);
	CHECK_EQ_INT(c->n_bgp_advs, 1);
	CHECK_EQ_INT(c->n_peers, 1);
	if (c->n_pools == 2) {
		const struct lb_pool *p = &c->pools[0];

		CHECK_EQ_STR(p->name, "pool-a");
		CHECK(p->has_allocation);
		CHECK_EQ_INT(p->priority, 10);
		CHECK_EQ_INT(p->n_namespaces, 2);
		CHECK_EQ_INT(p->n_service_selectors, 1);
		CHECK_EQ_INT(p->n_labels, 1);
		if (p->n_labels == 1)
			CHECK_EQ_STR(p->labels[0].value, "blue");
		CHECK(!c->pools[1].auto_assign);
		if (c->pools[1].n_ranges == 1)
			check_range(&c->pools[1].ranges[0], "203.0.113.7", "203.0.113.7");
	}
	if (c->n_l2_advs == 1) {
		CHECK_EQ_INT(c->l2_advs[0].n_interfaces, 1);
		CHECK_EQ_INT(c->l2_advs[0].n_pool_selectors, 1);
	}
	if (c->n_bgp_advs == 1) {
		const struct lb_bgp_adv *a = &c->bgp_advs[0];

		CHECK_EQ_STR(a->name, "adv");
		CHECK_EQ_INT(a->n_communities, 2);
		if (a->n_communities == 2) {
			CHECK_EQ_INT(a->communities[0].v[0], 64512);	/* by Community name */
			CHECK_EQ_INT(a->communities[1].v[1], 7);	/* literal */
		}
		CHECK_EQ_INT(a->aggregation_length, 30);
		CHECK_EQ_INT(a->n_peers, 1);
	}
	if (c->n_peers == 1) {
		CHECK_EQ_STR(c->peers[0].name, "peer1");
		CHECK(c->peers[0].graceful_restart);
		CHECK_EQ_INT(c->peers[0].hold_time_s, 30);
		CHECK_EQ_INT(c->peers[0].keepalive_time_s, 10);
		CHECK_EQ_INT(c->peers[0].peer_address.family, 6);
	}
}

static void c_ka_only(const struct lb_config *c)
{
	CHECK_EQ_INT(c->n_peers, 1);
	if (c->n_peers == 1) {
		CHECK_EQ_INT(c->peers[0].keepalive_time_s, 20);
		CHECK_EQ_INT(c->peers[0].hold_time_s, 60);	/* MetalLB: 3 x keepalive */
	}
}

static void c_empty(const struct lb_config *c)
{
	CHECK_EQ_INT(c->n_pools, 0);
	CHECK_EQ_INT(c->n_peers, 0);
}

static void c_v6_crossing(const struct lb_config *c)
{
	CHECK_EQ_INT(c->n_pools, 1);
	if (c->n_pools == 1 && c->pools[0].n_ranges == 2) {
		check_range(&c->pools[0].ranges[0], "2001:db8::ffff", "2001:db8::1:3");
		check_range(&c->pools[0].ranges[1], "192.0.2.255", "192.0.3.0");
	}
}

#define SEED "address-pools:\n- name: my-ip-space\n  protocol: layer2\n  addresses:\n  - 192.0.2.200-192.0.2.250\n"

#define FULL_LEGACY \
	"peers:\n" \
	"- my-asn: 64512\n  peer-asn: 64513\n  peer-address: 198.51.100.1\n  peer-port: 1179\n" \
	"  source-address: 198.51.100.2\n  router-id: 10.0.0.1\n  hold-time: 3m\n  keepalive-time: 1m\n" \
	"  password: s3cret\n  ebgp-multihop: true\n" \
	"  node-selectors:\n  - match-labels:\n      rack: a\n" \
	"    match-expressions:\n    - key: kubernetes.io/hostname\n      operator: NotIn\n      values: [n1, n2]\n" \
	"- my-asn: 64512\n  peer-asn: 64512\n  peer-address: 2001:db8::1\n  bfd-profile: fast\n" \
	"bfd-profiles:\n- name: fast\n  receive-interval: 100\n  echo-mode: true\n" \
	"bgp-communities:\n  no-advertise: 65535:65282\n  big: large:1:2:4294967295\n" \
	"address-pools:\n" \
	"- name: bgp-pool\n  protocol: bgp\n  auto-assign: false\n  avoid-buggy-ips: true\n  addresses:\n" \
	"  - 198.51.100.0/24\n  - 203.0.113.250 - 203.0.114.5\n  - 2001:db8::/112\n" \
	"  bgp-advertisements:\n  - aggregation-length: 30\n    aggregation-length-v6: 112\n" \
	"    localpref: 100\n    communities: [no-advertise, big]\n  - {}\n" \
	"- name: single\n  protocol: bgp\n  addresses: [192.0.2.1/32]\n"

#define CRDS \
	"apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: pool-a\n  namespace: metallb-system\n" \
	"  labels: {color: blue}\n" \
	"spec:\n  addresses: [198.51.100.0/24]\n  serviceAllocation:\n    priority: 10\n    namespaces: [a, b]\n" \
	"    serviceSelectors:\n    - matchExpressions:\n      - {key: app, operator: Exists}\n" \
	"---\n{\"apiVersion\":\"metallb.io/v1beta1\",\"kind\":\"IPAddressPool\",\"metadata\":{\"name\":\"pool-b\"}," \
	"\"spec\":{\"addresses\":[\"203.0.113.7/32\"],\"autoAssign\":false}}\n" \
	"---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: l2}\n" \
	"spec:\n  interfaces: [eth0]\n  ipAddressPoolSelectors:\n  - matchLabels: {color: blue}\n" \
	"---\napiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {name: comms}\n" \
	"spec:\n  communities:\n  - {name: mine, value: \"64512:1\"}\n" \
	"---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: adv}\n" \
	"spec:\n  aggregationLength: 30\n  ipAddressPools: [pool-a]\n  communities: [mine, \"1:7\"]\n  peers: [peer1]\n" \
	"---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: peer1}\n" \
	"spec:\n  myASN: 64512\n  peerASN: 64513\n  peerAddress: \"2001:db8::2\"\n  holdTime: 30s\n" \
	"  enableGracefulRestart: true\n"

#define POOL(name, addr) \
	"---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: " name "}\nspec: {addresses: [" addr "]}\n"
#define BGPADV(spec) \
	"---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: adv}\nspec: " spec "\n"
#define PEER(name, spec) \
	"---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: " name "}\nspec: " spec "\n"

static const struct tcase cases[] = {
	{ "seed", CM, SEED, NULL, c_seed },
	{ "empty", CM, "", NULL, c_empty },
	{ "full legacy", CM, FULL_LEGACY, NULL, c_full_legacy },
	{ "crds", CRD, CRDS, NULL, c_crds },
	{ "ranges crossing octets, v6 and v4", CM,
	  "address-pools:\n- name: p\n  protocol: layer2\n  addresses: [2001:db8::ffff-2001:db8::1:3, 192.0.2.255-192.0.3.0]\n",
	  NULL, c_v6_crossing },
	/* pools */
	{ "host bits", CM,
	  "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/24]}\n"
	  "- {name: b, protocol: layer2, addresses: [198.51.100.0/24, 192.0.2.5/24]}\n",
	  "address-pools[1].addresses[1]: \"192.0.2.5/24\": is not a network (host bits set)", NULL },
	{ "host bits v6", CM, "address-pools:\n- {name: a, protocol: layer2, addresses: [\"2001:db8::1/64\"]}\n",
	  "host bits set", NULL },
	{ "bad range order", CM, "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.10-192.0.2.1]}\n",
	  "addresses[0]: \"192.0.2.10-192.0.2.1\": start 192.0.2.10 is after end 192.0.2.1", NULL },
	{ "range mixed families", CM, "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.1-2001:db8::1]}\n",
	  "different address families", NULL },
	{ "range bad end", CM, "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.1-192.0.2.300]}\n",
	  "invalid end address \"192.0.2.300\"", NULL },
	{ "bad cidr", CM, "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/33]}\n",
	  "invalid prefix length", NULL },
	{ "plain address", CM, "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.1]}\n",
	  "not a CIDR", NULL },
	{ "overlap across pools", CM,
	  "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/24]}\n"
	  "- {name: b, protocol: bgp, addresses: [192.0.2.128/25]}\n",
	  "address-pools[1].addresses[0]: 192.0.2.128/25 overlaps with 192.0.2.0/24 of pool \"a\"", NULL },
	{ "overlap within a pool (range and cidr)", CM,
	  "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/28, 192.0.2.10-192.0.2.20]}\n",
	  "address-pools[0].addresses[1]: 192.0.2.10-192.0.2.20 overlaps", NULL },
	{ "same range in v4 and v6 does not overlap", CM,
	  "address-pools:\n- {name: a, protocol: layer2, addresses: [\"0.0.0.0/32\"]}\n"
	  "- {name: b, protocol: layer2, addresses: [\"::/128\"]}\n", NULL, NULL },
	{ "/32 pools side by side", CM,
	  "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.1/32]}\n"
	  "- {name: b, protocol: layer2, addresses: [192.0.2.2/32]}\n", NULL, NULL },
	{ "duplicate pool names", CM,
	  "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/25]}\n"
	  "- {name: a, protocol: layer2, addresses: [192.0.2.128/25]}\n",
	  "address-pools[1].name: duplicate definition of pool \"a\"", NULL },
	{ "unknown protocol", CM, "address-pools:\n- {name: a, protocol: bfd, addresses: [192.0.2.0/25]}\n",
	  "address-pools[0].protocol: unknown protocol \"bfd\"", NULL },
	{ "missing protocol", CM, "address-pools:\n- {name: a, addresses: [192.0.2.0/25]}\n",
	  "missing the protocol", NULL },
	{ "missing name", CM, "address-pools:\n- {protocol: layer2, addresses: [192.0.2.0/25]}\n",
	  "address-pools[0].name: missing pool name", NULL },
	{ "no addresses", CM, "address-pools:\n- {name: a, protocol: layer2}\n",
	  "address-pools[0].addresses: pool has no addresses", NULL },
	{ "unknown pool field", CM, "address-pools:\n- {name: a, protocol: layer2, adresses: [192.0.2.0/25]}\n",
	  "address-pools[0].adresses: unknown field", NULL },
	{ "unknown top field", CM, "address-pool: []\n", "address-pool: unknown field", NULL },
	{ "field twice", CM, "address-pools:\n- {name: a, name: b, protocol: layer2, addresses: [192.0.2.0/25]}\n",
	  "address-pools[0].name: field given twice", NULL },
	{ "bad auto-assign", CM, "address-pools:\n- {name: a, protocol: layer2, auto-assign: maybe, addresses: [192.0.2.0/25]}\n",
	  "auto-assign: must be true or false", NULL },
	{ "bgp-advertisements on layer2", CM,
	  "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/25], bgp-advertisements: [{}]}\n",
	  "address-pools[0].bgp-advertisements: cannot have", NULL },
	{ "yaml syntax", CM, "address-pools: [\n", "YAML:", NULL },
	{ "not a mapping", CM, "- a\n", "must be a mapping", NULL },
	/* communities */
	{ "undefined community", CM,
	  "address-pools:\n- name: a\n  protocol: bgp\n  addresses: [192.0.2.0/24]\n  bgp-advertisements:\n  - communities: [nope]\n",
	  "address-pools[0].bgp-advertisements[0].communities[0]: \"nope\" is neither", NULL },
	{ "community value too big", CM,
	  "address-pools:\n- name: a\n  protocol: bgp\n  addresses: [192.0.2.0/24]\n  bgp-advertisements:\n  - communities: [\"1:65536\"]\n",
	  "communities[0]: invalid community \"1:65536\"", NULL },
	{ "bad named community", CM, "bgp-communities:\n  x: 1:2:3\n",
	  "bgp-communities.x: \"1:2:3\" is not a community", NULL },
	{ "large community overflow", CM, "bgp-communities:\n  x: large:1:2:4294967296\n", "is not a community", NULL },
	{ "duplicate community in advertisement", CM,
	  "address-pools:\n- name: a\n  protocol: bgp\n  addresses: [192.0.2.0/24]\n  bgp-advertisements:\n  - communities: [\"1:2\", \"1:2\"]\n",
	  "communities[1]: duplicate definition", NULL },
	/* aggregation */
	{ "aggregation length above 32", CM,
	  "address-pools:\n- name: a\n  protocol: bgp\n  addresses: [192.0.2.0/24]\n  bgp-advertisements:\n  - aggregation-length: 33\n",
	  "aggregation-length: 33 is out of range 0..32", NULL },
	{ "aggregation length v6 above 128", CM,
	  "address-pools:\n- name: a\n  protocol: bgp\n  addresses: [192.0.2.0/24]\n  bgp-advertisements:\n  - aggregation-length-v6: 129\n",
	  "aggregation-length-v6: 129 is out of range", NULL },
	{ "aggregation shorter than the pool prefix", CM,
	  "address-pools:\n- name: a\n  protocol: bgp\n  addresses: [192.0.2.0/24]\n  bgp-advertisements:\n  - aggregation-length: 23\n",
	  "bgp-advertisements[0].aggregation-length: invalid aggregation length 23: prefix 24", NULL },
	{ "aggregation equal to the pool prefix", CM,
	  "address-pools:\n- name: a\n  protocol: bgp\n  addresses: [192.0.2.0/24]\n  bgp-advertisements:\n  - aggregation-length: 24\n",
	  NULL, NULL },
	{ "aggregation against a range's largest block", CM,
	  "address-pools:\n- name: a\n  protocol: bgp\n  addresses: [192.0.2.1-192.0.2.6]\n  bgp-advertisements:\n  - aggregation-length: 29\n",
	  "prefix 31", NULL },
	{ "aggregation by range (MetalLB's 3.3.3.2-3.3.3.254 case)", CM,
	  "address-pools:\n- name: a\n  protocol: bgp\n  addresses: [198.18.3.2-198.18.3.254]\n  bgp-advertisements:\n  - aggregation-length: 26\n",
	  NULL, NULL },
	{ "aggregation by range, too wide", CM,
	  "address-pools:\n- name: a\n  protocol: bgp\n  addresses: [198.18.3.2-198.18.3.254]\n  bgp-advertisements:\n  - aggregation-length: 25\n",
	  "invalid aggregation length 25: prefix 26", NULL },
	{ "aggregation vs a /32 pool", CM,
	  "address-pools:\n- name: a\n  protocol: bgp\n  addresses: [192.0.2.1/32]\n  bgp-advertisements:\n  - aggregation-length: 31\n",
	  "invalid aggregation length 31: prefix 32", NULL },
	{ "aggregation v6 shorter than the pool prefix", CM,
	  "address-pools:\n- name: a\n  protocol: bgp\n  addresses: [\"2001:db8::/64\"]\n  bgp-advertisements:\n  - aggregation-length-v6: 48\n",
	  "aggregation-length-v6: invalid aggregation length 48", NULL },
	/* peers */
	{ "peer missing my-asn", CM, "peers:\n- {peer-asn: 1, peer-address: 192.0.2.1}\n",
	  "peers[0].my-asn: missing local ASN", NULL },
	{ "peer missing peer-asn", CM, "peers:\n- {my-asn: 1, peer-address: 192.0.2.1}\n",
	  "peers[0].peer-asn: missing peer ASN", NULL },
	{ "peer bad address", CM, "peers:\n- {my-asn: 1, peer-asn: 2, peer-address: 192.0.2.300}\n",
	  "peers[0].peer-address: \"192.0.2.300\" is not an IP address", NULL },
	{ "peer missing address", CM, "peers:\n- {my-asn: 1, peer-asn: 2}\n", "peers[0].peer-address: missing", NULL },
	{ "peer v6 router id", CM, "peers:\n- {my-asn: 1, peer-asn: 2, peer-address: 192.0.2.1, router-id: \"2001:db8::1\"}\n",
	  "router-id: \"2001:db8::1\" is not an IPv4 address", NULL },
	{ "peer hold time too short", CM, "peers:\n- {my-asn: 1, peer-asn: 2, peer-address: 192.0.2.1, hold-time: 2s}\n",
	  "hold-time: invalid hold time \"2s\": must be 0 or >=3s", NULL },
	{ "peer hold time not a duration", CM, "peers:\n- {my-asn: 1, peer-asn: 2, peer-address: 192.0.2.1, hold-time: 90}\n",
	  "hold-time: invalid hold time \"90\"", NULL },
	{ "peer keepalive above hold", CM,
	  "peers:\n- {my-asn: 1, peer-asn: 2, peer-address: 192.0.2.1, hold-time: 9s, keepalive-time: 10s}\n",
	  "keepalive-time: invalid keepalive time", NULL },
	{ "peer zero hold", CM, "peers:\n- {my-asn: 1, peer-asn: 2, peer-address: 192.0.2.1, hold-time: 0s}\n", NULL, NULL },
	{ "ebgp multihop on ibgp", CM,
	  "peers:\n- {my-asn: 1, peer-asn: 1, peer-address: 192.0.2.1, ebgp-multihop: true}\n",
	  "ebgp-multihop: invalid ebgp-multihop parameter set for an ibgp peer", NULL },
	{ "duplicate peers", CM,
	  "peers:\n- {my-asn: 1, peer-asn: 2, peer-address: 192.0.2.1}\n- {my-asn: 1, peer-asn: 2, peer-address: 192.0.2.1}\n",
	  "peers[1]: peer already exists", NULL },
	{ "same address other port is no duplicate", CM,
	  "peers:\n- {my-asn: 1, peer-asn: 2, peer-address: 192.0.2.1}\n- {my-asn: 1, peer-asn: 2, peer-address: 192.0.2.1, peer-port: 1179}\n",
	  NULL, NULL },
	{ "undefined bfd profile", CM, "peers:\n- {my-asn: 1, peer-asn: 2, peer-address: 192.0.2.1, bfd-profile: x}\n",
	  "peers[0].bfd-profile: no bfd profile named \"x\"", NULL },
	{ "bfd value out of range", CM, "bfd-profiles:\n- {name: x, detect-multiplier: 1}\n",
	  "bfd-profiles[0].detect-multiplier: 1 is out of range 2..255", NULL },
	{ "duplicate bfd profile", CM, "bfd-profiles:\n- {name: x}\n- {name: x}\n", "duplicate bfd profile", NULL },
	{ "bad selector operator", CM,
	  "peers:\n- my-asn: 1\n  peer-asn: 2\n  peer-address: 192.0.2.1\n  node-selectors:\n  - match-expressions:\n    - {key: a, operator: in, values: [x]}\n",
	  "node-selectors[0].match-expressions[0].operator: \"in\" is not a valid", NULL },
	{ "selector In without values", CM,
	  "peers:\n- my-asn: 1\n  peer-asn: 2\n  peer-address: 192.0.2.1\n  node-selectors:\n  - match-expressions:\n    - {key: a, operator: In}\n",
	  "values: must be non-empty", NULL },
	{ "unknown peer field", CM, "peers:\n- {my-asn: 1, peer-asn: 2, peer-address: 192.0.2.1, peerASN: 3}\n",
	  "peers[0].peerASN: unknown field", NULL },
	/* resources */
	{ "crd host bits", CRD, POOL("pool-a", "192.0.2.0/24, 198.51.100.0/24, 203.0.113.9/24"),
	  "IPAddressPool pool-a: spec.addresses[2]: \"203.0.113.9/24\": is not a network", NULL },
	{ "crd overlap", CRD, POOL("a", "192.0.2.0/24") POOL("b", "192.0.2.0/30"),
	  "IPAddressPool b: spec.addresses[0]: 192.0.2.0/30 overlaps", NULL },
	{ "crd duplicate pool", CRD, POOL("a", "192.0.2.0/30") POOL("a", "192.0.2.4/30"),
	  "duplicate definition of pool \"a\"", NULL },
	{ "crd pool without addresses", CRD, POOL("a", ""), "spec.addresses: pool has no addresses", NULL },
	{ "crd unknown spec field", CRD,
	  "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: a}\nspec: {addresses: [192.0.2.0/30], autoassign: true}\n",
	  "IPAddressPool a: spec.autoassign: unknown field", NULL },
	{ "crd wrong apiVersion", CRD,
	  "apiVersion: metallb.io/v1\nkind: IPAddressPool\nmetadata: {name: a}\nspec: {addresses: [192.0.2.0/30]}\n",
	  "apiVersion \"metallb.io/v1\" is not served", NULL },
	{ "crd unknown kind", CRD, "apiVersion: metallb.io/v1beta1\nkind: AddressPool\nmetadata: {name: a}\n",
	  "not a metallb.io resource", NULL },
	{ "crd missing name", CRD, "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {}\nspec: {addresses: [192.0.2.0/30]}\n",
	  "metadata.name is missing", NULL },
	{ "crd undefined community", CRD, POOL("a", "192.0.2.0/24") BGPADV("{communities: [nope]}"),
	  "BGPAdvertisement adv: spec.communities[0]: \"nope\" is neither a community value nor the name of a Community", NULL },
	{ "crd aggregation vs all pools", CRD, POOL("a", "192.0.2.0/24") BGPADV("{aggregationLength: 16}"),
	  "BGPAdvertisement adv: spec.aggregationLength: invalid aggregation length 16: prefix 24", NULL },
	{ "crd aggregation vs other pool only", CRD,
	  POOL("a", "192.0.2.1/32") POOL("b", "198.51.100.0/24") BGPADV("{aggregationLength: 24, ipAddressPools: [b]}"),
	  NULL, NULL },
	{ "crd duplicate pool in advertisement", CRD, POOL("a", "192.0.2.0/24") BGPADV("{ipAddressPools: [a, a]}"),
	  "spec.ipAddressPools[1]: duplicate definition", NULL },
	{ "crd duplicate community name", CRD,
	  "apiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {name: c}\nspec:\n  communities:\n"
	  "  - {name: x, value: \"1:1\"}\n  - {name: x, value: \"1:2\"}\n",
	  "spec.communities[1]: duplicate definition of community \"x\"", NULL },
	{ "crd peer missing myASN", CRD, PEER("p", "{peerASN: 2, peerAddress: 192.0.2.1}"),
	  "BGPPeer p: spec.myASN: missing local ASN", NULL },
	{ "crd peer port above the schema's 16384", CRD,
	  PEER("p", "{myASN: 1, peerASN: 2, peerAddress: 192.0.2.1, peerPort: 20000}"),
	  "spec.peerPort: 20000 is out of range 1..16384", NULL },
	{ "crd aggregation length 0", CRD, POOL("a", "192.0.2.0/24") BGPADV("{aggregationLength: 0}"),
	  "spec.aggregationLength: 0 is out of range 1..32", NULL },
	{ "peer asn zero", CM, "peers:\n- {my-asn: 1, peer-asn: 0, peer-address: 192.0.2.1}\n",
	  "peers[0].peer-asn: missing peer ASN", NULL },
	{ "peer asn too big", CM, "peers:\n- {my-asn: 4294967296, peer-asn: 2, peer-address: 192.0.2.1}\n",
	  "peers[0].my-asn: 4294967296 is out of range", NULL },
	{ "crd peer keepalive only", CRD, PEER("p", "{myASN: 1, peerASN: 2, peerAddress: 192.0.2.1, keepaliveTime: 20s}"),
	  NULL, c_ka_only },
	{ "crd peer bad hold", CRD, PEER("p", "{myASN: 1, peerASN: 2, peerAddress: 192.0.2.1, holdTime: 1s}"),
	  "spec.holdTime: invalid hold time \"1s\"", NULL },
	{ "crd duplicate peer name", CRD,
	  PEER("p", "{myASN: 1, peerASN: 2, peerAddress: 192.0.2.1}") PEER("p", "{myASN: 1, peerASN: 2, peerAddress: 192.0.2.2}"),
	  "peer already exists", NULL },
	{ "crd peer unknown bfd profile", CRD, PEER("p", "{myASN: 1, peerASN: 2, peerAddress: 192.0.2.1, bfdProfile: f}"),
	  "BGPPeer p: spec.bfdProfile: no bfd profile named \"f\"", NULL },
	{ "crd peer with bfd profile", CRD,
	  PEER("p", "{myASN: 1, peerASN: 2, peerAddress: 192.0.2.1, bfdProfile: f}")
	  "---\napiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: f}\nspec: {receiveInterval: 300}\n",
	  NULL, NULL },
	{ "crd unsupported field warns", CRD, PEER("p", "{myASN: 1, peerASN: 2, peerAddress: 192.0.2.1, vrf: red}"),
	  NULL, NULL },
	{ "crd bad selector", CRD,
	  "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: l}\n"
	  "spec:\n  nodeSelectors:\n  - matchExpressions:\n    - {key: a, operator: Exists, values: [x]}\n",
	  "L2Advertisement l: spec.nodeSelectors[0].matchExpressions[0].values: must be empty", NULL },
	{ "crd duplicate selectors", CRD,
	  "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: l}\n"
	  "spec:\n  ipAddressPoolSelectors:\n  - matchLabels: {a: b}\n  - matchLabels: {a: b}\n",
	  "L2Advertisement l: spec.ipAddressPoolSelectors[1]: duplicate definition", NULL },
	{ "configmap ignored when resources exist", CRD,
	  POOL("a", "192.0.2.0/24")
	  "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: config, namespace: metallb-system}\n"
	  "data:\n  config: |\n    address-pools:\n    - {name: b, protocol: layer2, addresses: [198.51.100.0/24]}\n",
	  NULL, NULL },
	{ "configmap manifest", CRD,
	  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config, namespace: metallb-system}\n"
	  "data:\n  config: |\n    address-pools:\n    - {name: my-ip-space, protocol: layer2, addresses: [192.0.2.200-192.0.2.250]}\n",
	  NULL, c_seed },
};

static bool has_finding(const struct lb_errors *e, const char *want)
{
	for (size_t i = 0; i < e->n; i++) {
		char buf[1200];

		snprintf(buf, sizeof(buf), "%s: %s", e->v[i].path, e->v[i].msg);
		if (!e->v[i].warning && strstr(buf, want))
			return true;
	}
	return false;
}

static void dump(const struct lb_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		fprintf(stderr, "    %s%s: %s\n", e->v[i].warning ? "(warning) " : "", e->v[i].path, e->v[i].msg);
}

static void run_case(const struct tcase *t)
{
	struct lb_config_builder *b = lb_config_builder_new();
	struct lb_errors e = { 0 };
	struct lb_config *c = NULL;
	int r;

	CHECK(b != NULL);
	if (!b)
		return;
	if (t->fmt == CM)
		lb_config_add_configmap_text(b, t->text, strlen(t->text), &e);
	else
		lb_config_add_stream(b, "test", t->text, strlen(t->text), &e);
	r = lb_config_finish(b, &c, &e);
	if (!t->err) {
		if (r || e.n_errors) {
			fprintf(stderr, "case \"%s\": want valid, got:\n", t->name);
			dump(&e);
		}
		CHECK_EQ_INT(r, 0);
		CHECK_EQ_INT(e.n_errors, 0);
		if (!r && t->check)
			t->check(c);
	} else {
		CHECK_EQ_INT(r, -EINVAL);
		CHECK(c == NULL);
		if (!has_finding(&e, t->err)) {
			fprintf(stderr, "case \"%s\": want \"%s\", got:\n", t->name, t->err);
			dump(&e);
			CHECK(!"expected error missing");
		}
	}
	lb_config_free(c);
	lb_errors_free(&e);
	lb_config_builder_free(b);
}

/* The agent's path: one JSON object per call, escapes included. */
static void test_json_resources(void)
{
	static const char *objs[] = {
		"{\"apiVersion\":\"metallb.io/v1beta1\",\"kind\":\"IPAddressPool\",\"metadata\":{\"name\":\"p\\u00e9\","
		"\"namespace\":\"metallb-system\",\"labels\":{\"a\\/b\":\"x\\\"y\"}},\"spec\":{\"addresses\":"
		"[\"192.0.2.0/24\",\"2001:db8::/120\"],\"avoidBuggyIPs\":true},\"status\":{}}",
		"{\"apiVersion\":\"metallb.io/v1beta1\",\"kind\":\"L2Advertisement\",\"metadata\":{\"name\":\"l\"},\"spec\":{}}",
	};
	struct lb_config_builder *b = lb_config_builder_new();
	struct lb_errors e = { 0 };
	struct lb_config *c = NULL;

	for (size_t i = 0; i < 2; i++)
		CHECK_EQ_INT(lb_config_add_resource(b, objs[i], strlen(objs[i]), &e), 0);
	CHECK_EQ_INT(lb_config_finish(b, &c, &e), 0);
	dump(&e);
	if (c) {
		CHECK_EQ_INT(c->n_pools, 1);
		CHECK_EQ_STR(c->pools[0].name, "p\xc3\xa9");
		CHECK(c->pools[0].avoid_buggy_ips);
		CHECK_EQ_INT(c->pools[0].n_labels, 1);
		if (c->pools[0].n_labels) {
			CHECK_EQ_STR(c->pools[0].labels[0].key, "a/b");
			CHECK_EQ_STR(c->pools[0].labels[0].value, "x\"y");
		}
		CHECK_EQ_INT(c->n_l2_advs, 1);
	}
	lb_config_free(c);
	/* Two documents in one resource call are refused. */
	CHECK_EQ_INT(lb_config_add_resource(b, "{\"kind\":\"Community\"}\n---\n{}\n", 27, &e), -EINVAL);
	lb_errors_free(&e);
	lb_config_builder_free(b);
}

static void test_ranges(void)
{
	struct lb_range r;
	char err[160], buf[100];
	uint64_t s;

	CHECK_EQ_INT(lb_range_parse("192.0.2.0/24", &r, err, sizeof(err)), 0);
	CHECK_EQ_INT(lb_range_min_prefix(&r), 24);
	CHECK_EQ_INT(lb_range_size(&r), 256);
	lb_range_format(&r, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "192.0.2.0/24");
	CHECK_EQ_INT(lb_range_parse("192.0.2.1-192.0.2.6", &r, err, sizeof(err)), 0);
	CHECK_EQ_INT(lb_range_min_prefix(&r), 31);
	lb_range_format(&r, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "192.0.2.1-192.0.2.6");
	CHECK_EQ_INT(lb_range_parse("0.0.0.0/0", &r, err, sizeof(err)), 0);
	CHECK_EQ_INT(lb_range_min_prefix(&r), 0);
	CHECK_EQ_INT(lb_range_size(&r), 1ull << 32);
	CHECK_EQ_INT(lb_range_parse("::/0", &r, err, sizeof(err)), 0);
	CHECK_EQ_INT(lb_range_min_prefix(&r), 0);
	CHECK(lb_range_size(&r) == UINT64_MAX);
	CHECK_EQ_INT(lb_range_parse(":: - ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", &r, err, sizeof(err)), 0);
	CHECK_EQ_INT(lb_range_min_prefix(&r), 1);
	CHECK_EQ_INT(lb_range_parse("2001:db8::/128", &r, err, sizeof(err)), 0);
	CHECK_EQ_INT(lb_range_min_prefix(&r), 128);
	CHECK_EQ_INT(lb_range_parse("192.0.2.0/024x", &r, err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(lb_range_parse("192.0.2.0/", &r, err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(lb_range_parse("-", &r, err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(lb_range_parse("192.0.2.1-", &r, err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(lb_range_parse("192.0.2.1 /32", &r, err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(lb_parse_duration("1m30s", &s), 0);
	CHECK_EQ_INT(s, 90);
	CHECK_EQ_INT(lb_parse_duration("1.5h", &s), 0);
	CHECK_EQ_INT(s, 5400);
	CHECK_EQ_INT(lb_parse_duration("2500ms", &s), 0);
	CHECK_EQ_INT(s, 2);
	CHECK_EQ_INT(lb_parse_duration("0", &s), 0);
	CHECK_EQ_INT(lb_parse_duration("90", &s), -EINVAL);
	CHECK_EQ_INT(lb_parse_duration("s", &s), -EINVAL);
	CHECK_EQ_INT(lb_parse_duration("-5s", &s), -EINVAL);
}

/* Aliases make a small text name a huge tree: the walk stops at ferry's
 * limit instead of allocating it all. */
static void test_alias_amplification(void)
{
	struct lb_config_builder *b = lb_config_builder_new();
	struct lb_errors e = { 0 };
	struct lb_config *c = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	fprintf(f, "address-pools:\n- name: a\n  protocol: layer2\n  addresses: &a [");
	for (int i = 0; i < 250; i++)
		fprintf(f, "%s\"192.0.2.%d/32\"", i ? "," : "", i);
	fprintf(f, "]\n- &p {name: b, protocol: layer2, addresses: *a}\n");
	for (int i = 0; i < 1000; i++)
		fprintf(f, "- *p\n");
	fclose(f);
	CHECK(len < 20000);
	CHECK_EQ_INT(lb_config_add_configmap_text(b, text, len, &e), -EINVAL);
	CHECK_EQ_INT(lb_config_finish(b, &c, &e), -EINVAL);
	CHECK(has_finding(&e, "configuration too large"));
	CHECK(e.n <= 1001);
	free(text);
	lb_errors_free(&e);
	lb_config_builder_free(b);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	test_json_resources();
	test_ranges();
	test_alias_amplification();
	return test_done("lbip_config");
}
