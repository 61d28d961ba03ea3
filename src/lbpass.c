// SPDX-License-Identifier: GPL-2.0-or-later
/* src/lbpass.h: a speaker pass's Services and endpoints, from the caches. */
#include "src/lbpass.h"

#include "lbip/svc.h"

#include <errno.h>
#include <stdlib.h>

struct svc_walk {
	struct lb_svc_index *x;
	const char *lb_class;
	size_t size;
	int err;
};

static int add_svc(void *arg, const struct kube_object *o)
{
	struct svc_walk *w = arg;
	const struct kube_service *svc = kube_service(o);
	struct lb_svc_entry *e;

	if (!lb_svc_is_ours(svc, w->lb_class) || !svc->n_lb_ingress)
		return 0;
	if (!(e = calloc(1, w->size))) {
		w->err = -ENOMEM;
		return 1;
	}
	e->svc = svc;
	/* an ingress with only hostnames is not ours to announce */
	if (!(e->n_ips = lb_svc_ingress_ips(svc, e->ips))) {
		free(e);
		return 0;
	}
	if (lb_svc_index_add(w->x, e, o->namespace, o->name) < 0) {
		free(e);
		w->err = -ENOMEM;
		return 1;
	}
	return 0;
}

int lbpass_services(struct lb_svc_index *x, const struct kube_informer *inf, const char *lb_class,
		    size_t size)
{
	struct svc_walk w = { x, lb_class, size, 0 };

	if (inf)
		kube_informer_foreach(inf, add_svc, &w);
	return w.err;
}

struct ep_walk {
	const struct lb_svc_index *x;
	lbpass_endpoint_fn *fn;
	void *arg;
};

static int visit_slice(void *arg, const struct kube_object *o)
{
	struct ep_walk *w = arg;
	const struct kube_endpointslice *es = kube_endpointslice(o);
	struct lb_svc_entry *e;

	if (!es || !es->service_name || !(e = lb_svc_index_find(w->x, o->namespace, es->service_name)))
		return 0;
	for (uint32_t i = 0; i < es->n_endpoints; i++) {
		const struct kube_endpoint *ep = &es->endpoints[i];

		/* ready unset means ready (the API's rule) */
		if (ep->ready == 0 && ep->serving != 1)
			continue;
		w->fn(w->arg, e, ep);
	}
	return 0;
}

void lbpass_endpoints(const struct lb_svc_index *x, const struct kube_informer *inf,
		      lbpass_endpoint_fn *fn, void *arg)
{
	struct ep_walk w = { x, fn, arg };

	if (inf)
		kube_informer_foreach(inf, visit_slice, &w);
}
