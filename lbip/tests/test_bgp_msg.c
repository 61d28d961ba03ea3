/* SPDX-License-Identifier: GPL-2.0-or-later */
/* BGP message codec: byte-exact messages computed by hand from RFC 4271,
 * 4760, 6793; round trips of every type; one row per malformed class. */
#include "lbip/bgp_msg.h"
#include "core/test.h"

#include <errno.h>
#include <stdlib.h>

/* "ff 00 13" -> bytes; returns the count. */
static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (*s) {
		unsigned v;
		int used;

		if (*s == ' ') {
			s++;
			continue;
		}
		if (sscanf(s, "%2x%n", &v, &used) != 1 || n >= cap) {
			fprintf(stderr, "bad hex at %s\n", s);
			exit(2);
		}
		out[n++] = v;
		s += used;
	}
	return n;
}

#define MARKER "ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff "
/* the smallest valid attributes and NLRI of an UPDATE */
#define ORIGIN " 40 01 01 00"
#define PATH " 40 02 00"
#define NH " 40 03 04 c0 00 02 01"
#define BASE ORIGIN PATH NH
#define NLRI "18 c6 33 64"

/* Header + body. */
static size_t wrap(uint8_t type, const uint8_t *body, size_t n, uint8_t *out)
{
	memset(out, 0xff, 16);
	out[16] = (n + 19) >> 8;
	out[17] = n + 19;
	out[18] = type;
	memcpy(out + 19, body, n);
	return n + 19;
}

/* An UPDATE body from its three parts, lengths computed. */
static size_t update_body(const char *w, const char *a, const char *nlri, uint8_t *out)
{
	uint8_t tmp[4096];
	size_t n = 0, k;

	k = unhex(w ? w : "", tmp, sizeof(tmp));
	out[n++] = k >> 8;
	out[n++] = k;
	memcpy(out + n, tmp, k);
	n += k;
	k = unhex(a ? a : "", tmp, sizeof(tmp));
	out[n++] = k >> 8;
	out[n++] = k;
	memcpy(out + n, tmp, k);
	n += k;
	n += unhex(nlri ? nlri : "", out + n, 4096 - n);
	return n;
}

static void check_bytes(const uint8_t *got, int n, const char *want_hex, const char *what)
{
	uint8_t want[4096];
	size_t wn = unhex(want_hex, want, sizeof(want));

	CHECK_EQ_INT(n, (long long)wn);
	if (n == (int)wn && memcmp(got, want, wn)) {
		test_failures++;
		fprintf(stderr, "%s: bytes differ:\n got", what);
		for (int i = 0; i < n; i++)
			fprintf(stderr, " %02x", got[i]);
		fprintf(stderr, "\n");
	}
}

static struct bgp_prefix pfx4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t len)
{
	return (struct bgp_prefix){ .addr = { .family = 4, .b = { a, b, c, d } }, .len = len };
}

static struct bgp_prefix pfx_db8(uint16_t sub, uint8_t len)
{
	return (struct bgp_prefix){ .addr = { .family = 6, .b = { 0x20, 0x01, 0x0d, 0xb8,
								    sub >> 8, sub & 0xff } },
				    .len = len };
}

/* ---- byte-exact ---- */

static void test_exact(void)
{
	uint8_t buf[4096];
	struct bgp_msg m = { .type = BGP_OPEN };
	struct bgp_ctx as4 = { .as4 = true };
	struct bgp_prefix nlri = pfx4(198, 51, 100, 0, 24);
	uint32_t asn = 65001;
	struct bgp_as_seg seg = { .type = BGP_AS_SEQUENCE, .n = 1, .asn = &asn };
	int n;

	n = bgp_encode_keepalive(buf, sizeof(buf));
	check_bytes(buf, n, MARKER "00 13 04", "keepalive");
	CHECK_EQ_INT(bgp_encode_keepalive(buf, 18), -EMSGSIZE);

	n = bgp_encode_notification(BGP_ERR_CEASE, BGP_CEASE_ADMIN_SHUTDOWN, NULL, 0, buf,
				    sizeof(buf));
	check_bytes(buf, n, MARKER "00 15 03 06 02", "notification");

	/* OPEN: AS 65001, hold 90, id 192.0.2.1, caps MP v4 and v6, route
	 * refresh, 4-octet AS 65001: 20 bytes of capabilities in one parameter. */
	m.open = (struct bgp_open){ .as = 65001, .hold_time = 90, .id = 0xc0000201,
				    .mp_ipv4 = true, .mp_ipv6 = true, .route_refresh = true,
				    .as4 = true };
	n = bgp_msg_encode(&m, NULL, buf, sizeof(buf));
	check_bytes(buf, n, MARKER "00 33 01 04 fd e9 00 5a c0 00 02 01 16 02 14"
		    " 01 04 00 01 00 01  01 04 00 02 00 01  02 00  41 04 00 00 fd e9", "open");

	/* AS 4200000000: AS_TRANS in the fixed field; graceful restart with
	 * R bit, 120 s, IPv4 unicast forwarding preserved. */
	m.open = (struct bgp_open){ .as = 4200000000u, .hold_time = 0, .id = 0xc0000202,
				    .as4 = true, .gr = true, .gr_flags = BGP_GR_RESTARTING,
				    .gr_time = 120, .n_gr_af = 1,
				    .gr_af = { { BGP_AFI_IPV4, BGP_SAFI_UNICAST, BGP_GR_FORWARDING } } };
	n = bgp_msg_encode(&m, NULL, buf, sizeof(buf));
	check_bytes(buf, n, MARKER "00 2d 01 04 5b a0 00 00 c0 00 02 02 10 02 0e"
		    " 40 06 80 78 00 01 01 80  41 04 fa 56 ea 00", "open as4");

	/* UPDATE 198.51.100.0/24, ORIGIN IGP, AS_PATH (65001) in 4 octets,
	 * NEXT_HOP 192.0.2.1 */
	m.type = BGP_UPDATE;
	m.update = (struct bgp_update){
		.attrs = 1ull << BGP_ATTR_ORIGIN | 1ull << BGP_ATTR_AS_PATH | 1ull << BGP_ATTR_NEXT_HOP,
		.origin = BGP_ORIGIN_IGP, .as_path = { &seg, 1 },
		.next_hop = { .family = 4, .b = { 192, 0, 2, 1 } }, .nlri = &nlri, .n_nlri = 1 };
	n = bgp_msg_encode(&m, &as4, buf, sizeof(buf));
	check_bytes(buf, n, MARKER "00 2f 02 00 00 00 14 40 01 01 00 40 02 06 02 01 00 00 fd e9"
		    " 40 03 04 c0 00 02 01 18 c6 33 64", "update");
	/* same with 2-octet ASNs and an ASN over 65535: AS_TRANS */
	asn = 4200000000u;
	n = bgp_msg_encode(&m, NULL, buf, sizeof(buf));
	check_bytes(buf, n, MARKER "00 2d 02 00 00 00 12 40 01 01 00 40 02 04 02 01 5b a0"
		    " 40 03 04 c0 00 02 01 18 c6 33 64", "update as2");

	/* End-of-RIB: IPv4 an empty UPDATE, IPv6 an empty MP_UNREACH */
	bgp_update_make_eor(&m.update, BGP_AFI_IPV4);
	n = bgp_msg_encode(&m, NULL, buf, sizeof(buf));
	check_bytes(buf, n, MARKER "00 17 02 00 00 00 00", "eor v4");
	bgp_update_make_eor(&m.update, BGP_AFI_IPV6);
	n = bgp_msg_encode(&m, NULL, buf, sizeof(buf));
	check_bytes(buf, n, MARKER "00 1d 02 00 00 00 06 80 0f 03 00 02 01", "eor v6");

	m.type = BGP_ROUTE_REFRESH;
	m.rr = (struct bgp_route_refresh){ BGP_AFI_IPV6, BGP_SAFI_UNICAST };
	n = bgp_msg_encode(&m, NULL, buf, sizeof(buf));
	check_bytes(buf, n, MARKER "00 17 05 00 02 00 01", "route refresh");
}

