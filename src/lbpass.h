/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The LoadBalancer Services of one speaker pass, from the caches: what the
 * layer-2 and BGP speakers both start a pass with (lbip/svcindex.h holds
 * them).
 */
#ifndef FERRY_SRC_LBPASS_H
#define FERRY_SRC_LBPASS_H

#include "kube/informer.h"
#include "lbip/svcindex.h"

/* Index our Services (lb_class) that have an ingress IP: entries of `size`
 * bytes, zeroed, struct lb_svc_entry first. inf NULL adds nothing. 0, or
 * -ENOMEM (the pass fails: the speakers do not act on half a view). */
int lbpass_services(struct lb_svc_index *x, const struct kube_informer *inf, const char *lb_class,
		    size_t size);

/* fn for each endpoint that is ready or serving, of each indexed Service
 * (inf NULL: none). */
typedef void lbpass_endpoint_fn(void *arg, struct lb_svc_entry *e, const struct kube_endpoint *ep);
void lbpass_endpoints(const struct lb_svc_index *x, const struct kube_informer *inf,
		      lbpass_endpoint_fn *fn, void *arg);

#endif
