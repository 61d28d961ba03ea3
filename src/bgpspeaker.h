/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The BGP speaker as an agent part (src/consumer.h; docs/bgp.md): one
 * session (src/bgpsession) per configured peer that selects this node,
 * each told the desired RIB lbip/bgp_rib computes from the caches after
 * every change. On agent stop: a graceful stop (graceful restart
 * negotiated: close without NOTIFICATION; otherwise Cease).
 */
#ifndef FERRY_SRC_BGPSPEAKER_H
#define FERRY_SRC_BGPSPEAKER_H

#include "src/consumer.h"

struct bgpspeaker_opts {
	bool disabled;			/* --bgp=false */
	int listen_port;		/* --bgp-listen-port: 0 = 179, -1 = do not listen */
	/* shared with the allocator's flags */
	const char *lb_class, *config_namespace, *config_name;
};

extern const struct consumer_ops bgpspeaker_consumer;

#endif
