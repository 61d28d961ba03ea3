// SPDX-License-Identifier: GPL-2.0-or-later
/* ARP and NDP frames (see l2pkt.h for the rules and their RFC sections). */
#include <errno.h>
#include <string.h>

#include "lbip/l2pkt.h"

#define ETH_P_ARP_ 0x0806
#define ETH_P_IPV6_ 0x86dd
#define IP6_HLEN 40
#define ICMP6_NS 135
#define ICMP6_NA 136
#define ND_OPT_SLLA 1
#define ND_OPT_TLLA 2
#define ND_LEN 24			/* type .. target */

static const uint8_t bcast[L2_ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static int bad(const char **why, const char *what)
{
	if (why)
		*why = what;
	return -EBADMSG;
}

uint16_t l2_icmp6_csum(const uint8_t src[16], const uint8_t dst[16], const uint8_t *msg, size_t n)
{
	uint32_t s = 0;

	for (int i = 0; i < 16; i += 2)
		s += get16(src + i) + get16(dst + i);
	s += (uint32_t)(n >> 16) + (uint32_t)(n & 0xffff) + 58;	/* upper-layer length, next header */
	for (size_t i = 0; i + 1 < n; i += 2)
		s += get16(msg + i);
	if (n & 1)
		s += (uint32_t)msg[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static bool is_mcast6(const uint8_t *a)
{
	return a[0] == 0xff;
}

static bool is_unspec6(const uint8_t *a)
{
	static const uint8_t z[16];

	return !memcmp(a, z, 16);
}

static bool is_solicited_node(const uint8_t *a)
{
	static const uint8_t pfx[13] = { 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff };

	return !memcmp(a, pfx, sizeof(pfx));
}

static void addr6(struct lb_addr *out, const uint8_t *p)
{
	memset(out, 0, sizeof(*out));
	out->family = 6;
	memcpy(out->b, p, 16);
}

static int parse_arp(const uint8_t *f, size_t n, struct l2_msg *m, const char **why)
{
	const uint8_t *a = f + L2_ETH_HLEN;
	uint16_t op;

	if (n < L2_ARP_LEN)
		return bad(why, "arp frame too short");
	if (get16(a) != 1 || get16(a + 2) != 0x0800 || a[4] != 6 || a[5] != 4)
		return bad(why, "arp not ethernet/ipv4");
	op = get16(a + 6);
	if (op != 1 && op != 2)
		return -ENOMSG;
	if (a[8] & 1)
		return bad(why, "arp sender hardware address is multicast");
	m->kind = op == 1 ? L2_ARP_REQUEST : L2_ARP_REPLY;
	memcpy(m->sender_mac, a + 8, 6);
	m->sender.family = 4;
	memcpy(m->sender.b, a + 14, 4);
	memcpy(m->target_mac, a + 18, 6);
	m->target.family = 4;
	memcpy(m->target.b, a + 24, 4);
	return 0;
}

static int parse_ndp(const uint8_t *f, size_t n, struct l2_msg *m, const char **why)
{
	const uint8_t *ip = f + L2_ETH_HLEN, *icmp = ip + IP6_HLEN;
	size_t plen;
	uint8_t want_opt;

	if (n < L2_ETH_HLEN + IP6_HLEN)
		return bad(why, "ipv6 frame too short");
	if (ip[0] >> 4 != 6)
		return bad(why, "ipv6 version not 6");
	if (ip[6] != 58)
		return -ENOMSG;		/* not ICMPv6 (or behind extension headers) */
	plen = get16(ip + 4);
	if (plen > n - L2_ETH_HLEN - IP6_HLEN)
		return bad(why, "ipv6 payload length beyond the frame");
	if (plen < 1 || (icmp[0] != ICMP6_NS && icmp[0] != ICMP6_NA))
		return -ENOMSG;
	if (ip[7] != 255)
		return bad(why, "ndp hop limit not 255");
	if (plen < ND_LEN)
		return bad(why, "ndp message too short");
	if (icmp[1] != 0)
		return bad(why, "ndp code not 0");
	if (l2_icmp6_csum(ip + 8, ip + 24, icmp, plen) != 0)
		return bad(why, "icmpv6 checksum");
	if (is_mcast6(ip + 8))
		return bad(why, "ipv6 source is multicast");
	if (is_mcast6(icmp + 8))
		return bad(why, "ndp target is multicast");
	m->kind = icmp[0] == ICMP6_NS ? L2_NDP_NS : L2_NDP_NA;
	addr6(&m->sender, ip + 8);
	addr6(&m->dst, ip + 24);
	addr6(&m->target, icmp + 8);
	m->na_flags = m->kind == L2_NDP_NA ? icmp[4] & 0xe0 : 0;
	want_opt = m->kind == L2_NDP_NS ? ND_OPT_SLLA : ND_OPT_TLLA;
	for (size_t off = ND_LEN; off < plen;) {
		size_t olen;

		if (plen - off < 2)
			return bad(why, "ndp option truncated");
		olen = (size_t)icmp[off + 1] * 8;
		if (!olen)
			return bad(why, "ndp option length 0");
		if (olen > plen - off)
			return bad(why, "ndp option truncated");
		if (icmp[off] == want_opt && !m->has_lla) {
			if (olen != 8)
				return bad(why, "ndp link-layer option not ethernet");
			memcpy(m->sender_mac, icmp + off + 2, 6);
			m->has_lla = true;
		}
		off += olen;
	}
	if (m->kind == L2_NDP_NS && is_unspec6(ip + 8)) {
		if (!is_solicited_node(ip + 24))
			return bad(why, "ns from :: not to a solicited-node group");
		if (m->has_lla)
			return bad(why, "ns from :: with a source link-layer option");
	}
	if (m->kind == L2_NDP_NA && is_mcast6(ip + 24) && (m->na_flags & L2_NA_SOLICITED))
		return bad(why, "solicited na to a multicast group");
	return 0;
}

int l2_parse(const uint8_t *f, size_t n, struct l2_msg *m, const char **why)
{
	uint16_t type;

	memset(m, 0, sizeof(*m));
	if (why)
		*why = "";
	if (n < L2_ETH_HLEN)
		return bad(why, "ethernet frame too short");
	memcpy(m->eth_dst, f, 6);
	memcpy(m->eth_src, f + 6, 6);
	type = get16(f + 12);
	if (type == ETH_P_ARP_)
		return parse_arp(f, n, m, why);
	if (type == ETH_P_IPV6_)
		return parse_ndp(f, n, m, why);
	return -ENOMSG;
}

/* ---- building ---- */

static void eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	put16(f + 12, type);
}

static int arp(uint8_t *buf, size_t len, const uint8_t *eth_dst, uint16_t op, const uint8_t *sha,
	       const uint8_t *spa, const uint8_t *tha, const uint8_t *tpa)
{
	uint8_t *a = buf + L2_ETH_HLEN;

	if (len < L2_ARP_LEN)
		return -EINVAL;
	eth(buf, eth_dst, sha, ETH_P_ARP_);
	put16(a, 1);
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, sha, 6);
	memcpy(a + 14, spa, 4);
	memcpy(a + 18, tha, 6);
	memcpy(a + 24, tpa, 4);
	return L2_ARP_LEN;
}

/* IPv6 + an NS or NA with one link-layer option: always 32 ICMP bytes. */
static int ndp(uint8_t *buf, size_t len, const uint8_t *eth_dst, const uint8_t *mac, const uint8_t *src,
	       const uint8_t *dst, uint8_t type, uint8_t flags, const uint8_t *target, bool lla)
{
	uint8_t *ip = buf + L2_ETH_HLEN, *icmp = ip + IP6_HLEN;
	size_t plen = ND_LEN + (lla ? 8 : 0);

	if (len < L2_ETH_HLEN + IP6_HLEN + plen)
		return -EINVAL;
	eth(buf, eth_dst, mac, ETH_P_IPV6_);
	memset(ip, 0, IP6_HLEN + plen);
	ip[0] = 0x60;
	put16(ip + 4, (uint16_t)plen);
	ip[6] = 58;
	ip[7] = 255;
	memcpy(ip + 8, src, 16);
	memcpy(ip + 24, dst, 16);
	icmp[0] = type;
	icmp[4] = flags;
	memcpy(icmp + 8, target, 16);
	if (lla) {
		icmp[ND_LEN] = type == ICMP6_NS ? ND_OPT_SLLA : ND_OPT_TLLA;
		icmp[ND_LEN + 1] = 1;
		memcpy(icmp + ND_LEN + 2, mac, 6);
	}
	put16(icmp + 2, l2_icmp6_csum(src, dst, icmp, plen));
	return (int)(L2_ETH_HLEN + IP6_HLEN + plen);
}

static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 0x01 };

