/* SPDX-License-Identifier: GPL-2.0-or-later */
/* MetalLB's configuration from the caches (see lbconfig.h). */
#include "src/lbconfig.h"

#include "core/log.h"

#include <errno.h>
#include <string.h>

struct add_ctx {
	struct lb_config_builder *b;
	struct lb_errors *errs;
};

static int add_resource(void *arg, const struct kube_object *o)
{
	struct add_ctx *x = arg;
	const struct kube_custom *cr = kube_custom(o);

	if (cr && cr->json)
		lb_config_add_resource(x->b, cr->json, cr->json_len, x->errs);
	return 0;
}

int lb_config_from_caches(struct kube_informer *const *inf, const char *cm_namespace,
			  const char *cm_name, struct lb_config **out,
			  const struct kube_object **cm, struct lb_errors *errs)
{
	struct lb_config_builder *b = lb_config_builder_new();
	struct add_ctx x = { b, errs };
	const char *text;
	int rc;

	*out = NULL;
	*cm = NULL;
	if (!b)
		return -ENOMEM;
	if (inf[KUBE_CONFIGMAP])
		*cm = kube_informer_get(inf[KUBE_CONFIGMAP], cm_namespace, cm_name);
	if (*cm && (text = kube_kv_get(kube_configmap(*cm)->data, kube_configmap(*cm)->n_data, "config")))
		lb_config_add_configmap_text(b, text, strlen(text), errs);
	for (int k = KUBE_CUSTOM_FIRST; k < KUBE_KIND_COUNT; k++)
		if (inf[k])
			kube_informer_foreach(inf[k], add_resource, &x);
	rc = lb_config_finish(b, out, errs);
	lb_config_builder_free(b);
	if (rc >= 0 && !*out)
		rc = -EINVAL;
	if (rc < 0) {
		lb_config_free(*out);
		*out = NULL;
	}
	return rc;
}

void lb_config_reload(struct kube_informer *const *inf, const char *cm_namespace,
		      const char *cm_name, bool *dirty, struct lb_config **cfg, const char *who)
{
	struct lb_errors errs = { 0 };
	struct lb_config *c;
	const struct kube_object *cm;

	if (!*dirty)
		return;
	*dirty = false;
	if (lb_config_from_caches(inf, cm_namespace, cm_name, &c, &cm, &errs) == 0) {
		lb_config_free(*cfg);
		*cfg = c;
	} else {
		log_v(1, who, "configuration refused, the last good one stays", "errors=%zu", errs.n);
	}
	lb_errors_free(&errs);
}
