// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * lbip/l2pkt.c: frames byte for byte (expected bytes written out by hand,
 * NDP checksums from an independent computation), round trips, and a
 * table of malformed frames that must be refused.
 */
#include <errno.h>
#include <string.h>

#include "core/test.h"
#include "lbip/l2pkt.h"

static const uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t peer[6] = { 0x02, 0, 0, 0, 0, 0x99 };

static struct lb_addr A(const char *s)
{
	struct lb_addr a;

	CHECK(!lb_addr_parse(s, &a));
	return a;
}

static void check_bytes(const uint8_t *got, int n, const uint8_t *want, size_t wn, int line)
{
	test_checks++;
	if (n != (int)wn || memcmp(got, want, wn)) {
		test_failures++;
		fprintf(stderr, "%s:%d: frame differs (len %d, want %zu)\n", __FILE__, line, n, wn);
		for (int i = 0; i < n && i < (int)wn; i++)
			if (got[i] != want[i])
				fprintf(stderr, "  byte %d: %02x want %02x\n", i, got[i], want[i]);
	}
}
#define BYTES(got, n, want) check_bytes(got, n, want, sizeof(want), __LINE__)

static void test_arp(void)
{
	static const uint8_t garp_req[] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x06,
		0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01,
		0x02, 0, 0, 0, 0, 0x01, 192, 0, 2, 10,
		0, 0, 0, 0, 0, 0, 192, 0, 2, 10,
	};
	static const uint8_t garp_rep[] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x06,
		0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x02,
		0x02, 0, 0, 0, 0, 0x01, 192, 0, 2, 10,
		0x02, 0, 0, 0, 0, 0x01, 192, 0, 2, 10,
	};
	/* 198.51.100.1 (02:..:99) asks who has 198.51.100.10, padded to 60 */
	uint8_t req[60] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x99, 0x08, 0x06,
		0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01,
		0x02, 0, 0, 0, 0, 0x99, 198, 51, 100, 1,
		0, 0, 0, 0, 0, 0, 198, 51, 100, 10,
	};
	static const uint8_t rep[] = {
		0x02, 0, 0, 0, 0, 0x99, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x06,
		0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x02,
		0x02, 0, 0, 0, 0, 0x01, 198, 51, 100, 10,
		0x02, 0, 0, 0, 0, 0x99, 198, 51, 100, 1,
	};
	struct lb_addr ip = A("192.0.2.10"), t = A("198.51.100.10"), s = A("198.51.100.1");
	uint8_t buf[L2_FRAME_MAX];
	struct l2_msg m;
	int n;

	n = l2_build_garp(&ip, mac, false, buf, sizeof(buf));
	BYTES(buf, n, garp_req);
	CHECK_EQ_INT(l2_parse(buf, n, &m, NULL), 0);
	CHECK(m.kind == L2_ARP_REQUEST && !lb_addr_cmp(&m.sender, &ip) && !lb_addr_cmp(&m.target, &ip));
	n = l2_build_garp(&ip, mac, true, buf, sizeof(buf));
	BYTES(buf, n, garp_rep);
	CHECK_EQ_INT(l2_parse(buf, n, &m, NULL), 0);
	CHECK(m.kind == L2_ARP_REPLY && !memcmp(m.target_mac, mac, 6));

	CHECK_EQ_INT(l2_parse(req, sizeof(req), &m, NULL), 0);
	CHECK(m.kind == L2_ARP_REQUEST);
	CHECK(!lb_addr_cmp(&m.target, &t) && !lb_addr_cmp(&m.sender, &s));
	CHECK(!memcmp(m.sender_mac, peer, 6) && !memcmp(m.eth_src, peer, 6));
	n = l2_build_reply(&m, mac, buf, sizeof(buf));
	BYTES(buf, n, rep);
	CHECK_EQ_INT(l2_parse(buf, n, &m, NULL), 0);
	CHECK(m.kind == L2_ARP_REPLY && !lb_addr_cmp(&m.sender, &t));
	/* a reply is no request to answer; too small a buffer; wrong family */
	CHECK_EQ_INT(l2_build_reply(&m, mac, buf, sizeof(buf)), -EINVAL);
	CHECK_EQ_INT(l2_build_garp(&ip, mac, false, buf, L2_ARP_LEN - 1), -EINVAL);
	t = A("2001:db8::1");
	CHECK_EQ_INT(l2_build_garp(&t, mac, false, buf, sizeof(buf)), -EINVAL);
	CHECK_EQ_INT(l2_build_unsolicited_na(&ip, mac, buf, sizeof(buf)), -EINVAL);
}

