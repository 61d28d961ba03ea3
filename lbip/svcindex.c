// SPDX-License-Identifier: GPL-2.0-or-later
/* lbip/svcindex.h: the Services of one pass by "namespace/name". */
#include "lbip/svcindex.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t lb_svc_ingress_ips(const struct kube_service *s, struct lb_addr ips[2])
{
	size_t n = 0;

	for (size_t i = 0; s && i < s->n_lb_ingress && n < 2; i++)
		if (s->lb_ingress[i].ip && lb_addr_parse(s->lb_ingress[i].ip, &ips[n]) == 0)
			n++;
	return n;
}

int lb_svc_index_add(struct lb_svc_index *x, struct lb_svc_entry *e, const char *ns,
		     const char *name)
{
	snprintf(e->key, sizeof(e->key), "%s/%s", ns, name);
	if (htab_add(&x->h, &e->node, hash_str(e->key, HASH_SEED)) < 0)
		return -ENOMEM;
	if (vec_push(&x->list, e) < 0) {
		htab_del(&x->h, &e->node);
		return -ENOMEM;
	}
	return 0;
}

struct lb_svc_entry *lb_svc_index_find(const struct lb_svc_index *x, const char *ns,
				       const char *name)
{
	char key[LB_SVC_KEY_MAX];
	uint64_t h;

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	h = hash_str(key, HASH_SEED);
	for (struct hnode *n = htab_first(&x->h, h); n; n = htab_next(n, h)) {
		struct lb_svc_entry *e = container_of(n, struct lb_svc_entry, node);

		if (!strcmp(e->key, key))
			return e;
	}
	return NULL;
}

void lb_svc_index_free(struct lb_svc_index *x)
{
	for (size_t i = 0; i < x->list.n; i++)
		free(x->list.v[i]);
	vec_free(&x->list);
	htab_free(&x->h);
}