void l2_solicited_node(const struct lb_addr *ip, struct lb_addr *out)
{
	memset(out, 0, sizeof(*out));
	out->family = 6;
	out->b[0] = 0xff;
	out->b[1] = 0x02;
	out->b[11] = 0x01;
	out->b[12] = 0xff;
	memcpy(out->b + 13, ip->b + 13, 3);
}

void l2_mcast_mac(const struct lb_addr *group, uint8_t mac[L2_ETH_ALEN])
{
	mac[0] = 0x33;
	mac[1] = 0x33;
	memcpy(mac + 2, group->b + 12, 4);
}

int l2_build_reply(const struct l2_msg *m, const uint8_t mac[L2_ETH_ALEN], uint8_t *buf, size_t len)
{
	if (m->kind == L2_ARP_REQUEST && m->target.family == 4)
		return arp(buf, len, m->sender_mac, 2, mac, m->target.b, m->sender_mac, m->sender.b);
	if (m->kind == L2_NDP_NS && m->target.family == 6) {
		struct lb_addr g = { .family = 6 };
		uint8_t emac[L2_ETH_ALEN];

		if (is_unspec6(m->sender.b)) {	/* DAD: answer everyone, S clear */
			memcpy(g.b, all_nodes, 16);
			l2_mcast_mac(&g, emac);
			return ndp(buf, len, emac, mac, m->target.b, all_nodes, ICMP6_NA,
				   L2_NA_OVERRIDE, m->target.b, true);
		}
		return ndp(buf, len, m->has_lla ? m->sender_mac : m->eth_src, mac, m->target.b,
			   m->sender.b, ICMP6_NA, L2_NA_SOLICITED | L2_NA_OVERRIDE, m->target.b, true);
	}
	return -EINVAL;
}

