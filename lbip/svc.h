/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A Service as the API gives it (kube/objects.h) -> the allocator's view
 * (struct lb_svc). Pure: decides which Services ferry allocates for and
 * reads MetalLB's annotations, both spellings.
 */
#ifndef FERRY_LBIP_SVC_H
#define FERRY_LBIP_SVC_H

#include "kube/objects.h"
#include "lbip/alloc.h"

/* MetalLB's default class name: a Service that names it is ours too. */
#define LB_DEFAULT_CLASS "metallb.io/metallb"

/* type: LoadBalancer with no loadBalancerClass, or with `lb_class`. */
bool lb_svc_is_ours(const struct kube_service *s, const char *lb_class);

/* The storage behind one struct lb_svc. */
struct lb_svc_view {
	struct lb_svc svc;
	struct lb_label *labels;	/* labels, ns labels, selector: one array */
	struct lb_port *ports;
	struct lb_addr *status_ips;
};

/* Fill v from s and its Namespace (NULL: no labels). Borrows s's strings:
 * valid while s is. 0 or -ENOMEM. Unparsable status addresses are skipped
 * (an ingress hostname is not ours to keep). */
int lb_svc_view_init(struct lb_svc_view *v, const struct kube_service *s,
		     const struct kube_namespace *ns);
void lb_svc_view_free(struct lb_svc_view *v);

/* The annotation value, metallb.io/ first, then metallb.universe.tf/. */
const char *lb_svc_annotation(const struct kube_service *s, const char *suffix);

#endif
