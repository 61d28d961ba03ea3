/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The LoadBalancer IP allocator: which Service gets which address of which
 * pool. Pure computation (no I/O): the agent feeds it the configuration and
 * one Service at a time and writes the result to status.loadBalancer.
 * MetalLB v0.15.2's internal/allocator is the behavioural reference:
 *
 *  - A Service keeps its addresses as long as it still asks for them: its
 *    recorded allocation (or, after a restart, its status) is re-checked and
 *    kept; only a change of the Service (requested IPs, pool annotation,
 *    sharing that no longer fits, a pool that now refuses it) makes it move.
 *    Unlike MetalLB, an address that left every pool (pool shrunk or
 *    deleted) is kept too and reported as an orphan.
 *  - Requested IPs (spec.loadBalancerIP or the loadBalancerIPs annotation,
 *    at most one per family) are taken as they are or fail; a requested pool
 *    (address-pool annotation) must exist and serve the Service; either may
 *    use a pool without autoAssign.
 *  - Otherwise: first the autoAssign pools whose serviceAllocation serves the
 *    Service (priority 1, 2, ... then unset, ties in configuration order),
 *    then the autoAssign pools without serviceAllocation (configuration
 *    order); in a pool, its ranges in order, in a range the lowest usable
 *    address. Deterministic.
 *  - Sharing: both Services carry the same non-empty allow-shared-ip key, no
 *    (protocol, port) is used twice, and equal backend keys: a Local-policy
 *    Service's key is its selector, a Cluster one's is empty (MetalLB's
 *    k8salloc.BackendKey), so Local needs Local with the same selector.
 *  - Dual stack: one address per family; RequireDualStack fails without
 *    both, PreferDualStack takes what exists (a pool with both families is
 *    preferred over an earlier one with one) and later adds the missing
 *    family from the same pool when it can.
 *
 * Cost: one hash lookup per Service; picking a free address is amortized
 * O(1) per range (a per-range cursor below which every address is used),
 * never a scan of the pool, so a /64 is as cheap as a /24.
 */
#ifndef FERRY_LBIP_ALLOC_H
#define FERRY_LBIP_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lbip/config.h"

enum lb_l4 { LB_TCP, LB_UDP, LB_SCTP };	/* same numbers as enum kube_protocol */

struct lb_port {
	uint8_t proto;			/* enum lb_l4 */
	uint16_t port;
};

enum lb_family_policy { LB_SINGLE_STACK, LB_PREFER_DUAL_STACK, LB_REQUIRE_DUAL_STACK };

/* One Service as the allocator sees it. Everything is borrowed for the
 * duration of the call only. NULL strings and empty ones are the same. */
struct lb_svc {
	const char *ns, *name;
	const struct lb_label *labels;	/* metadata.labels (serviceSelectors) */
	size_t n_labels;
	const struct lb_label *ns_labels;	/* its Namespace's labels (namespaceSelectors) */
	size_t n_ns_labels;
	int64_t created;		/* creationTimestamp, seconds: lb_svc_cmp_age */
	/* Raw request text; lb_svc_requested() parses it. Both set is an error. */
	const char *load_balancer_ip;	/* spec.loadBalancerIP */
	const char *lb_ips_annotation;	/* metallb.io/loadBalancerIPs (or .universe.tf) */
	const char *pool;		/* .../address-pool */
	const char *sharing_key;	/* .../allow-shared-ip */
	enum lb_family_policy policy;
	uint8_t families[2];		/* spec.ipFamilies in order: 4, 6; none = {4} */
	size_t n_families;
	const struct lb_port *ports;
	size_t n_ports;
	bool local;			/* externalTrafficPolicy: Local */
	const struct lb_label *selector;	/* spec.selector (backend key when local) */
	size_t n_selector;
	const struct lb_addr *status_ips;	/* status.loadBalancer.ingress[].ip, parsed */
	size_t n_status_ips;
};

