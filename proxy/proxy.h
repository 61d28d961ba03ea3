/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proxy/: kube-proxy's Service semantics, as pure computation.
 *
 * Input: the cached Services, EndpointSlices and this Node (kube/objects.h)
 * and the proxy configuration. Output: the desired forwarding state of
 * nft/model.h, one `struct fsvc` per Service port. Nothing here touches the
 * network or the API; the agent feeds it and hands the result to nft/.
 *
 * Where this file is silent it does what kube-proxy (nftables mode) does:
 *  - headless and ExternalName Services, and Services labelled
 *    service.kubernetes.io/service-proxy-name (they belong to another
 *    proxy), are not forwarded;
 *  - EndpointSlices are joined to their Service by the label
 *    kubernetes.io/service-name and to a Service port by port name and
 *    protocol; an endpoint listed by several slices counts once (the ready
 *    copy wins);
 *  - status.loadBalancer.ingress IPs are captured for LoadBalancer Services
 *    unless their ipMode is Proxy; loadBalancerSourceRanges guard them;
 *  - externalTrafficPolicy applies to NodePorts, externalIPs and LoadBalancer
 *    IPs, internalTrafficPolicy to cluster IPs;
 *  - topology: with trafficDistribution PreferClose (or hints), when every
 *    endpoint carries zone hints and one names this node's zone, only the
 *    endpoints hinted for this zone take cluster-wide traffic.
 */
#ifndef FERRY_PROXY_PROXY_H
#define FERRY_PROXY_PROXY_H

#include "kube/objects.h"
#include "nft/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct proxy_config {
	const char *node_name;
	/* --nodeport-addresses: CIDRs, or the one word "primary" (the default
	 * of kube-proxy's nftables mode: the Node's InternalIPs). */
	const char *const *nodeport_addresses;
	size_t n_nodeport_addresses;
	/* --cluster-cidr: pod traffic detection (local_mode DEFAULT or
	 * CLUSTER_CIDR). */
	const char *const *cluster_cidrs;
	size_t n_cluster_cidrs;
	/* --detect-local-mode: how traffic from this node's pods is told
	 * apart (kube-proxy's detectLocalMode). DEFAULT: the cluster CIDRs,
	 * else the Node's podCIDRs (ferry's default when none is given);
	 * CLUSTER_CIDR: the cluster CIDRs only (none: no pod traffic, as
	 * kube-proxy); NODE_CIDR: the Node's podCIDRs; BRIDGE: arriving on
	 * interface local_iface; IFACE_PREFIX: on an interface whose name
	 * starts with local_iface. */
	enum proxy_local_mode {
		PROXY_LOCAL_DEFAULT,
		PROXY_LOCAL_CLUSTER_CIDR,
		PROXY_LOCAL_NODE_CIDR,
		PROXY_LOCAL_BRIDGE,
		PROXY_LOCAL_IFACE_PREFIX,
	} local_mode;
	const char *local_iface;
	bool masquerade_all;
	/* 1 << masqueradeBit; 0: 1 << 14 */
	uint32_t masq_mark;
	/* --service-cluster-ip-range (with the ServiceCIDR objects of
	 * proxy_input): traffic to unallocated addresses in them is dropped;
	 * none: no check. */
	const char *const *service_cidrs;
	size_t n_service_cidrs;
};

/* What the build saw, for logs and metrics. */
struct proxy_stats {
	size_t services, service_ports, endpoints, skipped_services;
	size_t over_budget;	/* Services left out: over PROXY_SVC_ELEMENT_BUDGET */
};

/* The most nftables elements one Service may cost (about: addresses x
 * (endpoints + 2) per port); over it the Service is left out with a log
 * line. 100,000 is 50 ports x 2 addresses x 1,000 endpoints. */
#define PROXY_SVC_ELEMENT_BUDGET 100000