int l2_build_garp(const struct lb_addr *ip, const uint8_t mac[L2_ETH_ALEN], bool reply,
		  uint8_t *buf, size_t len)
{
	static const uint8_t zero[L2_ETH_ALEN];

	if (ip->family != 4)
		return -EINVAL;
	return arp(buf, len, bcast, reply ? 2 : 1, mac, ip->b, reply ? mac : zero, ip->b);
}

int l2_build_unsolicited_na(const struct lb_addr *ip, const uint8_t mac[L2_ETH_ALEN],
			    uint8_t *buf, size_t len)
{
	static const uint8_t emac[L2_ETH_ALEN] = { 0x33, 0x33, 0, 0, 0, 1 };

	if (ip->family != 6)
		return -EINVAL;
	return ndp(buf, len, emac, mac, ip->b, all_nodes, ICMP6_NA, L2_NA_OVERRIDE, ip->b, true);
}

int l2_build_ns(const struct lb_addr *src, const struct lb_addr *target, const uint8_t mac[L2_ETH_ALEN],
		uint8_t *buf, size_t len)
{
	struct lb_addr g;
	uint8_t emac[L2_ETH_ALEN];

	if (src->family != 6 || target->family != 6)
		return -EINVAL;
	l2_solicited_node(target, &g);
	l2_mcast_mac(&g, emac);
	return ndp(buf, len, emac, mac, src->b, g.b, ICMP6_NS, 0, target->b, !is_unspec6(src->b));
}
