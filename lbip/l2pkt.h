/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ARP and NDP frames for layer-2 announcement: parse what arrives on an
 * AF_PACKET socket, build the answers and the unsolicited announcements.
 * Pure byte work (the socket lives in src/). Frames are Ethernet II without
 * a VLAN tag (the kernel hands the tag aside on AF_PACKET).
 *
 *  ARP (RFC 826): Ethernet/IPv4 only (htype 1, ptype 0x0800, hlen 6,
 *  plen 4), request or reply. Gratuitous ARP (RFC 5227 section 3, RFC 5944
 *  section 4.6): sender and target protocol address both the announced
 *  address; the request form has a zero target hardware address, the reply
 *  form the sender's.
 *
 *  NDP (RFC 4861): IPv6 with ICMPv6 directly as next header (no extension
 *  headers: a Neighbor Solicitation with one is dropped, as Linux does),
 *  checked as section 7.1 says: hop limit 255, ICMP code 0, checksum, ICMP
 *  length >= 24, target not multicast, every option length > 0, no
 *  source link-layer option from the unspecified address and then only to a
 *  solicited-node group; an NA to a multicast group has S clear.
 *  Our NAs are sourced from the target address itself, not the link-local
 *  (ndisc6 and some routers ignore an NA for a global target sourced from a
 *  link-local), carry the target link-layer address option, and set
 *  Override: a solicited one also S; an unsolicited one goes to ff02::1.
 */
#ifndef FERRY_LBIP_L2PKT_H
#define FERRY_LBIP_L2PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lbip/config.h"

#define L2_ETH_ALEN 6
#define L2_ETH_HLEN 14
#define L2_ARP_LEN 42			/* Ethernet + ARP, unpadded */
#define L2_NA_LEN 86			/* Ethernet + IPv6 + NA + TLLA option */
#define L2_FRAME_MAX 128		/* enough for any frame built here */

#define L2_NA_ROUTER 0x80
#define L2_NA_SOLICITED 0x40
#define L2_NA_OVERRIDE 0x20

enum l2_kind { L2_ARP_REQUEST, L2_ARP_REPLY, L2_NDP_NS, L2_NDP_NA };

/* A parsed frame. ARP: sender/target are SPA/TPA, sender_mac/target_mac
 * SHA/THA. NDP: src/dst the IPv6 header's, target the ICMP target,
 * sender_mac the source (NS) or target (NA) link-layer option when
 * has_lla. */
struct l2_msg {
	enum l2_kind kind;
	uint8_t eth_dst[L2_ETH_ALEN], eth_src[L2_ETH_ALEN];
	struct lb_addr sender, target;	/* ARP: family 4; NDP: sender = IPv6 source */
	struct lb_addr dst;		/* NDP: IPv6 destination; ARP: family 0 */
	uint8_t sender_mac[L2_ETH_ALEN], target_mac[L2_ETH_ALEN];
	bool has_lla;			/* NDP: the link-layer option was present */
	uint8_t na_flags;		/* NA: L2_NA_* */
};

/* Parse one received frame. 0 with *m filled; -ENOMSG when the frame is
 * fine but no ARP/NS/NA (other EtherTypes, other ICMPv6): ignore it;
 * -EBADMSG when malformed, *why (if why) saying what in a few words. */
int l2_parse(const uint8_t *f, size_t n, struct l2_msg *m, const char **why);

/* The answer, from our interface address `mac`, to a request m (an ARP
 * request or an NS) for m->target, which the caller owns: an ARP reply to
 * the asker, or a solicited NA (S|O; to ff02::1 without S when the NS came
 * from ::, as RFC 4861 7.2.4 says). Frame length, or -EINVAL when m is not
 * a request or does not fit len. */
int l2_build_reply(const struct l2_msg *m, const uint8_t mac[L2_ETH_ALEN], uint8_t *buf, size_t len);

/* Gratuitous ARP for ip (family 4), broadcast: request form (op 1, zero
 * target hardware address) or reply form (op 2, target hardware = mac). */
int l2_build_garp(const struct lb_addr *ip, const uint8_t mac[L2_ETH_ALEN], bool reply,
		  uint8_t *buf, size_t len);

/* Unsolicited NA for ip (family 6): from ip to ff02::1, Override set. */
int l2_build_unsolicited_na(const struct lb_addr *ip, const uint8_t mac[L2_ETH_ALEN],
			    uint8_t *buf, size_t len);

/* A Neighbor Solicitation for target from src (:: for DAD: then no source
 * option) to target's solicited-node group. The announcer does not need it;
 * tests and probes do. */
int l2_build_ns(const struct lb_addr *src, const struct lb_addr *target, const uint8_t mac[L2_ETH_ALEN],
		uint8_t *buf, size_t len);

/* ff02::1:ffXX:XXXX for ip, and the Ethernet group 33:33:xx:xx:xx:xx of any
 * IPv6 multicast address (RFC 2464 section 7). */
void l2_solicited_node(const struct lb_addr *ip, struct lb_addr *out);
void l2_mcast_mac(const struct lb_addr *group, uint8_t mac[L2_ETH_ALEN]);

/* The ICMPv6 checksum over the pseudo-header and msg (checksum field as
 * it is: 0 when computing, the received value when verifying -> 0). */
uint16_t l2_icmp6_csum(const uint8_t src[16], const uint8_t dst[16], const uint8_t *msg, size_t n);

#endif