/* ---- round trips ---- */

static bool pfx_eq(const struct bgp_prefix *a, const struct bgp_prefix *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].len != b[i].len || a[i].addr.family != b[i].addr.family ||
		    memcmp(a[i].addr.b, b[i].addr.b, 16))
			return false;
	return true;
}

static bool path_eq(const struct bgp_as_path *a, const struct bgp_as_path *b)
{
	if (a->n_segs != b->n_segs)
		return false;
	for (size_t i = 0; i < a->n_segs; i++)
		if (a->segs[i].type != b->segs[i].type || a->segs[i].n != b->segs[i].n ||
		    memcmp(a->segs[i].asn, b->segs[i].asn, a->segs[i].n * 4))
			return false;
	return true;
}

static void check_update_eq(const struct bgp_update *a, const struct bgp_update *b)
{
	CHECK_EQ_INT(a->attrs, b->attrs);
	CHECK(a->n_withdrawn == b->n_withdrawn && pfx_eq(a->withdrawn, b->withdrawn, a->n_withdrawn));
	CHECK(a->n_nlri == b->n_nlri && pfx_eq(a->nlri, b->nlri, a->n_nlri));
	CHECK(a->n_mp_reach == b->n_mp_reach && pfx_eq(a->mp_reach, b->mp_reach, a->n_mp_reach));
	CHECK(a->n_mp_unreach == b->n_mp_unreach &&
	      pfx_eq(a->mp_unreach, b->mp_unreach, a->n_mp_unreach));
	CHECK_EQ_INT(a->origin, b->origin);
	CHECK(path_eq(&a->as_path, &b->as_path));
	CHECK(!memcmp(&a->next_hop, &b->next_hop, sizeof(a->next_hop)));
	CHECK_EQ_INT(a->med, b->med);
	CHECK_EQ_INT(a->local_pref, b->local_pref);
	CHECK_EQ_INT(a->aggregator_as, b->aggregator_as);
	CHECK_EQ_INT(a->aggregator_id, b->aggregator_id);
	CHECK(a->n_communities == b->n_communities &&
	      (!a->n_communities || !memcmp(a->communities, b->communities, a->n_communities * 4)));
	CHECK(a->n_large == b->n_large &&
	      (!a->n_large || !memcmp(a->large, b->large, a->n_large * 12)));
	CHECK_EQ_INT(a->mp_reach_afi, b->mp_reach_afi);
	CHECK_EQ_INT(a->mp_unreach_afi, b->mp_unreach_afi);
	CHECK(!memcmp(&a->mp_nh, &b->mp_nh, sizeof(a->mp_nh)));
	CHECK(!memcmp(&a->mp_nh_ll, &b->mp_nh_ll, sizeof(a->mp_nh_ll)));
	CHECK_EQ_INT(a->n_unknown, b->n_unknown);
	for (size_t i = 0; i < a->n_unknown && i < b->n_unknown; i++) {
		CHECK_EQ_INT(a->unknown[i].type, b->unknown[i].type);
		CHECK_EQ_INT(a->unknown[i].len, b->unknown[i].len);
		CHECK(!a->unknown[i].len ||
		      !memcmp(a->unknown[i].data, b->unknown[i].data, a->unknown[i].len));
	}
}

