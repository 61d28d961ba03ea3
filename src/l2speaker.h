/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The layer-2 speaker as an agent part (src/consumer.h; docs/l2.md): on
 * every agent, it computes with lbip/l2owner which LoadBalancer addresses
 * this node answers for, keeps the authenticated heartbeat with the other
 * agents (lbip/l2beat), and drives src/l2io (ARP/NDP answers, gratuitous
 * frames). Withdraws at once; takes only when l2live_may_take allows.
 */
#ifndef FERRY_SRC_L2SPEAKER_H
#define FERRY_SRC_L2SPEAKER_H

#include "src/consumer.h"

#define L2_MAX_IFACE_FLAGS 8

struct l2speaker_opts {
	bool disabled;			/* --l2=false, or no --l2-key-file */
	/* --l2-key-file: the shared heartbeat key, watched: absent or bad,
	 * the speaker waits for it (docs/l2.md) */
	const char *key_file;
	uint32_t key_poll_ms;		/* how often the file is read again (2 s) */
	const char *interfaces[L2_MAX_IFACE_FLAGS];	/* --l2-interfaces: only these */
	size_t n_interfaces;
	uint32_t interval_ms;		/* --l2-beat-interval (200 ms) */
	/* shared with the allocator's flags */
	const char *lb_class, *config_namespace, *config_name;
};

extern const struct consumer_ops l2speaker_consumer;

#endif
