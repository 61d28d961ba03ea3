/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The LoadBalancer allocator as an agent part (src/consumer.h): reads the
 * MetalLB configuration (ConfigMap or metallb.io resources) and every
 * type: LoadBalancer Service from the caches, lets lbip/ decide, and, on
 * the one agent that holds the Lease, writes status.loadBalancer.ingress
 * and the IPAllocated / AllocationFailed Events. Every agent runs it; only
 * the leader writes (fenced: a write goes out only while the last renewal is
 * younger than the renew deadline, shorter than what the others wait).
 */
#ifndef FERRY_SRC_LBCTL_H
#define FERRY_SRC_LBCTL_H

#include "src/consumer.h"

struct lbctl_opts {
	bool disabled;			/* --lb-allocator=false: another allocator runs */
	const char *lb_class;		/* also ours besides no class */
	const char *config_namespace, *config_name;	/* the legacy ConfigMap */
	const char *lease_namespace, *lease_name;
	int lease_duration_s, renew_deadline_ms, retry_ms;
};

extern const struct consumer_ops lbctl_consumer;

#endif