/* encode -> decode -> compare, then encode again: the same bytes */
static void round_trip(const struct bgp_msg *m, const struct bgp_ctx *ctx, const char *what)
{
	uint8_t buf[4096], buf2[4096];
	struct bgp_msg d;
	struct bgp_error err;
	int n, n2, r;

	n = bgp_msg_encode(m, ctx, buf, sizeof(buf));
	CHECK(n >= BGP_HDR_LEN);
	if (n < BGP_HDR_LEN) {
		fprintf(stderr, "%s: encode %d\n", what, n);
		return;
	}
	CHECK_EQ_INT(bgp_msg_frame(buf, n, &err), n);
	CHECK_EQ_INT(bgp_msg_frame(buf, n - 1, &err), 0);
	r = bgp_msg_decode(buf, n, ctx, &d, &err);
	CHECK_EQ_INT(r, 0);
	CHECK_EQ_INT(err.action, BGP_ERR_NONE);
	if (r || err.action)
		fprintf(stderr, "%s: %s\n", what, err.why);
	CHECK_EQ_INT(d.type, m->type);
	switch (m->type) {
	case BGP_OPEN:
		CHECK_EQ_INT(d.open.as, m->open.as);
		CHECK_EQ_INT(d.open.hold_time, m->open.hold_time);
		CHECK_EQ_INT(d.open.id, m->open.id);
		CHECK_EQ_INT(d.open.mp_ipv4, m->open.mp_ipv4);
		CHECK_EQ_INT(d.open.mp_ipv6, m->open.mp_ipv6);
		CHECK_EQ_INT(d.open.route_refresh, m->open.route_refresh);
		CHECK_EQ_INT(d.open.as4, m->open.as4);
		CHECK_EQ_INT(d.open.gr, m->open.gr);
		CHECK_EQ_INT(d.open.gr_flags, m->open.gr_flags);
		CHECK_EQ_INT(d.open.gr_time, m->open.gr_time);
		CHECK_EQ_INT(d.open.n_gr_af, m->open.n_gr_af);
		CHECK(!memcmp(d.open.gr_af, m->open.gr_af, sizeof(d.open.gr_af)));
		break;
	case BGP_UPDATE:
		check_update_eq(&d.update, &m->update);
		break;
	case BGP_NOTIFICATION:
		CHECK_EQ_INT(d.notif.code, m->notif.code);
		CHECK_EQ_INT(d.notif.subcode, m->notif.subcode);
		CHECK_EQ_INT(d.notif.len, m->notif.len);
		CHECK(!memcmp(d.notif.data, m->notif.data, m->notif.len));
		break;
	case BGP_ROUTE_REFRESH:
		CHECK_EQ_INT(d.rr.afi, m->rr.afi);
		CHECK_EQ_INT(d.rr.safi, m->rr.safi);
		break;
	}
	n2 = bgp_msg_encode(&d, ctx, buf2, sizeof(buf2));
	CHECK_EQ_INT(n2, n);
	/* unknown attributes come back with the Partial bit: not byte-equal */
	if (!(m->type == BGP_UPDATE && m->update.n_unknown))
		CHECK(n2 == n && !memcmp(buf, buf2, n));
	bgp_msg_free(&d);
}

static void test_round_trips(void)
{
	struct bgp_ctx as4 = { .as4 = true, .ibgp = true }, as4e = { .as4 = true }, as2 = { 0 };
	struct bgp_msg m = { .type = BGP_OPEN };
	uint32_t asns[] = { 65001, 4200000000u, 65002 }, set[] = { 64512, 64513 };
	struct bgp_as_seg segs[] = { { BGP_AS_SEQUENCE, 3, asns }, { BGP_AS_SET, 2, set } };
	struct bgp_prefix w4[] = { pfx4(203, 0, 113, 0, 25), pfx4(0, 0, 0, 0, 0) };
	struct bgp_prefix n4[] = { pfx4(198, 51, 100, 7, 32), pfx4(198, 18, 0, 0, 15) };
	struct bgp_prefix n6[] = { pfx_db8(1, 64), pfx_db8(0x100, 128), pfx_db8(0, 32) };
	struct bgp_prefix u6[] = { pfx_db8(2, 48) };
	uint32_t comms[] = { 65001u << 16 | 100, 0xffffff01 };
	struct bgp_lcomm large[] = { { 4200000000u, 1, 2 }, { 65001, 0, 0xffffffff } };
	uint8_t unk[300];
	struct bgp_attr_raw raw[] = { { BGP_AF_OPTIONAL | BGP_AF_TRANSITIVE, 99, 3,
					(uint8_t *)"abc" },
				      { BGP_AF_OPTIONAL | BGP_AF_TRANSITIVE, 200, sizeof(unk), unk } };

	memset(unk, 0x5a, sizeof(unk));
	m.open = (struct bgp_open){ .version = 4, .as = 65001, .hold_time = 3, .id = 0xc6336401,
				    .mp_ipv4 = true, .mp_ipv6 = true, .route_refresh = true,
				    .as4 = true, .gr = true, .gr_flags = BGP_GR_RESTARTING,
				    .gr_time = 4095, .n_gr_af = 2,
				    .gr_af = { { 1, 1, BGP_GR_FORWARDING }, { 2, 1, 0 } } };
	round_trip(&m, NULL, "open");
	m.open = (struct bgp_open){ .as = 64512, .hold_time = 0, .id = 1 };
	round_trip(&m, NULL, "open without capabilities");

	m.type = BGP_UPDATE;
	m.update = (struct bgp_update){
		.attrs = 1ull << BGP_ATTR_ORIGIN | 1ull << BGP_ATTR_AS_PATH |
			 1ull << BGP_ATTR_NEXT_HOP | 1ull << BGP_ATTR_MED |
			 1ull << BGP_ATTR_LOCAL_PREF | 1ull << BGP_ATTR_ATOMIC_AGGREGATE |
			 1ull << BGP_ATTR_AGGREGATOR | 1ull << BGP_ATTR_COMMUNITIES |
			 1ull << BGP_ATTR_MP_REACH | 1ull << BGP_ATTR_MP_UNREACH |
			 1ull << BGP_ATTR_LARGE_COMMUNITY,
		.withdrawn = w4, .n_withdrawn = 2, .nlri = n4, .n_nlri = 2,
		.origin = BGP_ORIGIN_INCOMPLETE, .as_path = { segs, 2 },
		.next_hop = { .family = 4, .b = { 192, 0, 2, 254 } },
		.med = 0xdeadbeef, .local_pref = 200,
		.aggregator_as = 4200000000u, .aggregator_id = 0xc0000201,
		.communities = comms, .n_communities = 2, .large = large, .n_large = 2,
		.mp_reach_afi = BGP_AFI_IPV6,
		.mp_nh = { .family = 6, .b = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 } },
		.mp_nh_ll = { .family = 6, .b = { 0xfe, 0x80, [15] = 1 } },
		.mp_reach = n6, .n_mp_reach = 3,
		.mp_unreach_afi = BGP_AFI_IPV6, .mp_unreach = u6, .n_mp_unreach = 1,
		.unknown = raw, .n_unknown = 2 };
	round_trip(&m, &as4, "update, everything");
	/* 2-octet session: ASNs must fit */
	as2.ibgp = true;
	asns[1] = 65535;
	m.update.aggregator_as = 64999;
	round_trip(&m, &as2, "update, 2-octet");
	/* v6 only, next hop without link-local */
	m.update = (struct bgp_update){
		.attrs = 1ull << BGP_ATTR_ORIGIN | 1ull << BGP_ATTR_AS_PATH | 1ull << BGP_ATTR_MP_REACH,
		.as_path = { segs, 1 }, .mp_reach_afi = BGP_AFI_IPV6,
		.mp_nh = { .family = 6, .b = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 } },
		.mp_reach = n6, .n_mp_reach = 1 };
	round_trip(&m, &as4e, "update, v6");
	/* IPv4 by MP_REACH too */
	m.update.mp_reach_afi = BGP_AFI_IPV4;
	m.update.mp_nh = (struct lb_addr){ .family = 4, .b = { 192, 0, 2, 3 } };
	m.update.mp_reach = n4;
	m.update.n_mp_reach = 2;
	round_trip(&m, &as4e, "update, v4 by MP_REACH");
	bgp_update_make_eor(&m.update, BGP_AFI_IPV6);
	round_trip(&m, NULL, "eor v6");

	m.type = BGP_NOTIFICATION;
	m.notif = (struct bgp_notification){ .code = 2, .subcode = 1, .len = 2, .data = { 0, 4 } };
	round_trip(&m, NULL, "notification");
	m.type = BGP_KEEPALIVE;
	round_trip(&m, NULL, "keepalive");
	m.type = BGP_ROUTE_REFRESH;
	m.rr = (struct bgp_route_refresh){ 1, 1 };
	round_trip(&m, NULL, "route refresh");
}