/*
 * Iteration over a cache: calls fn for every object until it returns
 * non-zero. The agent passes kube_informer_foreach; tests pass arrays.
 */
typedef void (*proxy_foreach_fn)(const void *cache,
				 int (*fn)(void *arg, const struct kube_object *o), void *arg);

struct proxy_input {
	const struct kube_node *node;		/* this node; may be NULL until seen */
	proxy_foreach_fn foreach;
	const void *services, *slices;		/* caches handed to foreach */
	/* Optional: the ServiceCIDR objects (networking.k8s.io/v1), added to
	 * proxy_config's service_cidrs; NULL: none. */
	const void *service_cidrs;
	/* Optional, for a sync of what changed: build only the Services named
	 * here ("namespace/name", sorted by strcmp, each once; a name missing
	 * from the cache builds nothing), looked up with `get`. `out` then
	 * holds only their ports; the node part is built as usual. */
	const char *const *only;
	size_t n_only;
	const struct kube_object *(*get)(const void *cache, const char *ns, const char *name);
	/* Optional with `only`: visits the EndpointSlices of Service ns/name
	 * (a slice index) instead of a walk over all of `slices`. */
	void (*slices_of)(const void *arg, const char *ns, const char *name,
			  int (*fn)(void *, const struct kube_object *), void *fn_arg);
	const void *slices_of_arg;
	/* Optional: told when a Service is left out or narrowed for a reason
	 * its owner should see (the agent sends an Event): `reason` is one
	 * CamelCase word, `msg` a sentence. */
	void (*problem)(void *arg, const struct kube_object *svc, const char *reason,
			const char *msg);
	void *problem_arg;
};

/*
 * Builds the desired state into `out` (initialised by the caller, emptied
 * first). Returns 0 or -ENOMEM. Objects with values ferry cannot use (a bad
 * IP, an unknown protocol) are skipped with a log line naming them; the
 * rest of the state is built as usual.
 */
int proxy_build(const struct proxy_config *cfg, const struct proxy_input *in,
		struct fstate *out, struct proxy_stats *stats);

/*
 * Whether a Service is this proxy's at all: kube-proxy (v1.37.2,
 * cmd/kube-proxy/app/server.go) lists Services with the label selector
 * "!service.kubernetes.io/service-proxy-name" (any value makes it
 * another's) and clusterIP != None; `service.kubernetes.io/headless`
 * filters EndpointSlices only (the agent's slice informer), not Services.
 * ferry's informer lists every Service (the LoadBalancer allocator needs
 * them all), so the proxier drops the rest here: proxy_build skips them,
 * and a Service that gains the label leaves the data plane as if it had
 * been deleted.
 */
bool proxy_service_ours(const struct kube_object *o);

/* kube-proxy's name of a mode ("ClusterCIDR", ...) -> the mode; -1: none. */
int proxy_local_mode_parse(const char *s);

/* Whether NodePorts wait for this Node: nodePortAddresses names
 * "primary" (or is empty) and the Node is unknown. Until it is known they
 * are served on no address (kube-proxy waits for its Node at start, up to
 * 30 s, before it programs anything). */
bool proxy_nodeports_wait(const struct proxy_config *cfg, const struct kube_node *node);

/* Whether two versions of a Node give the same forwarding state (its
 * InternalIPs, podCIDRs and zone label are all proxy_build reads). */
bool proxy_node_same(const struct kube_node *a, const struct kube_node *b);

/* "namespace/name" (a Service of `only`): the namespace into ns, the name
 * follows at key + strlen(ns) + 1; false when malformed or too long. */
bool proxy_split_key(const char *key, char *ns, size_t len);

/* The key of a Service port in the model, also the nft element comment:
 * "namespace/name:portname/proto", or "namespace/name:80/proto" for an
 * unnamed port. */
void proxy_svc_key(char *buf, size_t len, const char *ns, const char *name,
		   const char *port_name, uint16_t port, const char *proto);

#endif
