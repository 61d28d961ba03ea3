/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One BGP session to one peer: TCP and timers on the core loop, driven by
 * the state machine table of lbip/bgp_fsm. Touches the world (sockets) for
 * lbip/bgp_msg, bgp_fsm and bgp_rib. We connect, and the agent's listener
 * (src/bgplisten) hands us the peer's own connection: each connection runs
 * its own state machine until RFC 4271 6.8 collision resolution leaves one.
 *
 * The owner hands it the desired RIB (bgp_session_set_rib) whenever that
 * changes; the session keeps what the peer has from us and sends only the
 * difference. On entering Established it sends the whole RIB and
 * End-of-RIB for each family.
 */
#ifndef FERRY_SRC_BGPSESSION_H
#define FERRY_SRC_BGPSESSION_H

#include "lbip/bgp_fsm.h"
#include "lbip/bgp_rib.h"
#include "lbip/config.h"

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct bgp_session;

struct bgp_session_opts {
	uint32_t fallback_id;		/* BGP identifier when the peer sets no router-id
					 * (host order): the node's IPv4 address */
	struct lb_addr nh4, nh6;	/* next hops for the family the session's own
					 * local address is not of; family 0: not sent */
	uint16_t connect_retry_s;	/* 0: 5 */
	uint32_t idle_min_ms, idle_max_ms;	/* AutomaticStart backoff after Idle (0: 1 s, 30 s) */
	bool restarted;			/* set the graceful restart R bit on the first OPEN */
};

/* Called after every state change (metrics, status). */
typedef void (*bgp_session_state_fn)(void *arg, struct bgp_session *s, enum bgp_state from,
				     enum bgp_state to);

struct bgp_session_info {
	const char *name;		/* "peer-name (addr:port)" */
	const char *label;		/* "addr:port": the metric label */
	enum bgp_state state;
	uint64_t since_ms;		/* monotonic, entered the state */
	size_t prefixes;		/* the peer has this many from us */
	uint64_t updates_sent, notifs_sent, notifs_received, established, collisions;
	bool gr;			/* graceful restart negotiated */
	bool incoming;			/* Established on the peer's connection */
	char last_error[160];
};

/* Starts at once (ManualStart). p is copied. NULL on -ENOMEM or a peer
 * the OPEN cannot be built for (logged). */
struct bgp_session *bgp_session_new(struct loop *l, const struct lb_peer *p,
				    const struct bgp_session_opts *o, bgp_session_state_fn fn,
				    void *arg);
/* The peer's own connection, accepted by the listener (fd is taken:
 * kept, or closed with the reason logged). false: refused. The listener
 * set the MD5 key; the TTL is set here as for our connections. */
bool bgp_session_accept(struct bgp_session *s, int fd);
const struct lb_peer *bgp_session_peer(const struct bgp_session *s);
/* Same peer configuration? (a change restarts the session) */
bool bgp_session_same_peer(const struct bgp_session *s, const struct lb_peer *p);
/* What to announce from now on (copied). 0 or -ENOMEM. */
int bgp_session_set_rib(struct bgp_session *s, const struct bgp_rib *rib);
/* Update the next hops for the other family (Node addresses changed). */
void bgp_session_set_nexthops(struct bgp_session *s, const struct lb_addr *nh4,
			      const struct lb_addr *nh6);
void bgp_session_info(const struct bgp_session *s, struct bgp_session_info *out);
/*
 * Stop and free. graceful: with graceful restart negotiated, close without
 * a NOTIFICATION (the peer keeps our routes as stale for the restart
 * time); otherwise, and always when !graceful, Cease 6/2 then close.
 */
void bgp_session_free(struct bgp_session *s, bool graceful);

#endif