/* ---- what decodes to what ---- */

static void test_decoded_details(void)
{
	uint8_t body[4096], buf[4096];
	struct bgp_ctx ctx = { 0 };
	struct bgp_msg m;
	struct bgp_error err;
	uint16_t afi = 0;
	size_t n;

	/* host bits of a prefix are cleared; unknown optional transitive kept
	 * (and Partial on output), optional non-transitive dropped; AS4_PATH
	 * decoded on a 2-octet session */
	n = update_body(NULL, "40 01 01 00 40 02 04 02 01 5b a0 40 03 04 c0 00 02 01"
			" c0 63 02 aa bb 80 64 01 cc c0 11 06 02 01 fa 56 ea 00", "17 c6 33 65", body);
	n = wrap(BGP_UPDATE, body, n, buf);
	CHECK_EQ_INT(bgp_msg_decode(buf, n, &ctx, &m, &err), 0);
	CHECK_EQ_INT(err.action, BGP_ERR_NONE);
	CHECK_EQ_INT(m.update.n_nlri, 1);
	CHECK_EQ_INT(m.update.nlri[0].addr.b[2], 100);
	CHECK_EQ_INT(m.update.n_unknown, 1);
	CHECK_EQ_INT(m.update.unknown[0].type, 99);
	CHECK_EQ_INT(m.update.as_path.segs[0].asn[0], BGP_AS_TRANS);
	CHECK_EQ_INT(m.update.as4_path.n_segs, 1);
	CHECK_EQ_INT(m.update.as4_path.segs[0].asn[0], 4200000000u);
	CHECK(!bgp_update_is_eor(&m.update, &afi));
	{
		uint8_t out[4096];
		int k = bgp_msg_encode(&m, &ctx, out, sizeof(out));

		/* ... c0|20 63 02 aa bb, the non-transitive and AS4_PATH gone */
		CHECK_EQ_INT(k, 19 + 4 + 18 + 5 + 4);
		CHECK(k > 0 && out[19 + 4 + 18] == 0xe0 && out[19 + 4 + 18 + 1] == 99);
	}
	bgp_msg_free(&m);

	/* LOCAL_PREF from an external peer is dropped, from an internal one kept */
	n = update_body(NULL, BASE " 40 05 04 00 00 00 64", NLRI, body);
	n = wrap(BGP_UPDATE, body, n, buf);
	CHECK_EQ_INT(bgp_msg_decode(buf, n, &ctx, &m, &err), 0);
	CHECK(!BGP_HAS(&m.update, BGP_ATTR_LOCAL_PREF));
	bgp_msg_free(&m);
	ctx.ibgp = true;
	CHECK_EQ_INT(bgp_msg_decode(buf, n, &ctx, &m, &err), 0);
	CHECK(BGP_HAS(&m.update, BGP_ATTR_LOCAL_PREF) && m.update.local_pref == 100);
	CHECK_EQ_INT(err.action, BGP_ERR_NONE);
	bgp_msg_free(&m);
	ctx.ibgp = false;

	/* treat-as-withdraw keeps the prefixes, so they can be withdrawn */
	n = update_body("19 cb 00 71 00", "40 01 01 03" PATH NH, NLRI, body);
	n = wrap(BGP_UPDATE, body, n, buf);
	CHECK_EQ_INT(bgp_msg_decode(buf, n, &ctx, &m, &err), 0);
	CHECK_EQ_INT(err.action, BGP_ERR_WITHDRAW);
	CHECK(m.update.n_nlri == 1 && m.update.nlri[0].len == 24);
	CHECK(m.update.n_withdrawn == 1 && m.update.withdrawn[0].len == 25);
	bgp_msg_free(&m);
	n = update_body(NULL, PATH " 80 0e 1c 00 02 01 10 20 01 0d b8 00 00 00 00 00 00 00 00 00 00"
			" 00 01 00 30 20 01 0d b8 00 01", NULL, body);
	n = wrap(BGP_UPDATE, body, n, buf);
	CHECK_EQ_INT(bgp_msg_decode(buf, n, &ctx, &m, &err), 0);
	CHECK_EQ_INT(err.action, BGP_ERR_WITHDRAW);
	CHECK(m.update.n_mp_reach == 1 && m.update.mp_reach[0].len == 48 &&
	      m.update.mp_reach[0].addr.family == 6 && m.update.mp_reach[0].addr.b[5] == 1);
	bgp_msg_free(&m);

	/* EoR detection */
	n = wrap(BGP_UPDATE, (const uint8_t *)"\0\0\0\0", 4, buf);
	CHECK_EQ_INT(bgp_msg_decode(buf, n, &ctx, &m, &err), 0);
	CHECK(bgp_update_is_eor(&m.update, &afi) && afi == BGP_AFI_IPV4);
	bgp_msg_free(&m);
	n = update_body(NULL, "80 0f 03 00 02 01", NULL, body);
	n = wrap(BGP_UPDATE, body, n, buf);
	CHECK_EQ_INT(bgp_msg_decode(buf, n, &ctx, &m, &err), 0);
	CHECK(bgp_update_is_eor(&m.update, &afi) && afi == BGP_AFI_IPV6);
	bgp_msg_free(&m);

	/* framing: two messages back to back; a short read */
	bgp_encode_keepalive(buf, sizeof(buf));
	bgp_encode_keepalive(buf + 19, sizeof(buf) - 19);
	CHECK_EQ_INT(bgp_msg_frame(buf, 38, &err), 19);
	CHECK_EQ_INT(bgp_msg_frame(buf, 10, &err), 0);
	/* decode of a buffer longer than its message */
	CHECK_EQ_INT(bgp_msg_decode(buf, 38, &ctx, &m, &err), -EBADMSG);
	CHECK_EQ_INT(err.n.code, 1);
	bgp_msg_free(&m);

	/* unknown capabilities are ignored; the OPEN's AS comes from cap 65 */
	n = unhex("04 5b a0 00 b4 c0 00 02 09 12 02 10 80 00 46 00 41 04 fa 56 ea 00 01 04 00 01 00 80",
		  body, sizeof(body));
	n = wrap(BGP_OPEN, body, n, buf);
	CHECK_EQ_INT(bgp_msg_decode(buf, n, &ctx, &m, &err), 0);
	CHECK_EQ_INT(m.open.as, 4200000000u);
	CHECK_EQ_INT(m.open.hold_time, 180);
	CHECK_EQ_INT(m.open.n_unknown_caps, 3);
	CHECK(!m.open.mp_ipv4 && !m.open.mp_ipv6);
	bgp_msg_free(&m);
}

