/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stale UDP conntrack entries after a sync, kube-proxy v1.37's way
 * (pkg/proxy/conntrack/cleanup.go), from the nft/ desired states:
 *
 *  - run only when a UDP Service port appeared, went away or changed
 *    (kube-proxy's ConntrackCleanupRequired): proxy_ct_needed;
 *  - every UDP frontend of the new state (cluster, external and
 *    load-balancer IPs with the port, and *:NodePort) keeps only the flows
 *    DNAT'ed to one of its serving endpoints; the flows of a frontend with
 *    none go too (the reject rule cannot catch flows already DNAT'ed);
 *  - frontends of UDP Service ports that were deleted lose all their flows
 *    (ferry does this beyond kube-proxy v1.37, whose reconciler only sees
 *    current Services, so such flows lived on until they idled out).
 *
 * Stateless against the kernel: it repairs what a restart missed. Pure:
 * src/ctclean.c sends the deletes.
 */
#ifndef FERRY_PROXY_CTSYNC_H
#define FERRY_PROXY_CTSYNC_H

#include "nft/conntrack.h"

#include <stdbool.h>
#include <stddef.h>

struct fstate;

/* A UDP service port differs between the two states (either may be NULL:
 * empty). Both sorted by key (fstate_sort). */
bool proxy_ct_needed(const struct fstate *old, const struct fstate *cur);

/* The frontends to reconcile, per family ([0] IPv4, [1] IPv6). */
struct proxy_ct {
	struct ct_frontend *f[2];
	size_t n[2];
	struct ct_backend *b;	/* the frontends' serving lists point here */
	size_t n_b;
};

/* 0 or -ENOMEM; free with proxy_ct_free either way. */
int proxy_ct_build(const struct fstate *old, const struct fstate *cur, struct proxy_ct *out);
void proxy_ct_free(struct proxy_ct *c);

/* src/ctclean.h sends what these compute (nft/conntrack.h). */

#endif
