/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The layer-2 announcer's I/O (docs/l2.md): the part of issue 14 that
 * touches the world for lbip/l2pkt and lbip/l2beat.
 *
 *  - the interfaces, from rtnetlink: a dump at start, then every link and
 *    address notification triggers a fresh dump (a few hundred bytes per
 *    interface; simpler and never out of step, unlike applying deltas);
 *  - one AF_PACKET socket per usable interface (up, Ethernet, ARP on, not
 *    loopback) that carries beats or announcements, with a classic BPF filter that lets through ARP, ICMPv6
 *    Neighbor Solicitations and heartbeat frames only;
 *  - answers to ARP requests and NS for the (address, interface) pairs the
 *    caller announces, from the interface's MAC; the addresses are never
 *    added to an interface;
 *  - the solicited-node group MAC of every announced IPv6 address joined
 *    with PACKET_ADD_MEMBERSHIP (the NIC filter), and the group itself with
 *    IPV6_JOIN_GROUP, so the kernel sends MLD reports and a snooping switch
 *    forwards the solicitations to us;
 *  - gratuitous ARP (both forms) / unsolicited NA on taking an address, at
 *    0, 0.5, 1 and 2 s, again when the interface's MAC changes or its link
 *    comes back, at most L2IO_BURST frames per 10 ms;
 *  - heartbeat frames: raw Ethernet, EtherType 0x88b5 (IEEE 802 local
 *    experimental), to the broadcast address, on the interfaces the caller
 *    marks. They cross exactly the segment the announcements cross, need no
 *    IP address, route or multicast group on the interface, and arrive on
 *    the socket that is already there.
 *
 * The owner of this object decides what to announce where (src/l2speaker.c).
 */
#ifndef FERRY_SRC_L2IO_H
#define FERRY_SRC_L2IO_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lbip/config.h"
#include "lbip/l2pkt.h"

#define L2IO_ETHERTYPE_BEAT 0x88b5
#define L2IO_BURST 64			/* gratuitous frames per 10 ms */

struct loop;
struct l2io;

/* An interface as l2io sees it. */
struct l2io_pfx {
	struct lb_addr addr;
	uint8_t plen;
};
struct l2io_if {
	int ifindex;
	char name[IF_NAMESIZE];
	uint8_t mac[L2_ETH_ALEN];
	bool up;			/* IFF_UP and carrier (IFF_LOWER_UP) */
	bool usable;			/* up, Ethernet, ARP on, not loopback (and
					 * allowed by the flag): the socket opens
					 * when it beats or announces */
	const struct l2io_pfx *pfx;	/* its addresses and prefix lengths */
	size_t n_pfx;
};

struct l2io_ops {
	/* A heartbeat frame's payload arrived on ifindex (not yet checked). */
	void (*beat)(void *arg, int ifindex, const uint8_t *p, size_t n);
	/* The interfaces changed (link, carrier, MAC, addresses): recompute,
	 * best at once: no frame has left on a link that came back yet, and
	 * l2io_set may be called from here. went_down / came_up: some
	 * interface that carries beats lost / regained its link. */
	void (*links)(void *arg, bool went_down, bool came_up);
	/* Counters for metrics (may be NULL): what = "arp", "ndp" answered,
	 * "garp", "una" sent, "bad" refused frames (why says what). */
	void (*count)(void *arg, const char *what, const char *why);
};

/* only: NULL, or interface names to use and no others (--l2-interfaces). */
struct l2io *l2io_new(struct loop *l, const char *const *only, size_t n_only,
		      const struct l2io_ops *ops, void *arg, int *err);
void l2io_free(struct l2io *io);

/* The interfaces, for the caller's rules; valid until the next links()
 * callback or l2io call. */
size_t l2io_ifs(const struct l2io *io, const struct l2io_if **out);
const struct l2io_if *l2io_if_get(const struct l2io *io, int ifindex);

/* One announcement: answer for ip on ifindex. */
struct l2io_ann {
	struct lb_addr ip;
	int ifindex;
};

/* The complete set to announce from now on (replaces the last one). New
 * pairs start their gratuitous schedule; pairs not in the set are dropped
 * before this returns (no answer for them leaves after). 0 or -ENOMEM
 * (then nothing is announced). */
int l2io_set(struct l2io *io, const struct l2io_ann *a, size_t n);
/* Is ip announced on some interface? */
bool l2io_announced(const struct l2io *io, const struct lb_addr *ip);

/* Send a heartbeat payload on every usable interface with beat set. */
void l2io_set_beat(struct l2io *io, int ifindex, bool beat);
int l2io_send_beat(struct l2io *io, const uint8_t *p, size_t n);

/* Re-read the interfaces now (tests; the watcher does it on its own). */
int l2io_refresh(struct l2io *io);

#endif
