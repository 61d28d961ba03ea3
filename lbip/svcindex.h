/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The LoadBalancer Services of one announcer pass, indexed by
 * "namespace/name" so that an EndpointSlice finds its Service. Pure (plain
 * data and kube/objects.h structs); the layer-2 and BGP speakers fill it
 * from the caches through src/lbpass.c.
 */
#ifndef FERRY_LBIP_SVCINDEX_H
#define FERRY_LBIP_SVCINDEX_H

#include "core/hash.h"
#include "core/vec.h"
#include "kube/objects.h"
#include "lbip/config.h"

#define LB_SVC_KEY_MAX 320

/* One Service with addresses: the first member of a speaker's own entry
 * (the index frees entries with free()). */
struct lb_svc_entry {
	struct hnode node;
	const struct kube_service *svc;	/* borrowed for the pass */
	char key[LB_SVC_KEY_MAX];	/* "namespace/name" */
	struct lb_addr ips[2];
	size_t n_ips;
};

struct lb_svc_index {
	struct htab h;
	VEC(struct lb_svc_entry *) list;	/* in the order added */
};

/* The first two parsable ingress IPs of s (hostnames skipped): how many. */
size_t lb_svc_ingress_ips(const struct kube_service *s, struct lb_addr ips[2]);

/* Key e as ns/name and add it. 0, or -ENOMEM and e is not in x. */
int lb_svc_index_add(struct lb_svc_index *x, struct lb_svc_entry *e, const char *ns,
		     const char *name);
struct lb_svc_entry *lb_svc_index_find(const struct lb_svc_index *x, const char *ns,
				       const char *name);
/* free() every entry, then the index. */
void lb_svc_index_free(struct lb_svc_index *x);

#endif
