/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The agent's BGP listener: accepts a peer's own TCP connection on port
 * 179 (as BIRD and MetalLB's speaker do) and hands it to that peer's
 * src/bgpsession. Only configured peers: a connection from any other
 * address is closed at once (logged once a minute per address). A peer
 * with a password gets its TCP_MD5SIG key on the listening socket, so
 * the kernel drops its unsigned SYNs and signs our answers.
 */
#ifndef FERRY_SRC_BGPLISTEN_H
#define FERRY_SRC_BGPLISTEN_H

#include "lbip/config.h"

#include <stdint.h>

struct loop;
struct bgp_listener;
struct bgp_session;

/* addr family 0: every address, IPv4 and IPv6 (one socket each; the
 * listener works with whichever binds). port 0: 179. NULL when nothing
 * could be bound (logged). */
struct bgp_listener *bgp_listener_new(struct loop *l, const struct lb_addr *addr, uint16_t port);
/* Accept s's peer from now on (its MD5 key set). 0, -ENOMEM, or the
 * setsockopt error (the session is added all the same). */
int bgp_listener_add(struct bgp_listener *ls, struct bgp_session *s);
/* Before freeing s. */
void bgp_listener_del(struct bgp_listener *ls, struct bgp_session *s);
uint64_t bgp_listener_refused(const struct bgp_listener *ls);
void bgp_listener_free(struct bgp_listener *ls);

#endif