/* Bytes of a Neighbor Solicitation captured on a real network
 * (python-libtrace's icmp6-sample.pcap, frame 1; ICMPv6 checksum 0xc165 as
 * the capture has it): fe80::215:c7ff:fe56:8000 asks for 2404:138:0:2::251. */
static const uint8_t captured_ns[] = {
	0x33, 0x33, 0xff, 0x00, 0x02, 0x51, 0x00, 0x15, 0xc7, 0x56, 0x80, 0x00, 0x86, 0xdd,
	0x60, 0, 0, 0, 0x00, 0x20, 58, 255,
	0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x15, 0xc7, 0xff, 0xfe, 0x56, 0x80, 0x00,
	0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0x00, 0x02, 0x51,
	135, 0, 0xc1, 0x65, 0, 0, 0, 0,
	0x24, 0x04, 0x01, 0x38, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0x02, 0x51,
	1, 1, 0x00, 0x15, 0xc7, 0x56, 0x80, 0x00,
};

static void test_ndp(void)
{
	static const uint8_t una[] = {
		0x33, 0x33, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x01, 0x86, 0xdd,
		0x60, 0, 0, 0, 0x00, 0x20, 58, 255,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
		0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
		136, 0, 0xf9, 0x0c, 0x20, 0, 0, 0,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
		2, 1, 0x02, 0, 0, 0, 0, 0x01,
	};
	static const uint8_t sna[] = {
		0x02, 0, 0, 0, 0, 0x99, 0x02, 0, 0, 0, 0, 0x01, 0x86, 0xdd,
		0x60, 0, 0, 0, 0x00, 0x20, 58, 255,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99,
		136, 0, 0x89, 0xbe, 0x60, 0, 0, 0,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
		2, 1, 0x02, 0, 0, 0, 0, 0x01,
	};
	struct lb_addr ip = A("2001:db8::10"), asker = A("2001:db8::99"), any = A("::"), g;
	struct lb_addr cap_src = A("fe80::215:c7ff:fe56:8000"), cap_t = A("2404:138:0:2::251");
	uint8_t buf[L2_FRAME_MAX], emac[6];
	struct l2_msg m;
	const char *why;
	int n;

	/* the captured NS: accepted, and rebuilt to the same bytes */
	CHECK_EQ_INT(l2_parse(captured_ns, sizeof(captured_ns), &m, &why), 0);
	CHECK(m.kind == L2_NDP_NS && m.has_lla && !lb_addr_cmp(&m.target, &cap_t));
	CHECK(!memcmp(m.sender_mac, captured_ns + 6, 6));
	n = l2_build_ns(&cap_src, &cap_t, captured_ns + 6, buf, sizeof(buf));
	BYTES(buf, n, captured_ns);
	memcpy(buf, captured_ns, sizeof(captured_ns));
	buf[56] = buf[57] = 0;
	CHECK_EQ_INT(l2_icmp6_csum(buf + 22, buf + 38, buf + 54, 32), 0xc165);

	n = l2_build_unsolicited_na(&ip, mac, buf, sizeof(buf));
	BYTES(buf, n, una);
	CHECK_EQ_INT(n, L2_NA_LEN);
	CHECK_EQ_INT(l2_parse(buf, n, &m, NULL), 0);
	CHECK(m.kind == L2_NDP_NA && m.na_flags == L2_NA_OVERRIDE && m.has_lla);
	CHECK(!lb_addr_cmp(&m.sender, &ip) && !lb_addr_cmp(&m.target, &ip) && !memcmp(m.sender_mac, mac, 6));

	/* 2001:db8::99 asks for 2001:db8::10; we answer S|O from ::10 */
	n = l2_build_ns(&asker, &ip, peer, buf, sizeof(buf));
	CHECK_EQ_INT(l2_parse(buf, n, &m, &why), 0);
	l2_solicited_node(&ip, &g);
	CHECK(m.kind == L2_NDP_NS && !lb_addr_cmp(&m.dst, &g) && !memcmp(m.sender_mac, peer, 6));
	CHECK(buf[0] == 0x33 && buf[1] == 0x33 && buf[2] == 0xff && buf[3] == 0 && buf[4] == 0 && buf[5] == 0x10);
	n = l2_build_reply(&m, mac, buf, sizeof(buf));
	BYTES(buf, n, sna);
	CHECK_EQ_INT(l2_parse(buf, n, &m, NULL), 0);
	CHECK(m.na_flags == (L2_NA_SOLICITED | L2_NA_OVERRIDE));

	/* DAD probe from ::, no source option: answered to ff02::1, S clear */
	n = l2_build_ns(&any, &ip, peer, buf, sizeof(buf));
	CHECK_EQ_INT(n, L2_NA_LEN - 8);
	CHECK_EQ_INT(l2_parse(buf, n, &m, NULL), 0);
	CHECK(!m.has_lla);
	n = l2_build_reply(&m, mac, buf, sizeof(buf));
	CHECK_EQ_INT(l2_parse(buf, n, &m, NULL), 0);
	CHECK(m.na_flags == L2_NA_OVERRIDE && m.dst.b[0] == 0xff && m.dst.b[15] == 1);
	CHECK(buf[0] == 0x33 && buf[5] == 0x01);

	/* solicited-node group and its MAC */
	ip = A("2001:db8::1:2345:6789");
	l2_solicited_node(&ip, &g);
	ip = A("ff02::1:ff45:6789");
	CHECK(!lb_addr_cmp(&g, &ip));
	l2_mcast_mac(&g, emac);
	CHECK(!memcmp(emac, "\x33\x33\xff\x45\x67\x89", 6));
}

