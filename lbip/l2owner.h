/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Layer-2 ownership: which one node answers ARP/NDP for an allocated
 * address. A pure function of data every agent has (the configuration, the
 * Node objects, the Service's endpoints, and the heartbeat layer's view of
 * who is alive), so every node computes the same owner without talking to
 * the API server, and no API write is made per Service.
 *
 * The rule is MetalLB v0.15.2's (speaker/layer2_controller.go
 * ShouldAnnounce), so a cluster half-migrated from MetalLB agrees with it:
 *  - nothing is announced unless the Service has a ready-or-serving endpoint;
 *  - candidates: nodes selected by an L2Advertisement that selects the
 *    address's pool (ipAddressPools by name, ipAddressPoolSelectors against
 *    the pool's labels; neither = every pool) through its nodeSelectors
 *    (none = every node), minus nodes labelled
 *    node.kubernetes.io/exclude-from-external-load-balancers or with the
 *    NetworkUnavailable condition; ferry also drops nodes that are not Ready
 *    or not alive by the heartbeat (MetalLB's memberlist does the latter);
 *  - externalTrafficPolicy Local: only candidates with a local endpoint;
 *  - the owner is the candidate with the smallest
 *    sha256(node name + "#" + address text), bytes compared in order.
 * For a dual-stack Service, pass its first address (IPv4, as lb_result
 * orders them) as the key for both, so both families land on one node.
 *
 * No stickiness: when a node comes back, the addresses that hash to it move
 * back. That is what makes the owner a function of the present alone (no
 * history to agree on after a partition heals or an agent restarts), and the
 * heartbeat's listen-before-claim rule keeps the move free of double
 * answers (docs/l2.md).
 */
#ifndef FERRY_LBIP_L2OWNER_H
#define FERRY_LBIP_L2OWNER_H

#include <stdbool.h>
#include <stddef.h>

#include "lbip/config.h"

#define L2_EXCLUDE_LABEL "node.kubernetes.io/exclude-from-external-load-balancers"

/* One Node as the owner function needs it. Borrowed for the call. Node
 * names are unique (the API guarantees it). */
struct l2_node {
	const char *name;
	const struct lb_label *labels;	/* metadata.labels */
	size_t n_labels;
	bool ready;			/* condition Ready is True */
	bool network_unavailable;	/* condition NetworkUnavailable is True */
	bool alive;			/* the heartbeat says so (l2live_counts) */
};

/* What the owner function needs of a Service. */
struct l2_svc {
	bool local;			/* externalTrafficPolicy: Local */
	bool serving;			/* some endpoint anywhere is ready or serving */
	const char *const *endpoint_nodes;	/* nodes with a ready-or-serving
						 * local endpoint (Local only) */
	size_t n_endpoint_nodes;
};

/* Can `node` be a candidate for an address of pool `pool` (a pool name from
 * cfg) under some L2Advertisement, leaving out liveness and endpoints? */
bool l2_node_eligible(const struct lb_config *cfg, const char *pool, const struct l2_node *node);

/* Index in nodes[] of the owner of `ip` (of pool `pool`, of Service svc),
 * or -1 when nobody announces it. The order of nodes[] does not matter. */
int l2_owner(const struct lb_config *cfg, const char *pool, const struct lb_addr *ip,
	     const struct l2_svc *svc, const struct l2_node *nodes, size_t n_nodes);

/* Does `node` announce `pool`'s addresses on interface `ifname`? The union
 * of the interfaces of every L2Advertisement that selects the pool and the
 * node; one without interfaces means every interface. */
bool l2_interface_allowed(const struct lb_config *cfg, const char *pool, const struct l2_node *node,
			  const char *ifname);

/* One address to decide, for l2_owned. */
struct l2_ip {
	struct lb_addr ip;		/* the key (first address of the Service) */
	const char *pool;
	const struct l2_svc *svc;
};

/* For n addresses, which ones node `self` owns: owned[i]. Same answers as
 * l2_owner, computed once per node and pool instead of once per address.
 * 0, or -ENOMEM (owned[] then all false). */
int l2_owned(const struct lb_config *cfg, const struct l2_ip *ips, size_t n,
	     const struct l2_node *nodes, size_t n_nodes, const char *self, bool *owned);

/* The ranking key, sha256(node + "#" + address text); exposed for tests. */
void l2_rank_key(const char *node, const struct lb_addr *ip, unsigned char out[32]);

#endif
