/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What this node announces to one BGP peer: the desired RIB. A pure
 * function of the configuration, this node's Node facts and the Services'
 * addresses and endpoints, so it is unit-tested with plain data and every
 * recomputation starts from the present (no history).
 *
 * The rule is MetalLB v0.15.2's native BGP mode (speaker/bgp_controller.go
 * ShouldAnnounce, internal/bgp advertisement), per allocated address:
 *  - nothing when this node carries node.kubernetes.io/exclude-from-
 *    external-load-balancers or the NetworkUnavailable condition, or the
 *    peer's nodeSelectors do not select this node (no session at all);
 *  - externalTrafficPolicy Cluster: announced when some endpoint anywhere
 *    is ready or serving; Local: only when one on this node is;
 *  - every BGPAdvertisement that selects the address's pool (ipAddressPools
 *    by name, ipAddressPoolSelectors by the pool's labels; neither = every
 *    pool), this node (nodeSelectors; none = every node) and the peer
 *    (peers by name; none = every peer) yields one route: the address
 *    masked to aggregationLength(V6), LOCAL_PREF (iBGP only), communities.
 * Routes for one prefix from several advertisements or addresses merge:
 * the union of their communities, the highest LOCAL_PREF (MetalLB keys
 * its advertisements by prefix too; a union loses nothing configured).
 */
#ifndef FERRY_LBIP_BGP_RIB_H
#define FERRY_LBIP_BGP_RIB_H

#include "lbip/bgp_msg.h"
#include "lbip/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BGP_EXCLUDE_LABEL "node.kubernetes.io/exclude-from-external-load-balancers"

/* This node, as the rule needs it. Borrowed for the call. */
struct bgp_node {
	const char *name;
	const struct lb_label *labels;
	size_t n_labels;
	bool network_unavailable;
};

/* One Service with allocated addresses. Borrowed for the call. */
struct bgp_svc {
	const struct lb_addr *ips;	/* status.loadBalancer.ingress */
	size_t n_ips;
	bool local;			/* externalTrafficPolicy: Local */
	bool serving;			/* a ready-or-serving endpoint anywhere */
	bool local_serving;		/* ... on this node */
};

/* One prefix with its attributes. Communities sorted (standard before
 * large, then by value), without duplicates. */
struct bgp_route {
	struct bgp_prefix pfx;
	uint32_t local_pref;		/* 0: none (eBGP, or not configured) */
	struct lb_community *comms;
	size_t n_comms;
};

/* Sorted by prefix (family, address, length), one route per prefix. */
struct bgp_rib {
	struct bgp_route *r;
	size_t n, cap;
};

/* Does peer p keep a session from this node? (nodeSelectors, none = all) */
bool bgp_peer_selects_node(const struct lb_peer *p, const struct bgp_node *self);

/*
 * The desired RIB for cfg->peers[peer] from node `self`: 0 with *out
 * filled (its previous content freed), or -ENOMEM (*out then empty).
 * ibgp: peer_asn == my_asn (LOCAL_PREF is sent only then).
 */
int bgp_rib_compute(const struct lb_config *cfg, size_t peer, const struct bgp_node *self,
		    const struct bgp_svc *svcs, size_t n_svcs, struct bgp_rib *out);
void bgp_rib_free(struct bgp_rib *rib);
/* Deep copy; 0 or -ENOMEM. */
int bgp_rib_copy(struct bgp_rib *dst, const struct bgp_rib *src);
/* The route for pfx, or NULL. */
const struct bgp_route *bgp_rib_find(const struct bgp_rib *rib, const struct bgp_prefix *pfx);
/* Same attributes? (prefix not compared) */
bool bgp_route_attrs_equal(const struct bgp_route *a, const struct bgp_route *b);
int bgp_prefix_cmp(const struct bgp_prefix *a, const struct bgp_prefix *b);
/* "192.0.2.1/32" */
void bgp_prefix_format(const struct bgp_prefix *p, char *buf, size_t len);

/* The difference old -> new: withdraw what new lacks, (re)announce what
 * is new or whose attributes changed. Both lists sorted by prefix. */
struct bgp_rib_diff {
	struct bgp_prefix *withdraw;
	size_t n_withdraw;
	const struct bgp_route **announce;	/* pointers into new */
	size_t n_announce;
};
int bgp_rib_diff(const struct bgp_rib *old, const struct bgp_rib *new_rib, struct bgp_rib_diff *d);
void bgp_rib_diff_free(struct bgp_rib_diff *d);

/* How the UPDATEs of one session are written. */
struct bgp_out_params {
	struct bgp_ctx ctx;		/* as negotiated (as4, ibgp) */
	uint32_t local_as;
	bool ipv4, ipv6;		/* families negotiated; others are not sent */
	struct lb_addr nh4, nh6;	/* next hops; family 0: that family is not sent */
	struct lb_addr nh6_ll;		/* family 6: the link-local beside nh6 (RFC 2545
					 * 32-byte next hop, for a directly connected peer) */
};

/* One encoded message. */
struct bgp_wire {
	uint8_t *b;
	size_t len;
};
struct bgp_wire_list {
	struct bgp_wire *m;
	size_t n, cap;
	size_t n_prefixes;		/* routes announced by them (for the counters) */
	size_t n_withdrawn;
};

/*
 * The UPDATE messages for d: withdrawals first (IPv4 in the withdrawn
 * field, IPv6 in MP_UNREACH_NLRI), then announcements grouped by
 * attributes (IPv4 as NLRI with NEXT_HOP, IPv6 in MP_REACH_NLRI), each
 * message at most 4096 bytes. Routes of a family not sent are skipped.
 * Appends to out; 0, -ENOMEM, or -EINVAL (a route the wire cannot carry).
 */
int bgp_rib_updates(const struct bgp_rib_diff *d, const struct bgp_out_params *o,
		    struct bgp_wire_list *out);
/* End-of-RIB for each family sent, appended. */
int bgp_rib_eor(const struct bgp_out_params *o, struct bgp_wire_list *out);
void bgp_wire_list_free(struct bgp_wire_list *l);

#endif