/* Change one captured-NS byte (and fix the checksum when asked), expect rc. */
static const struct {
	const char *what;
	int off;			/* -1: no change */
	uint8_t val;
	bool fix_csum;
	size_t len;			/* 0: whole frame */
	int rc;
} bad_ns[] = {
	{ "valid", -1, 0, false, 0, 0 },
	{ "hop limit 64", 21, 64, false, 0, -EBADMSG },
	{ "hop limit 254 even with a good checksum", 21, 254, true, 0, -EBADMSG },
	{ "target byte flipped (checksum)", 70, 0x52, false, 0, -EBADMSG },
	{ "checksum byte flipped", 57, 0x66, false, 0, -EBADMSG },
	{ "option length 0", 79, 0, true, 0, -EBADMSG },
	{ "option length 2 beyond payload", 79, 2, true, 0, -EBADMSG },
	{ "code 1", 55, 1, true, 0, -EBADMSG },
	{ "target multicast", 62, 0xff, true, 0, -EBADMSG },
	{ "source multicast", 22, 0xff, true, 0, -EBADMSG },
	{ "version 4", 14, 0x40, false, 0, -EBADMSG },
	{ "payload length 40 beyond frame", 19, 40, false, 0, -EBADMSG },
	{ "payload length 16 (short NS)", 19, 16, true, 0, -EBADMSG },
	{ "hop-by-hop header: not ours", 20, 0, false, 0, -ENOMSG },
	{ "echo request: not ours", 54, 128, true, 0, -ENOMSG },
	{ "router solicitation: not ours", 54, 133, true, 0, -ENOMSG },
	{ "ipv4 ethertype: not ours", 13, 0x00, false, 0, -ENOMSG },
	{ "cut in the ipv6 header", -1, 0, false, 40, -EBADMSG },
	{ "cut in the option", -1, 0, false, 80, -EBADMSG },
	{ "cut in the ethernet header", -1, 0, false, 13, -EBADMSG },
	{ "empty", -1, 0, false, 0xffff, -EBADMSG },
};