static void test_encode_limits(void)
{
	struct bgp_msg m = { .type = BGP_OPEN, .open = { .as = 1, .hold_time = 2, .id = 1 } };
	struct bgp_prefix *many = calloc(1200, sizeof(*many));
	uint8_t buf[8192];

	CHECK_EQ_INT(bgp_msg_encode(&m, NULL, buf, sizeof(buf)), -EINVAL);
	m.type = BGP_UPDATE;
	m.update = (struct bgp_update){ .nlri = many, .n_nlri = 1200 };
	for (int i = 0; i < 1200; i++)
		many[i] = pfx4(198, 18, i >> 8, i, 32);
	CHECK_EQ_INT(bgp_msg_encode(&m, NULL, buf, sizeof(buf)), -EMSGSIZE);
	m.update.n_nlri = 800;	/* 4000 bytes of NLRI + 23: fits */
	CHECK(bgp_msg_encode(&m, NULL, buf, sizeof(buf)) == 23 + 800 * 5);
	many[0].len = 33;
	CHECK_EQ_INT(bgp_msg_encode(&m, NULL, buf, sizeof(buf)), -EINVAL);
	free(many);
}

static void test_negotiate(void)
{
	struct bgp_open ours = { .as = 65001, .hold_time = 90, .mp_ipv4 = true, .mp_ipv6 = true,
				 .as4 = true };
	struct bgp_open theirs = { .as = 65001, .hold_time = 9, .as4 = true };
	struct bgp_ctx ctx = { 0 };
	struct bgp_error err;
	uint16_t hold = 0;

	CHECK_EQ_INT(bgp_open_negotiate(&ours, &theirs, &ctx, &hold, &err), 0);
	CHECK_EQ_INT(hold, 9);
	CHECK(ctx.as4 && ctx.ibgp);
	theirs = (struct bgp_open){ .as = 65002, .hold_time = 240, .mp_ipv6 = true };
	ours.mp_ipv6 = false;
	CHECK_EQ_INT(bgp_open_negotiate(&ours, &theirs, &ctx, &hold, &err), -EBADMSG);
	CHECK_EQ_INT(hold, 90);
	CHECK(!ctx.as4 && !ctx.ibgp);
	CHECK_EQ_INT(err.n.code, 2);
	CHECK_EQ_INT(err.n.subcode, 7);
	CHECK_EQ_INT(err.n.len, 6);
}

/* ---- malformed: one row per class ---- */


struct bad {
	const char *name;
	const char *full;	/* the whole message */
	uint8_t type;		/* else: type and ... */
	const char *body;	/* ... body, or UPDATE parts: */
	const char *w, *a, *nlri;
	struct bgp_ctx ctx;
	int ret;
	enum bgp_err_action action;
	uint8_t code, sub;
	const char *data;	/* expected NOTIFICATION data, NULL = not checked */
};

