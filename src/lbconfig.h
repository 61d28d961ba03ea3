/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * MetalLB's configuration from the agent's caches: the legacy ConfigMap's
 * "config" key and every metallb.io resource, read as MetalLB reads them.
 * Shared by the allocator (src/lbctl.c) and the layer-2 and BGP speakers
 * (src/l2speaker.c, src/bgpspeaker.c), so all see one configuration.
 */
#ifndef FERRY_SRC_LBCONFIG_H
#define FERRY_SRC_LBCONFIG_H

#include "kube/informer.h"
#include "lbip/configparse.h"

/* Build a configuration from inf[] (the agent's caches, one per kind).
 * *out: the new configuration or NULL when refused; *cm: the ConfigMap read
 * (NULL when absent), for error reports. Errors and warnings go to errs.
 * 0, or a negative code (refused, or -ENOMEM). */
int lb_config_from_caches(struct kube_informer *const *inf, const char *cm_namespace,
			  const char *cm_name, struct lb_config **out,
			  const struct kube_object **cm, struct lb_errors *errs);

/* A speaker's reload: when *dirty, clear it and read the configuration
 * again into *cfg. A refused one leaves the last good one (the allocator
 * reports the errors; `who` names the speaker in the log). */
void lb_config_reload(struct kube_informer *const *inf, const char *cm_namespace,
		      const char *cm_name, bool *dirty, struct lb_config **cfg, const char *who);

#endif
