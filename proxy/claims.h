/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One address and port, two claimants (issue 17; the class of
 * CVE-2020-8554): a tenant's externalIPs or a LoadBalancer ingress IP equal
 * to another Service's ClusterIP and port, or two Services on one external
 * IP:port/proto. The kernel takes one element per (address, proto, port);
 * which Service gets it must not depend on sync order. The rule:
 *
 *   a ClusterIP wins (the apiserver allocated it), then the oldest Service
 *   (creationTimestamp; none counts as newest), then namespace/name;
 *
 * and only the conflicting address of the losing port is left out (the loser
 * keeps its other addresses and ports, and its own ClusterIP).
 *
 * The index (address, proto, port) -> claimants, best first, lives across
 * syncs and is updated with the Services a sync rebuilds, so a sync of one
 * change stays O(that change). When a change moves a key's winner, the old
 * and the new winner are rebuilt with it.
 */
#ifndef FERRY_PROXY_CLAIMS_H
#define FERRY_PROXY_CLAIMS_H

#include "proxy/proxy.h"

struct claims;

struct claims *claims_new(void);
void claims_free(struct claims *c);

/* Claims left out now: every claimant of a key but its winner. */
size_t claims_conflicts(const struct claims *c);

/* One address a Service port lost. */
struct claim_loss {
	const char *svc;		/* "namespace/name" of the loser */
	const char *winner;		/* "namespace/name" */
	bool winner_cluster;		/* the winner holds it as its ClusterIP */
	const char *field;		/* where the loser wrote it: "clusterIPs",
					 * "externalIPs", "status.loadBalancer.ingress" */
	const struct faddr *addr;
	uint8_t proto;
	uint16_t port;
};
typedef void (*claims_lost_fn)(void *arg, const struct claim_loss *l);

/* The Services a sync covered: `only` and the ones whose claims moved. */
struct claim_set {
	const char **v;			/* sorted, each once */
	size_t n;
	char **own;			/* names added here, freed by claim_set_free */
	size_t n_own;
};
void claim_set_free(struct claim_set *s);

/*
 * proxy_build, fstate_drop_bad, then the claims: with in->only the index
 * takes the new claims of those Services and `covered` names every Service
 * whose ports are in `out` (the proxier replaces those in what it applied);
 * without, the index is brought to the whole state (`covered` empty).
 * `lost` is called for a loss not reported before (NULL: none). 0, or
 * -ENOMEM (the index may then be partly updated: rebuild everything).
 */
int claims_build(struct claims *c, const struct proxy_config *cfg, const struct proxy_input *in,
		 struct fstate *out, struct proxy_stats *st, struct claim_set *covered,
		 claims_lost_fn lost, void *arg);

/* The losses of port `proto`/`port` of Service `svc` ("namespace/name"),
 * for `ferry status`. */
void claims_lost_of(const struct claims *c, const char *svc, uint8_t proto, uint16_t port,
		    claims_lost_fn fn, void *arg);

#endif