static const struct bad bad[] = {
	{ "marker", .full = "fe ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff 00 13 04",
	  .ret = -EBADMSG, BGP_ERR_RESET, 1, 1 },
	{ "length 18", .full = MARKER "00 12 04", .ret = -EBADMSG, BGP_ERR_RESET, 1, 2, "00 12" },
	{ "length 4097", .full = MARKER "10 01 04", .ret = -EBADMSG, BGP_ERR_RESET, 1, 2, "10 01" },
	{ "keepalive with a body", .full = MARKER "00 14 04 00", .ret = -EBADMSG, BGP_ERR_RESET, 1, 2 },
	{ "open too short", .full = MARKER "00 1c 01 04 fd e9 00 5a c0 00 02 01",
	  .ret = -EBADMSG, BGP_ERR_RESET, 1, 2 },
	{ "route refresh length", .full = MARKER "00 18 05 00 01 00 01 00",
	  .ret = -EBADMSG, BGP_ERR_RESET, 1, 2 },
	{ "type 6", .full = MARKER "00 13 06", .ret = -EBADMSG, BGP_ERR_RESET, 1, 3, "06" },
	{ "type 0", .full = MARKER "00 13 00", .ret = -EBADMSG, BGP_ERR_RESET, 1, 3, "00" },
	{ "open version 3", .type = BGP_OPEN, .body = "03 fd e9 00 5a c0 00 02 01 00",
	  .ret = -EBADMSG, BGP_ERR_RESET, 2, 1, "00 04" },
	{ "open peer AS", .type = BGP_OPEN, .body = "04 fd e9 00 5a c0 00 02 01 00",
	  .ctx = { .peer_as = 65002 }, .ret = -EBADMSG, BGP_ERR_RESET, 2, 2 },
	{ "open AS 0", .type = BGP_OPEN, .body = "04 00 00 00 5a c0 00 02 01 00",
	  .ret = -EBADMSG, BGP_ERR_RESET, 2, 2 },
	{ "open 4-octet peer AS", .type = BGP_OPEN,
	  .body = "04 5b a0 00 5a c0 00 02 01 08 02 06 41 04 fa 56 ea 01",
	  .ctx = { .peer_as = 4200000000u }, .ret = -EBADMSG, BGP_ERR_RESET, 2, 2 },
	{ "open identifier 0", .type = BGP_OPEN, .body = "04 fd e9 00 5a 00 00 00 00 00",
	  .ret = -EBADMSG, BGP_ERR_RESET, 2, 3 },
	{ "open identifier ours in iBGP", .type = BGP_OPEN, .body = "04 fd e9 00 5a c0 00 02 01 00",
	  .ctx = { .local_as = 65001, .local_id = 0xc0000201 }, .ret = -EBADMSG, BGP_ERR_RESET, 2, 3 },
	{ "open hold 2", .type = BGP_OPEN, .body = "04 fd e9 00 02 c0 00 02 01 00",
	  .ret = -EBADMSG, BGP_ERR_RESET, 2, 6 },
	{ "open hold 1", .type = BGP_OPEN, .body = "04 fd e9 00 01 c0 00 02 01 00",
	  .ret = -EBADMSG, BGP_ERR_RESET, 2, 6 },
	{ "open parameter type 1", .type = BGP_OPEN, .body = "04 fd e9 00 5a c0 00 02 01 03 01 01 00",
	  .ret = -EBADMSG, BGP_ERR_RESET, 2, 4 },
	{ "open parameters length", .type = BGP_OPEN, .body = "04 fd e9 00 5a c0 00 02 01 05 02 02 02 00",
	  .ret = -EBADMSG, BGP_ERR_RESET, 2, 0 },
	{ "open capability overrun", .type = BGP_OPEN,
	  .body = "04 fd e9 00 5a c0 00 02 01 04 02 02 41 04", .ret = -EBADMSG, BGP_ERR_RESET, 2, 0 },
	{ "open MP capability length", .type = BGP_OPEN,
	  .body = "04 fd e9 00 5a c0 00 02 01 05 02 03 01 01 00", .ret = -EBADMSG, BGP_ERR_RESET, 2, 0 },
	{ "open GR capability length", .type = BGP_OPEN,
	  .body = "04 fd e9 00 5a c0 00 02 01 05 02 03 40 01 00", .ret = -EBADMSG, BGP_ERR_RESET, 2, 0 },
	{ "withdrawn length overruns", .type = BGP_UPDATE, .body = "00 10 00 00",
	  .ret = -EBADMSG, BGP_ERR_RESET, 3, 1 },
	{ "attributes length overruns", .type = BGP_UPDATE, .body = "00 00 00 05 40 01 01 00",
	  .ret = -EBADMSG, BGP_ERR_RESET, 3, 1 },
	{ "attribute overruns the list", .type = BGP_UPDATE, .w = "", .a = "40 01 05 00", .nlri = NLRI,
	  .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 1 },
	{ "attribute header truncated", .type = BGP_UPDATE, .a = BASE " 40 01", .nlri = NLRI,
	  .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 1 },
	{ "ORIGIN flagged optional", .type = BGP_UPDATE, .a = "c0 01 01 00" PATH NH, .nlri = NLRI,
	  .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 4, .data = "c0 01 01 00" },
	{ "ORIGIN flagged partial", .type = BGP_UPDATE, .a = "60 01 01 00" PATH NH, .nlri = NLRI,
	  .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 4 },
	{ "MED flagged transitive", .type = BGP_UPDATE, .a = BASE " c0 04 04 00 00 00 01", .nlri = NLRI,
	  .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 4 },
	{ "COMMUNITIES flagged non-transitive", .type = BGP_UPDATE, .a = BASE " 80 08 04 00 00 00 01",
	  .nlri = NLRI, .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 4 },
	{ "MP_REACH flagged transitive", .type = BGP_UPDATE,
	  .a = ORIGIN PATH " c0 0e 05 00 02 01 00 00", .ret = -EBADMSG, BGP_ERR_RESET, 3, 4 },
	{ "ORIGIN length 2", .type = BGP_UPDATE, .a = "40 01 02 00 00" PATH NH, .nlri = NLRI,
	  .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 5, .data = "40 01 02 00 00" },
	{ "ORIGIN 3", .type = BGP_UPDATE, .a = "40 01 01 03" PATH NH, .nlri = NLRI,
	  .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 6 },
	{ "NEXT_HOP length 5", .type = BGP_UPDATE, .a = ORIGIN PATH " 40 03 05 c0 00 02 01 00",
	  .nlri = NLRI, .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 5 },
	{ "NEXT_HOP 0.0.0.0", .type = BGP_UPDATE, .a = ORIGIN PATH " 40 03 04 00 00 00 00",
	  .nlri = NLRI, .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 8 },
	{ "NEXT_HOP multicast", .type = BGP_UPDATE, .a = ORIGIN PATH " 40 03 04 e0 00 00 05",
	  .nlri = NLRI, .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 8 },
	{ "MED length 3", .type = BGP_UPDATE, .a = BASE " 80 04 03 00 00 01", .nlri = NLRI,
	  .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 5 },
	{ "LOCAL_PREF length 8", .type = BGP_UPDATE, .a = BASE " 40 05 08 00 00 00 01 00 00 00 01",
	  .nlri = NLRI, .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 5 },
	{ "AS_PATH segment type 5", .type = BGP_UPDATE, .a = ORIGIN " 40 02 04 05 01 fd e9" NH,
	  .nlri = NLRI, .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 11 },
	{ "AS_PATH empty segment", .type = BGP_UPDATE, .a = ORIGIN " 40 02 02 02 00" NH,
	  .nlri = NLRI, .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 11 },
	{ "AS_PATH segment overruns", .type = BGP_UPDATE, .a = ORIGIN " 40 02 04 02 02 fd e9" NH,
	  .nlri = NLRI, .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 11 },
	{ "AS_PATH 2-octet read as 4", .type = BGP_UPDATE, .a = ORIGIN " 40 02 04 02 01 fd e9" NH,
	  .nlri = NLRI, .ctx = { .as4 = true }, .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 11 },
	{ "AS4_PATH malformed: discarded", .type = BGP_UPDATE,
	  .a = BASE " c0 11 03 02 01 00", .nlri = NLRI, .action = BGP_ERR_DISCARD, .code = 3, .sub = 11 },
	{ "COMMUNITIES length 3", .type = BGP_UPDATE, .a = BASE " c0 08 03 00 00 01", .nlri = NLRI,
	  .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 5 },
	{ "COMMUNITIES empty", .type = BGP_UPDATE, .a = BASE " c0 08 00", .nlri = NLRI,
	  .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 5 },
	{ "LARGE_COMMUNITY length 8", .type = BGP_UPDATE, .a = BASE " c0 20 08 00 00 00 01 00 00 00 01",
	  .nlri = NLRI, .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 5 },
	{ "ATOMIC_AGGREGATE length 1: discarded", .type = BGP_UPDATE, .a = BASE " 40 06 01 00",
	  .nlri = NLRI, .action = BGP_ERR_DISCARD, .code = 3, .sub = 5 },
	{ "AGGREGATOR length 7: discarded", .type = BGP_UPDATE,
	  .a = BASE " c0 07 07 00 00 00 00 00 00 00", .nlri = NLRI,
	  .action = BGP_ERR_DISCARD, .code = 3, .sub = 5 },
	{ "duplicate ORIGIN: second discarded", .type = BGP_UPDATE, .a = BASE ORIGIN, .nlri = NLRI,
	  .action = BGP_ERR_DISCARD, .code = 3, .sub = 1 },
	{ "duplicate MP_UNREACH", .type = BGP_UPDATE, .a = "80 0f 03 00 02 01 80 0f 03 00 02 01",
	  .ret = -EBADMSG, BGP_ERR_RESET, 3, 1 },
	{ "unrecognized well-known", .type = BGP_UPDATE, .a = BASE " 40 63 01 00", .nlri = NLRI,
	  .ret = -EBADMSG, BGP_ERR_RESET, 3, 2, "40 63 01 00" },
	{ "missing ORIGIN", .type = BGP_UPDATE, .a = PATH NH, .nlri = NLRI,
	  .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 3, .data = "01" },
	{ "missing AS_PATH", .type = BGP_UPDATE, .a = ORIGIN NH, .nlri = NLRI,
	  .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 3, .data = "02" },
	{ "missing NEXT_HOP", .type = BGP_UPDATE, .a = ORIGIN PATH, .nlri = NLRI,
	  .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 3, .data = "03" },
	{ "missing LOCAL_PREF in iBGP", .type = BGP_UPDATE, .a = BASE, .nlri = NLRI,
	  .ctx = { .ibgp = true }, .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 3, .data = "05" },
	{ "missing ORIGIN with MP_REACH", .type = BGP_UPDATE,
	  .a = PATH " 80 0e 1c 00 02 01 10 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01 00"
	       " 30 20 01 0d b8 00 01", .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 3, .data = "01" },
	{ "withdraw only: nothing mandatory", .type = BGP_UPDATE, .w = "18 c6 33 64" },
	{ "NLRI /33", .type = BGP_UPDATE, .a = BASE, .nlri = "21 c6 33 64 00 00",
	  .ret = -EBADMSG, BGP_ERR_RESET, 3, 10 },
	{ "NLRI truncated", .type = BGP_UPDATE, .a = BASE, .nlri = "18 c6 33",
	  .ret = -EBADMSG, BGP_ERR_RESET, 3, 10 },
	{ "withdrawn /40", .type = BGP_UPDATE, .w = "28 c6 33 64 00 00",
	  .ret = -EBADMSG, BGP_ERR_RESET, 3, 10 },
	{ "MP_REACH /129", .type = BGP_UPDATE,
	  .a = ORIGIN PATH " 80 0e 16 00 02 01 10 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01 00 81",
	  .ret = -EBADMSG, BGP_ERR_RESET, 3, 10 },
	{ "MP_REACH next hop length 8", .type = BGP_UPDATE,
	  .a = ORIGIN PATH " 80 0e 0d 00 02 01 08 20 01 0d b8 00 00 00 01 00",
	  .ret = -EBADMSG, BGP_ERR_RESET, 3, 9 },
	{ "MP_REACH overruns", .type = BGP_UPDATE, .a = ORIGIN PATH " 80 0e 05 00 02 01 10 00",
	  .ret = -EBADMSG, BGP_ERR_RESET, 3, 9 },
	{ "MP_UNREACH too short", .type = BGP_UPDATE, .a = "80 0f 02 00 02",
	  .ret = -EBADMSG, BGP_ERR_RESET, 3, 9 },
	{ "MP_REACH other SAFI: ignored", .type = BGP_UPDATE, .a = ORIGIN PATH " 80 0e 05 00 02 80 00 00" },
	{ "MP_REACH overruns the list", .type = BGP_UPDATE, .a = ORIGIN PATH " 80 0e 09 00 02 01",
	  .ret = -EBADMSG, BGP_ERR_RESET, 3, 1 },
	{ "MP_UNREACH header truncated", .type = BGP_UPDATE, .a = ORIGIN PATH " 80 0f",
	  .ret = -EBADMSG, BGP_ERR_RESET, 3, 1 },
	{ "optional non-transitive unknown: ignored", .type = BGP_UPDATE,
	  .a = BASE " 80 63 01 00", .nlri = NLRI },
	{ "withdraw wins over discard", .type = BGP_UPDATE,
	  .a = BASE " 40 06 01 00 c0 08 03 00 00 01", .nlri = NLRI,
	  .action = BGP_ERR_WITHDRAW, .code = 3, .sub = 5, .data = "c0 08 03 00 00 01" },
};