static void fix(uint8_t *f)
{
	size_t plen = (size_t)(f[18] << 8 | f[19]);
	uint16_t c;

	if (plen > 32)
		plen = 32;
	f[56] = f[57] = 0;
	c = l2_icmp6_csum(f + 22, f + 38, f + 54, plen);
	f[56] = (uint8_t)(c >> 8);
	f[57] = (uint8_t)c;
}

static void test_malformed(void)
{
	uint8_t f[sizeof(captured_ns)], buf[L2_FRAME_MAX];
	struct lb_addr any = A("::"), t = A("2001:db8::10"), mc = A("ff02::1");
	struct l2_msg m;
	const char *why;
	int n;

	for (size_t i = 0; i < sizeof(bad_ns) / sizeof(bad_ns[0]); i++) {
		size_t len = bad_ns[i].len == 0xffff ? 0 : bad_ns[i].len ? bad_ns[i].len : sizeof(f);
		int rc;

		memcpy(f, captured_ns, sizeof(f));
		if (bad_ns[i].off >= 0)
			f[bad_ns[i].off] = bad_ns[i].val;
		if (bad_ns[i].fix_csum)
			fix(f);
		rc = l2_parse(f, len, &m, &why);
		if (rc != bad_ns[i].rc)
			fprintf(stderr, "row \"%s\": rc %d why \"%s\"\n", bad_ns[i].what, rc, why);
		CHECK_EQ_INT(rc, bad_ns[i].rc);
	}
	/* every truncation of valid frames is refused, never read past */
	for (size_t len = 0; len < sizeof(captured_ns); len++)
		CHECK(l2_parse(captured_ns, len, &m, NULL) < 0);

	/* DAD NS with a source option, or not to a solicited-node group */
	n = l2_build_ns(&any, &t, peer, buf, sizeof(buf));
	buf[38 + 15] ^= 1;		/* ff02::1:ff00:11: still a group, but not t's; checksum */
	fix(buf);
	CHECK_EQ_INT(l2_parse(buf, n, &m, &why), 0);	/* any solicited-node group is allowed */
	buf[38 + 12] = 0;		/* ff02::1:0:11: not a solicited-node group */
	fix(buf);
	CHECK_EQ_INT(l2_parse(buf, n, &m, &why), -EBADMSG);
	n = l2_build_ns(&t, &t, peer, buf, sizeof(buf));
	memset(buf + 22, 0, 16);	/* source ::, option kept */
	fix(buf);
	CHECK_EQ_INT(l2_parse(buf, n, &m, &why), -EBADMSG);
	CHECK_EQ_STR(why, "ns from :: with a source link-layer option");

	/* solicited NA to a multicast group */
	n = l2_build_unsolicited_na(&t, mac, buf, sizeof(buf));
	buf[58] |= L2_NA_SOLICITED;
	fix(buf);
	CHECK_EQ_INT(l2_parse(buf, n, &m, &why), -EBADMSG);
	(void)mc;

	/* ARP: short, not ethernet/ipv4, other op, multicast sender */
	struct lb_addr ip4 = A("192.0.2.10");

	n = l2_build_garp(&ip4, mac, false, buf, sizeof(buf));
	CHECK_EQ_INT(l2_parse(buf, n - 1, &m, NULL), -EBADMSG);
	buf[18] = 8;
	CHECK_EQ_INT(l2_parse(buf, n, &m, NULL), -EBADMSG);
	buf[18] = 6;
	buf[21] = 3;
	CHECK_EQ_INT(l2_parse(buf, n, &m, NULL), -ENOMSG);
	buf[21] = 1;
	buf[22] = 0x01;
	CHECK_EQ_INT(l2_parse(buf, n, &m, &why), -EBADMSG);
	buf[22] = 0x02;
	CHECK_EQ_INT(l2_parse(buf, n, &m, NULL), 0);
}

int main(void)
{
	test_arp();
	test_ndp();
	test_malformed();
	return test_done("lbip_l2pkt");
}