#define LB_REASON_MAX 256
#define LB_NAME_MAX 254

struct lb_result {
	struct lb_addr ips[2];		/* IPv4 first, as MetalLB writes them */
	size_t n_ips;
	char pool[LB_NAME_MAX];		/* the pool the addresses are from ("" if none) */
	bool orphan;			/* kept, but no pool holds the addresses any more */
	char reason[LB_REASON_MAX];	/* failure: the AllocationFailed Event text */
};

struct lb_alloc;

struct lb_alloc *lb_alloc_new(void);
void lb_alloc_free(struct lb_alloc *a);

/* Use these pools from now on. cfg (and what it points to) must stay valid
 * until the next call or lb_alloc_free. Existing allocations are kept:
 * their pool is looked up again, and those whose addresses left every pool
 * become orphans. 0 or -ENOMEM (the old configuration then stays). */
int lb_alloc_set_config(struct lb_alloc *a, const struct lb_config *cfg);

/* Decide s's addresses and record them. 0 with out->ips set, or -1 with
 * out->reason set (s then holds nothing here; the caller clears its status
 * and emits the Event), or -ENOMEM. Calling it again for an unchanged
 * Service returns the same addresses. Without a recorded allocation it
 * first tries s->status_ips, as lb_alloc_restore does. */
int lb_alloc_assign(struct lb_alloc *a, const struct lb_svc *s, struct lb_result *out);

/* Seed from a Service's current status (s->status_ips) before anything new
 * is assigned: after a restart or a leader change, call it for every
 * LoadBalancer Service, oldest first (lb_svc_cmp_age), so that of two
 * Services claiming one address the older keeps it. Records the addresses
 * whatever the pools say (lb_alloc_assign judges them), unless they clash
 * with what is already recorded. 0 (also when there is nothing to restore),
 * -1 with out->reason, or -ENOMEM. out may be NULL. */
int lb_alloc_restore(struct lb_alloc *a, const struct lb_svc *s, struct lb_result *out);

/* Forget ns/name's addresses (Service deleted, or no longer a LoadBalancer). */
void lb_alloc_release(struct lb_alloc *a, const char *ns, const char *name);

/* The current allocation of ns/name: true and *out filled, or false. */
bool lb_alloc_get(const struct lb_alloc *a, const char *ns, const char *name, struct lb_result *out);

/* Parse a Service's requested addresses: 0..2 addresses into ips (at most
 * one per family), or -1 with reason set. */
int lb_svc_requested(const struct lb_svc *s, struct lb_addr ips[2], size_t *n, char *reason, size_t len);

/* Order for restoring: older first, then namespace, then name. */
int lb_svc_cmp_age(const struct lb_svc *x, const struct lb_svc *y);

/* ---- statistics and listing (metrics, `ferry status`) ---- */

struct lb_pool_stats {
	const char *name;
	/* addresses, .0/.255 left out when avoid-buggy-ips; UINT64_MAX when
	 * larger than that (a big IPv6 range) */
	uint64_t size, size_v4, size_v6;
	uint64_t in_use, in_use_v4, in_use_v6;	/* distinct addresses */
};

size_t lb_alloc_n_pools(const struct lb_alloc *a);
/* Pool i of the configuration, 0 <= i < lb_alloc_n_pools. */
void lb_alloc_pool_stats(const struct lb_alloc *a, size_t i, struct lb_pool_stats *out);
size_t lb_alloc_n_orphans(const struct lb_alloc *a);	/* Services holding orphans */

struct lb_alloc_entry {
	const char *ns, *name;
	const char *pool;		/* the pool it came from (even when orphan) */
	bool orphan;
	const struct lb_addr *ips;
	size_t n_ips;
};
/* Every Service's allocation, sorted by namespace and name. 0 or -ENOMEM. */
int lb_alloc_walk(const struct lb_alloc *a,
		  void (*fn)(void *ctx, const struct lb_alloc_entry *e), void *ctx);

#endif