static void test_malformed(void)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct bad *b = &bad[i];
		uint8_t body[4096], buf[8192], data[256];
		struct bgp_msg m;
		struct bgp_error err;
		size_t n;
		int r, before = test_failures;

		if (b->full) {
			n = unhex(b->full, buf, sizeof(buf));
		} else {
			if (b->body)
				n = unhex(b->body, body, sizeof(body));
			else
				n = update_body(b->w, b->a, b->nlri, body);
			n = wrap(b->type, body, n, buf);
		}
		r = bgp_msg_decode(buf, n, &b->ctx, &m, &err);
		CHECK_EQ_INT(r, b->ret);
		CHECK_EQ_INT(err.action, b->action);
		if (b->action) {
			CHECK_EQ_INT(err.n.code, b->code);
			CHECK_EQ_INT(err.n.subcode, b->sub);
			CHECK(err.why != NULL);
		}
		if (b->data) {
			size_t dn = unhex(b->data, data, sizeof(data));

			CHECK(err.n.len == dn && !memcmp(err.n.data, data, dn));
		}
		/* what decodes re-encodes */
		if (r == 0) {
			uint8_t out[4096];

			CHECK(bgp_msg_encode(&m, &b->ctx, out, sizeof(out)) >= BGP_HDR_LEN);
		}
		/* and a NOTIFICATION built from the error is a valid message */
		if (b->action == BGP_ERR_RESET) {
			uint8_t out[4096];
			struct bgp_msg nm;
			struct bgp_error e2;
			int k = bgp_encode_notification(err.n.code, err.n.subcode, err.n.data,
							err.n.len, out, sizeof(out));

			CHECK(k >= 21 && bgp_msg_decode(out, k, NULL, &nm, &e2) == 0 &&
			      nm.notif.code == b->code && nm.notif.subcode == b->sub);
		}
		if (test_failures != before)
			fprintf(stderr, "  row: %s (why=%s)\n", b->name, err.why ? err.why : "");
		bgp_msg_free(&m);
	}
}

static void test_from_config(void)
{
	struct lb_peer peer = { .name = "p", .my_asn = 4200000000u, .peer_asn = 65001,
				.router_id = { .family = 4, .b = { 192, 0, 2, 9 } },
				.graceful_restart = true };
	struct lb_community comms[] = { { false, { 65001, 100 } }, { true, { 4200000000u, 7, 8 } },
					{ false, { 0xffff, 0xff01 } } };
	struct bgp_msg m = { .type = BGP_OPEN };
	uint8_t buf[4096];
	int n;

	CHECK_EQ_INT(bgp_open_from_peer(&peer, 0, &m.open), 0);
	CHECK_EQ_INT(m.open.hold_time, 90);
	CHECK_EQ_INT(m.open.id, 0xc0000209);
	CHECK(m.open.as4 && m.open.mp_ipv4 && m.open.mp_ipv6 && m.open.route_refresh && m.open.gr);
	CHECK_EQ_INT(m.open.gr_time, 120);
	CHECK_EQ_INT(m.open.n_gr_af, 2);
	n = bgp_msg_encode(&m, NULL, buf, sizeof(buf));
	CHECK(n > 29 && buf[20] == 0x5b && buf[21] == 0xa0);	/* AS_TRANS */
	peer.router_id.family = 0;
	peer.hold_time_s = 3;
	peer.graceful_restart = false;
	CHECK_EQ_INT(bgp_open_from_peer(&peer, 0x0a000001, &m.open), 0);
	CHECK_EQ_INT(m.open.id, 0x0a000001);
	CHECK_EQ_INT(m.open.hold_time, 3);
	CHECK(!m.open.gr);
	CHECK_EQ_INT(bgp_open_from_peer(&peer, 0, &m.open), -EINVAL);
	peer.hold_time_s = 2;
	CHECK_EQ_INT(bgp_open_from_peer(&peer, 1, &m.open), -EINVAL);

	m.type = BGP_UPDATE;
	memset(&m.update, 0, sizeof(m.update));
	CHECK_EQ_INT(bgp_update_add_communities(&m.update, comms, 3), 0);
	CHECK_EQ_INT(bgp_update_add_communities(&m.update, comms, 1), 0);
	CHECK(BGP_HAS(&m.update, BGP_ATTR_COMMUNITIES) && BGP_HAS(&m.update, BGP_ATTR_LARGE_COMMUNITY));
	CHECK_EQ_INT(m.update.n_communities, 3);
	CHECK_EQ_INT(m.update.communities[0], 0xfde90064);
	CHECK_EQ_INT(m.update.communities[1], 0xffffff01);
	CHECK_EQ_INT(m.update.n_large, 1);
	CHECK_EQ_INT(m.update.large[0].global, 4200000000u);
	CHECK_EQ_INT(m.update.large[0].local2, 8);
	n = bgp_msg_encode(&m, NULL, buf, sizeof(buf));
	check_bytes(buf, n, MARKER "00 35 02 00 00 00 1e c0 08 0c fd e9 00 64 ff ff ff 01 fd e9 00 64"
		    " c0 20 0c fa 56 ea 00 00 00 00 07 00 00 00 08", "communities");
	bgp_msg_free(&m);
}

int main(void)
{
	test_from_config();
	test_exact();
	test_round_trips();
	test_decoded_details();
	test_encode_limits();
	test_negotiate();
	test_malformed();
	return test_done("lbip_bgp_msg");
}
