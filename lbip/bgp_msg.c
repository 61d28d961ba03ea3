/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * BGP-4 message codec (RFC 4271 section 4, error handling 6.1-6.3 as
 * revised by RFC 7606). The decoder trusts nothing: every length is checked
 * against what contains it before it is read. Errors map to the
 * NOTIFICATION RFC 4271 section 6 names; RFC 7606 decides which of them
 * reset the session and which only withdraw the UPDATE's routes or drop one
 * attribute (the table is in docs/bgp.md).
 */
#include "lbip/bgp_msg.h"
#include "core/vec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- reading and writing big-endian fields ---- */

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

struct wr {
	uint8_t *b;
	size_t cap, n;
	int err;
};

static void put(struct wr *w, const void *p, size_t k)
{
	if (w->err)
		return;
	if (k > w->cap - w->n || w->n + k > BGP_MAX_LEN) {
		w->err = -EMSGSIZE;
		return;
	}
	if (k)
		memcpy(w->b + w->n, p, k);
	w->n += k;
}
static void put8(struct wr *w, uint8_t v) { put(w, &v, 1); }
static void put16(struct wr *w, uint16_t v) { uint8_t b[2] = { v >> 8, v }; put(w, b, 2); }
static void put32(struct wr *w, uint32_t v)
{
	uint8_t b[4] = { v >> 24, v >> 16, v >> 8, v };
	put(w, b, 4);
}
/* Patch a 16-bit field written earlier at off. */
static void patch16(struct wr *w, size_t off, size_t v)
{
	if (!w->err && v <= 0xffff) {
		w->b[off] = v >> 8;
		w->b[off + 1] = v;
	} else if (!w->err) {
		w->err = -EMSGSIZE;
	}
}

/* ---- errors ---- */

static int severity(enum bgp_err_action a)
{
	return a == BGP_ERR_RESET ? 3 : a == BGP_ERR_WITHDRAW ? 2 : a == BGP_ERR_DISCARD ? 1 : 0;
}

/* Record an error unless one at least as severe is already there (the
 * first of equal severity is the one reported). */
static int fail(struct bgp_error *e, enum bgp_err_action a, uint8_t code, uint8_t sub,
		const uint8_t *data, size_t len, const char *why)
{
	if (severity(a) > severity(e->action)) {
		e->action = a;
		e->n.code = code;
		e->n.subcode = sub;
		if (len > sizeof(e->n.data))
			len = sizeof(e->n.data);
		e->n.len = len;
		if (len)
			memcpy(e->n.data, data, len);
		e->why = why;
	}
	return a == BGP_ERR_RESET ? -EBADMSG : 0;
}

const char *bgp_type_name(uint8_t t)
{
	static const char *const n[] = { "0", "OPEN", "UPDATE", "NOTIFICATION", "KEEPALIVE",
					 "ROUTE-REFRESH" };
	return t < sizeof(n) / sizeof(n[0]) ? n[t] : "unknown";
}

/* ---- framing ---- */

int bgp_msg_frame(const uint8_t *buf, size_t len, struct bgp_error *err)
{
	static const uint8_t minlen[] = { 0, 29, 23, 21, 19, 23 };
	uint16_t ml;
	uint8_t t;

	err->action = BGP_ERR_NONE;
	if (len < BGP_HDR_LEN)
		return 0;
	for (int i = 0; i < 16; i++)
		if (buf[i] != 0xff)
			return fail(err, BGP_ERR_RESET, BGP_ERR_HEADER, BGP_HDR_NOT_SYNC, NULL, 0,
				    "marker not all ones");
	ml = get16(buf + 16);
	t = buf[18];
	if (ml < BGP_HDR_LEN || ml > BGP_MAX_LEN)
		return fail(err, BGP_ERR_RESET, BGP_ERR_HEADER, BGP_HDR_BAD_LEN, buf + 16, 2,
			    "length outside 19..4096");
	if (t < BGP_OPEN || t > BGP_ROUTE_REFRESH)
		return fail(err, BGP_ERR_RESET, BGP_ERR_HEADER, BGP_HDR_BAD_TYPE, &t, 1,
			    "unknown message type");
	if (ml < minlen[t] || ((t == BGP_KEEPALIVE || t == BGP_ROUTE_REFRESH) && ml != minlen[t]))
		return fail(err, BGP_ERR_RESET, BGP_ERR_HEADER, BGP_HDR_BAD_LEN, buf + 16, 2,
			    "length wrong for the type");
	return len < ml ? 0 : ml;
}

/* ---- OPEN ---- */

static int bad_open(struct bgp_error *e, uint8_t sub, const uint8_t *d, size_t n, const char *why)
{
	return fail(e, BGP_ERR_RESET, BGP_ERR_OPEN, sub, d, n, why);
}

static int decode_caps(const uint8_t *p, size_t n, struct bgp_open *o, uint32_t *as4,
		       struct bgp_error *e)
{
	while (n) {
		uint8_t code, len;

		if (n < 2 || (size_t)p[1] + 2 > n)
			return bad_open(e, 0, NULL, 0, "capability overruns its parameter");
		code = p[0];
		len = p[1];
		p += 2;
		n -= 2;
		switch (code) {
		case 1:		/* multiprotocol: AFI(2) reserved(1) SAFI(1) */
			if (len != 4)
				return bad_open(e, 0, NULL, 0, "multiprotocol capability length");
			if (get16(p) == BGP_AFI_IPV4 && p[3] == BGP_SAFI_UNICAST)
				o->mp_ipv4 = true;
			else if (get16(p) == BGP_AFI_IPV6 && p[3] == BGP_SAFI_UNICAST)
				o->mp_ipv6 = true;
			else
				o->n_unknown_caps++;	/* an AFI/SAFI we do not speak */
			break;
		case 2:
			if (len != 0)
				return bad_open(e, 0, NULL, 0, "route refresh capability length");
			o->route_refresh = true;
			break;
		case 64:	/* flags(4 bits) time(12 bits), then AFI(2) SAFI(1) flags(1) each */
			if (len < 2 || (len - 2) % 4)
				return bad_open(e, 0, NULL, 0, "graceful restart capability length");
			o->gr = true;
			o->gr_flags = p[0] >> 4;
			o->gr_time = get16(p) & 0xfff;
			o->n_gr_af = 0;
			for (size_t i = 2; i < len; i += 4)
				if (o->n_gr_af < BGP_GR_MAX_AF)
					o->gr_af[o->n_gr_af++] = (struct bgp_gr_af){
						.afi = get16(p + i), .safi = p[i + 2],
						.flags = p[i + 3] };
			break;
		case 65:
			if (len != 4)
				return bad_open(e, 0, NULL, 0, "4-octet AS capability length");
			o->as4 = true;
			*as4 = get32(p);
			break;
		default:	/* RFC 5492: ignore what we do not understand */
			o->n_unknown_caps++;
			break;
		}
		p += len;
		n -= len;
	}
	return 0;
}

static int decode_open(const uint8_t *p, size_t n, const struct bgp_ctx *ctx,
		       struct bgp_open *o, struct bgp_error *e)
{
	static const uint8_t ver[2] = { 0, BGP_VERSION };
	uint32_t as4 = 0;
	uint8_t optlen;
	int r;

	/* version(1) my AS(2) hold(2) identifier(4) optional parameters length(1) */
	o->version = p[0];
	if (o->version != BGP_VERSION)
		return bad_open(e, BGP_OPEN_BAD_VERSION, ver, 2, "unsupported version");
	o->as = get16(p + 1);
	o->hold_time = get16(p + 3);
	o->id = get32(p + 5);
	optlen = p[9];
	p += 10;
	n -= 10;
	if (optlen != n)
		return bad_open(e, 0, NULL, 0, "optional parameters length mismatch");
	while (n) {
		if (n < 2 || (size_t)p[1] + 2 > n)
			return bad_open(e, 0, NULL, 0, "optional parameter overruns");
		if (p[0] != 2)	/* only capabilities (RFC 5492) */
			return bad_open(e, BGP_OPEN_BAD_OPT_PARAM, NULL, 0,
					"unsupported optional parameter");
		o->has_caps = true;
		r = decode_caps(p + 2, p[1], o, &as4, e);
		if (r)
			return r;
		n -= 2 + p[1];
		p += 2 + p[1];
	}
	if (o->as4)
		o->as = as4;
	if (o->as == 0 || (ctx && ctx->peer_as && o->as != ctx->peer_as)) {
		uint8_t d[2] = { o->as > 0xffff ? BGP_AS_TRANS >> 8 : o->as >> 8,
				 o->as > 0xffff ? BGP_AS_TRANS & 0xff : o->as & 0xff };
		return bad_open(e, BGP_OPEN_BAD_PEER_AS, d, 2, "peer AS not the configured one");
	}
	if (o->hold_time == 1 || o->hold_time == 2)
		return bad_open(e, BGP_OPEN_BAD_HOLD, NULL, 0, "hold time 1 or 2 seconds");
	/* RFC 6286: any non-zero value, unique within an AS. */
	if (o->id == 0 || (ctx && ctx->local_id && o->id == ctx->local_id && o->as == ctx->local_as))
		return bad_open(e, BGP_OPEN_BAD_ID, NULL, 0, "bad BGP identifier");
	return 0;
}

static void put_cap_mp(struct wr *w, uint16_t afi)
{
	put8(w, 1);
	put8(w, 4);
	put16(w, afi);
	put8(w, 0);
	put8(w, BGP_SAFI_UNICAST);
}

static int encode_open(struct wr *w, const struct bgp_open *o)
{
	size_t lenpos, start;

	if (o->hold_time == 1 || o->hold_time == 2 || o->n_gr_af > BGP_GR_MAX_AF)
		return -EINVAL;
	put8(w, BGP_VERSION);
	put16(w, o->as > 0xffff ? BGP_AS_TRANS : o->as);
	put16(w, o->hold_time);
	put32(w, o->id);
	lenpos = w->n;
	put8(w, 0);		/* optional parameters length, patched below */
	start = w->n;
	if (o->mp_ipv4 || o->mp_ipv6 || o->route_refresh || o->gr || o->as4) {
		size_t plen;

		put8(w, 2);	/* one capabilities parameter holding all of them */
		plen = w->n;
		put8(w, 0);
		if (o->mp_ipv4)
			put_cap_mp(w, BGP_AFI_IPV4);
		if (o->mp_ipv6)
			put_cap_mp(w, BGP_AFI_IPV6);
		if (o->route_refresh) {
			put8(w, 2);
			put8(w, 0);
		}
		if (o->gr) {
			put8(w, 64);
			put8(w, 2 + 4 * o->n_gr_af);
			put16(w, (uint16_t)((o->gr_flags & 0xf) << 12 | (o->gr_time & 0xfff)));
			for (int i = 0; i < o->n_gr_af; i++) {
				put16(w, o->gr_af[i].afi);
				put8(w, o->gr_af[i].safi);
				put8(w, o->gr_af[i].flags);
			}
		}
		if (o->as4) {
			put8(w, 65);
			put8(w, 4);
			put32(w, o->as);
		}
		if (!w->err)
			w->b[plen] = w->n - plen - 1;
	}
	if (!w->err) {
		if (w->n - start > 255)
			return -EMSGSIZE;
		w->b[lenpos] = w->n - start;
	}
	return w->err;
}

/* ---- prefixes ---- */

static int decode_prefixes(const uint8_t *p, size_t n, int family, struct bgp_prefix **out,
			   size_t *count, struct bgp_error *e)
{
	int max = family == 4 ? 32 : 128;
	size_t cap = 0;

	while (n) {
		struct bgp_prefix pfx = { .addr.family = family, .len = p[0] };
		size_t bytes = (pfx.len + 7) / 8;

		if (pfx.len > max)
			return fail(e, BGP_ERR_RESET, BGP_ERR_UPDATE, BGP_UPD_BAD_NETWORK, NULL, 0,
				    "prefix length over 32/128");
		if (bytes + 1 > n)
			return fail(e, BGP_ERR_RESET, BGP_ERR_UPDATE, BGP_UPD_BAD_NETWORK, NULL, 0,
				    "prefix overruns its field");
		memcpy(pfx.addr.b, p + 1, bytes);
		if (pfx.len % 8)	/* host bits are not part of the prefix */
			pfx.addr.b[bytes - 1] &= (uint8_t)(0xff00 >> (pfx.len % 8));
		if (vec_grow((void **)out, &cap, *count + 1, sizeof(**out)))
			return -ENOMEM;
		(*out)[(*count)++] = pfx;
		p += 1 + bytes;
		n -= 1 + bytes;
	}
	return 0;
}

static int put_prefixes(struct wr *w, const struct bgp_prefix *p, size_t n, int family)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i].addr.family != family || p[i].len > (family == 4 ? 32 : 128))
			return -EINVAL;
		put8(w, p[i].len);
		put(w, p[i].addr.b, (p[i].len + 7) / 8);
	}
	return 0;
}

/* ---- UPDATE: path attributes ---- */

/* The O and T bits each known attribute must carry (RFC 4271 5, RFC 4760,
 * 1997, 6793, 8092). */
static int known_flags(uint8_t type)
{
	switch (type) {
	case BGP_ATTR_ORIGIN: case BGP_ATTR_AS_PATH: case BGP_ATTR_NEXT_HOP:
	case BGP_ATTR_LOCAL_PREF: case BGP_ATTR_ATOMIC_AGGREGATE:
		return BGP_AF_TRANSITIVE;
	case BGP_ATTR_MED: case BGP_ATTR_MP_REACH: case BGP_ATTR_MP_UNREACH:
		return BGP_AF_OPTIONAL;
	case BGP_ATTR_AGGREGATOR: case BGP_ATTR_COMMUNITIES: case BGP_ATTR_AS4_PATH:
	case BGP_ATTR_AS4_AGGREGATOR: case BGP_ATTR_LARGE_COMMUNITY:
		return BGP_AF_OPTIONAL | BGP_AF_TRANSITIVE;
	}
	return -1;
}

static int decode_as_path(const uint8_t *p, size_t n, int asn_len, struct bgp_as_path *ap)
{
	size_t cap = 0;

	while (n) {
		struct bgp_as_seg s;

		if (n < 2 || p[0] < BGP_AS_SET || p[0] > BGP_AS_CONFED_SET || p[1] == 0 ||
		    (size_t)p[1] * asn_len + 2 > n)
			return -EBADMSG;
		s.type = p[0];
		s.n = p[1];
		s.asn = malloc(s.n * sizeof(*s.asn));
		if (!s.asn || vec_grow((void **)&ap->segs, &cap, ap->n_segs + 1, sizeof(s))) {
			free(s.asn);
			return -ENOMEM;
		}
		for (int i = 0; i < s.n; i++)
			s.asn[i] = asn_len == 4 ? get32(p + 2 + 4 * i) : get16(p + 2 + 2 * i);
		ap->segs[ap->n_segs++] = s;
		p += 2 + s.n * asn_len;
		n -= 2 + s.n * asn_len;
	}
	return 0;
}

static void free_as_path(struct bgp_as_path *ap)
{
	for (size_t i = 0; i < ap->n_segs; i++)
		free(ap->segs[i].asn);
	free(ap->segs);
	ap->segs = NULL;
	ap->n_segs = 0;
}

static bool bad_next_hop(uint32_t a)
{
	/* 0/8, loopback, multicast and class E (RFC 4271 6.3: not a valid host) */
	return (a >> 24) == 0 || (a >> 24) == 127 || a >= 0xe0000000u;
}

static int decode_mp_reach(const uint8_t *p, size_t n, struct bgp_update *u, struct bgp_error *e,
			   const uint8_t *attr, size_t attrlen)
{
	uint16_t afi;
	uint8_t nhlen;

	/* AFI(2) SAFI(1) next hop length(1) next hop reserved(1) NLRI */
	if (n < 5 || (size_t)p[3] + 5 > n)
		return fail(e, BGP_ERR_RESET, BGP_ERR_UPDATE, BGP_UPD_OPT_ATTR, attr, attrlen,
			    "MP_REACH_NLRI overruns");
	afi = get16(p);
	nhlen = p[3];
	if ((afi != BGP_AFI_IPV4 && afi != BGP_AFI_IPV6) || p[2] != BGP_SAFI_UNICAST)
		return 0;	/* not negotiated by us: ignored */
	if ((afi == BGP_AFI_IPV4 && nhlen != 4) || (afi == BGP_AFI_IPV6 && nhlen != 16 && nhlen != 32))
		return fail(e, BGP_ERR_RESET, BGP_ERR_UPDATE, BGP_UPD_OPT_ATTR, attr, attrlen,
			    "MP_REACH_NLRI next hop length");
	u->mp_reach_afi = afi;
	u->mp_nh.family = afi == BGP_AFI_IPV4 ? 4 : 6;
	memcpy(u->mp_nh.b, p + 4, afi == BGP_AFI_IPV4 ? 4 : 16);
	if (nhlen == 32) {
		u->mp_nh_ll.family = 6;
		memcpy(u->mp_nh_ll.b, p + 20, 16);
	}
	return decode_prefixes(p + 5 + nhlen, n - 5 - nhlen, u->mp_nh.family, &u->mp_reach,
			       &u->n_mp_reach, e);
}

static int decode_mp_unreach(const uint8_t *p, size_t n, struct bgp_update *u,
			     struct bgp_error *e, const uint8_t *attr, size_t attrlen)
{
	uint16_t afi;

	if (n < 3)
		return fail(e, BGP_ERR_RESET, BGP_ERR_UPDATE, BGP_UPD_OPT_ATTR, attr, attrlen,
			    "MP_UNREACH_NLRI too short");
	afi = get16(p);
	if ((afi != BGP_AFI_IPV4 && afi != BGP_AFI_IPV6) || p[2] != BGP_SAFI_UNICAST)
		return 0;
	u->mp_unreach_afi = afi;
	return decode_prefixes(p + 3, n - 3, afi == BGP_AFI_IPV4 ? 4 : 6, &u->mp_unreach,
			       &u->n_mp_unreach, e);
}

/* One attribute: a = the whole attribute (for NOTIFICATION data), v its value. */
static int decode_attr(uint8_t flags, uint8_t type, const uint8_t *v, size_t n,
		       const uint8_t *a, size_t alen, const struct bgp_ctx *ctx,
		       struct bgp_update *u, struct bgp_error *e)
{
	bool mp = type == BGP_ATTR_MP_REACH || type == BGP_ATTR_MP_UNREACH;
	int want = known_flags(type), r;

#define ERR(act, sub, why) fail(e, act, BGP_ERR_UPDATE, sub, a, alen, why)
	if (want < 0) {
		struct bgp_attr_raw raw;
		size_t cap = u->n_unknown;

		if (!(flags & BGP_AF_OPTIONAL))
			return ERR(BGP_ERR_RESET, BGP_UPD_UNREC_WELLKNOWN,
				   "unrecognized well-known attribute");
		if (!(flags & BGP_AF_TRANSITIVE))
			return 0;	/* optional non-transitive: quietly ignored */
		raw = (struct bgp_attr_raw){ .flags = flags, .type = type, .len = n };
		raw.data = malloc(n ? n : 1);
		if (!raw.data || vec_grow((void **)&u->unknown, &cap, u->n_unknown + 1, sizeof(raw))) {
			free(raw.data);
			return -ENOMEM;
		}
		if (n)
			memcpy(raw.data, v, n);
		u->unknown[u->n_unknown++] = raw;
		return 0;
	}
	/* O and T must match; Partial only on optional transitive ones. */
	if ((flags & (BGP_AF_OPTIONAL | BGP_AF_TRANSITIVE)) != want ||
	    ((flags & BGP_AF_PARTIAL) && want != (BGP_AF_OPTIONAL | BGP_AF_TRANSITIVE)))
		return ERR(mp ? BGP_ERR_RESET : BGP_ERR_WITHDRAW, BGP_UPD_ATTR_FLAGS,
			   "attribute flags conflict with its type");
	switch (type) {
	case BGP_ATTR_ORIGIN:
		if (n != 1)
			return ERR(BGP_ERR_WITHDRAW, BGP_UPD_ATTR_LEN, "ORIGIN length");
		if (v[0] > BGP_ORIGIN_INCOMPLETE)
			return ERR(BGP_ERR_WITHDRAW, BGP_UPD_BAD_ORIGIN, "ORIGIN value");
		u->origin = v[0];
		break;
	case BGP_ATTR_AS_PATH:
		r = decode_as_path(v, n, ctx && ctx->as4 ? 4 : 2, &u->as_path);
		if (r == -ENOMEM)
			return r;
		if (r) {
			free_as_path(&u->as_path);
			return ERR(BGP_ERR_WITHDRAW, BGP_UPD_BAD_AS_PATH, "malformed AS_PATH");
		}
		break;
	case BGP_ATTR_AS4_PATH:
		if (ctx && ctx->as4)
			return 0;	/* RFC 6793 4.1: a NEW speaker ignores it from a NEW one */
		r = decode_as_path(v, n, 4, &u->as4_path);
		if (r == -ENOMEM)
			return r;
		if (r) {
			free_as_path(&u->as4_path);
			return ERR(BGP_ERR_DISCARD, BGP_UPD_BAD_AS_PATH, "malformed AS4_PATH");
		}
		break;
	case BGP_ATTR_NEXT_HOP:
		if (n != 4)
			return ERR(BGP_ERR_WITHDRAW, BGP_UPD_ATTR_LEN, "NEXT_HOP length");
		if (bad_next_hop(get32(v)))
			return ERR(BGP_ERR_WITHDRAW, BGP_UPD_BAD_NEXT_HOP, "NEXT_HOP not a host");
		u->next_hop.family = 4;
		memcpy(u->next_hop.b, v, 4);
		break;
	case BGP_ATTR_MED:
	case BGP_ATTR_LOCAL_PREF:
		if (n != 4)
			return ERR(BGP_ERR_WITHDRAW, BGP_UPD_ATTR_LEN, "MED/LOCAL_PREF length");
		/* RFC 7606 7.5: LOCAL_PREF from an external peer is ignored */
		if (type == BGP_ATTR_LOCAL_PREF && ctx && !ctx->ibgp)
			return 0;
		*(type == BGP_ATTR_MED ? &u->med : &u->local_pref) = get32(v);
		break;
	case BGP_ATTR_ATOMIC_AGGREGATE:
		if (n != 0)
			return ERR(BGP_ERR_DISCARD, BGP_UPD_ATTR_LEN, "ATOMIC_AGGREGATE length");
		break;
	case BGP_ATTR_AGGREGATOR:
		if (n != (ctx && ctx->as4 ? 8u : 6u))
			return ERR(BGP_ERR_DISCARD, BGP_UPD_ATTR_LEN, "AGGREGATOR length");
		u->aggregator_as = n == 8 ? get32(v) : get16(v);
		u->aggregator_id = get32(v + n - 4);
		break;
	case BGP_ATTR_AS4_AGGREGATOR:
		if (n != 8)
			return ERR(BGP_ERR_DISCARD, BGP_UPD_ATTR_LEN, "AS4_AGGREGATOR length");
		return 0;	/* not kept: we never aggregate others' routes */
	case BGP_ATTR_COMMUNITIES:
		if (n == 0 || n % 4)
			return ERR(BGP_ERR_WITHDRAW, BGP_UPD_ATTR_LEN, "COMMUNITIES length");
		u->communities = malloc(n);
		if (!u->communities)
			return -ENOMEM;
		u->n_communities = n / 4;
		for (size_t i = 0; i < n / 4; i++)
			u->communities[i] = get32(v + 4 * i);
		break;
	case BGP_ATTR_LARGE_COMMUNITY:
		if (n == 0 || n % 12)
			return ERR(BGP_ERR_WITHDRAW, BGP_UPD_ATTR_LEN, "LARGE_COMMUNITY length");
		u->large = malloc(n / 12 * sizeof(*u->large));
		if (!u->large)
			return -ENOMEM;
		u->n_large = n / 12;
		for (size_t i = 0; i < n / 12; i++)
			u->large[i] = (struct bgp_lcomm){ get32(v + 12 * i), get32(v + 12 * i + 4),
							  get32(v + 12 * i + 8) };
		break;
	case BGP_ATTR_MP_REACH:
		r = decode_mp_reach(v, n, u, e, a, alen);
		if (r)
			return r;
		if (!u->mp_reach_afi)
			return 0;	/* other AFI/SAFI: as if absent */
		break;
	case BGP_ATTR_MP_UNREACH:
		r = decode_mp_unreach(v, n, u, e, a, alen);
		if (r)
			return r;
		if (!u->mp_unreach_afi)
			return 0;
		break;
	}
#undef ERR
	u->attrs |= 1ull << type;
	return 0;
}

static int decode_update(const uint8_t *p, size_t n, const struct bgp_ctx *ctx,
			 struct bgp_update *u, struct bgp_error *e)
{
	uint8_t seen[32] = { 0 };	/* a bit per attribute type, for duplicates */
	const uint8_t *ap;
	size_t wlen, alen;
	int r;

	/* withdrawn length(2) withdrawn, attributes length(2) attributes, NLRI */
	wlen = get16(p);
	if (wlen + 4 > n)
		return fail(e, BGP_ERR_RESET, BGP_ERR_UPDATE, BGP_UPD_MALFORMED_ATTRS, NULL, 0,
			    "withdrawn routes length overruns");
	alen = get16(p + 2 + wlen);
	if (wlen + alen + 4 > n)
		return fail(e, BGP_ERR_RESET, BGP_ERR_UPDATE, BGP_UPD_MALFORMED_ATTRS, NULL, 0,
			    "path attributes length overruns");
	r = decode_prefixes(p + 2, wlen, 4, &u->withdrawn, &u->n_withdrawn, e);
	if (r)
		return r;
	ap = p + 4 + wlen;
	for (size_t off = 0; off < alen;) {
		uint8_t flags, type;
		size_t hl, vl;

		/* RFC 7606 4: the NLRI is still where alen says, so withdraw,
		 * unless the broken one is an MP attribute (its prefixes unknown) */
		if (alen - off < 3 || (alen - off < 4 && (ap[off] & BGP_AF_EXTLEN))) {
			if (alen - off >= 2 && (ap[off + 1] == BGP_ATTR_MP_REACH ||
						ap[off + 1] == BGP_ATTR_MP_UNREACH))
				return fail(e, BGP_ERR_RESET, BGP_ERR_UPDATE, BGP_UPD_MALFORMED_ATTRS,
					    NULL, 0, "MP attribute header truncated");
			fail(e, BGP_ERR_WITHDRAW, BGP_ERR_UPDATE, BGP_UPD_MALFORMED_ATTRS, NULL, 0,
			     "attribute header truncated");
			break;
		}
		flags = ap[off];
		type = ap[off + 1];
		hl = flags & BGP_AF_EXTLEN ? 4 : 3;
		vl = hl == 4 ? get16(ap + off + 2) : ap[off + 2];
		if (vl > alen - off - hl) {
			if (type == BGP_ATTR_MP_REACH || type == BGP_ATTR_MP_UNREACH)
				return fail(e, BGP_ERR_RESET, BGP_ERR_UPDATE, BGP_UPD_MALFORMED_ATTRS,
					    NULL, 0, "MP attribute overruns the attributes");
			fail(e, BGP_ERR_WITHDRAW, BGP_ERR_UPDATE, BGP_UPD_MALFORMED_ATTRS, NULL, 0,
			     "attribute overruns the attributes");
			break;
		}
		if (seen[type / 8] & (1 << (type % 8))) {
			/* RFC 7606 3: keep the first; two MP attributes are fatal */
			if (type == BGP_ATTR_MP_REACH || type == BGP_ATTR_MP_UNREACH)
				return fail(e, BGP_ERR_RESET, BGP_ERR_UPDATE, BGP_UPD_MALFORMED_ATTRS,
					    NULL, 0, "duplicate MP attribute");
			fail(e, BGP_ERR_DISCARD, BGP_ERR_UPDATE, BGP_UPD_MALFORMED_ATTRS, NULL, 0,
			     "duplicate attribute");
		} else {
			seen[type / 8] |= 1 << (type % 8);
			r = decode_attr(flags, type, ap + off + hl, vl, ap + off, hl + vl, ctx, u, e);
			if (r)
				return r;
		}
		off += hl + vl;
	}
	r = decode_prefixes(ap + alen, n - 4 - wlen - alen, 4, &u->nlri, &u->n_nlri, e);
	if (r)
		return r;
	/* Mandatory attributes when routes are announced (RFC 4271 5, RFC 7606 3). */
	if (u->n_nlri || BGP_HAS(u, BGP_ATTR_MP_REACH)) {
		static const uint8_t need[] = { BGP_ATTR_ORIGIN, BGP_ATTR_AS_PATH, BGP_ATTR_NEXT_HOP,
						BGP_ATTR_LOCAL_PREF };

		for (size_t i = 0; i < sizeof(need); i++) {
			if (need[i] == BGP_ATTR_NEXT_HOP && !u->n_nlri)
				continue;
			if (need[i] == BGP_ATTR_LOCAL_PREF && !(ctx && ctx->ibgp))
				continue;
			/* a withdrawn-by-error attribute is missing too: do not report twice */
			if (!BGP_HAS(u, need[i]) && !(seen[need[i] / 8] & (1 << (need[i] % 8))))
				fail(e, BGP_ERR_WITHDRAW, BGP_ERR_UPDATE, BGP_UPD_MISSING_WELLKNOWN,
				     &need[i], 1, "missing well-known attribute");
		}
	}
	return 0;
}

/* Attribute with the Extended Length bit only when needed. */
static void put_attr(struct wr *w, uint8_t flags, uint8_t type, const uint8_t *v, size_t n)
{
	flags &= ~BGP_AF_EXTLEN;
	if (n > 255) {
		put8(w, flags | BGP_AF_EXTLEN);
		put8(w, type);
		put16(w, n);
	} else {
		put8(w, flags);
		put8(w, type);
		put8(w, n);
	}
	put(w, v, n);
}

static int encode_as_path(struct wr *w, const struct bgp_as_path *ap, bool as4)
{
	for (size_t i = 0; i < ap->n_segs; i++) {
		const struct bgp_as_seg *s = &ap->segs[i];

		if (s->n == 0 || s->type < BGP_AS_SET || s->type > BGP_AS_CONFED_SET)
			return -EINVAL;
		put8(w, s->type);
		put8(w, s->n);
		for (int j = 0; j < s->n; j++) {
			if (as4)
				put32(w, s->asn[j]);
			else
				put16(w, s->asn[j] > 0xffff ? BGP_AS_TRANS : s->asn[j]);
		}
	}
	return 0;
}

static int encode_update(struct wr *w, const struct bgp_update *u, const struct bgp_ctx *ctx)
{
	uint8_t val[BGP_MAX_LEN];
	struct wr v;
	size_t pos;
	int r;

#define VAL() (v = (struct wr){ .b = val, .cap = sizeof(val) })
#define EMIT(flags, type) do { if (v.err) return v.err; put_attr(w, flags, type, val, v.n); } while (0)
	pos = w->n;
	put16(w, 0);
	r = put_prefixes(w, u->withdrawn, u->n_withdrawn, 4);
	if (r)
		return r;
	patch16(w, pos, w->n - pos - 2);
	pos = w->n;
	put16(w, 0);
	if (BGP_HAS(u, BGP_ATTR_ORIGIN)) {
		if (u->origin > BGP_ORIGIN_INCOMPLETE)
			return -EINVAL;
		put_attr(w, BGP_AF_TRANSITIVE, BGP_ATTR_ORIGIN, &u->origin, 1);
	}
	if (BGP_HAS(u, BGP_ATTR_AS_PATH)) {
		VAL();
		r = encode_as_path(&v, &u->as_path, ctx && ctx->as4);
		if (r)
			return r;
		EMIT(BGP_AF_TRANSITIVE, BGP_ATTR_AS_PATH);
	}
	if (BGP_HAS(u, BGP_ATTR_NEXT_HOP)) {
		if (u->next_hop.family != 4)
			return -EINVAL;
		put_attr(w, BGP_AF_TRANSITIVE, BGP_ATTR_NEXT_HOP, u->next_hop.b, 4);
	}
	if (BGP_HAS(u, BGP_ATTR_MED)) {
		VAL();
		put32(&v, u->med);
		EMIT(BGP_AF_OPTIONAL, BGP_ATTR_MED);
	}
	if (BGP_HAS(u, BGP_ATTR_LOCAL_PREF)) {
		VAL();
		put32(&v, u->local_pref);
		EMIT(BGP_AF_TRANSITIVE, BGP_ATTR_LOCAL_PREF);
	}
	if (BGP_HAS(u, BGP_ATTR_ATOMIC_AGGREGATE))
		put_attr(w, BGP_AF_TRANSITIVE, BGP_ATTR_ATOMIC_AGGREGATE, NULL, 0);
	if (BGP_HAS(u, BGP_ATTR_AGGREGATOR)) {
		VAL();
		if (ctx && ctx->as4)
			put32(&v, u->aggregator_as);
		else
			put16(&v, u->aggregator_as > 0xffff ? BGP_AS_TRANS : u->aggregator_as);
		put32(&v, u->aggregator_id);
		EMIT(BGP_AF_OPTIONAL | BGP_AF_TRANSITIVE, BGP_ATTR_AGGREGATOR);
	}
	if (BGP_HAS(u, BGP_ATTR_COMMUNITIES)) {
		VAL();
		if (!u->n_communities)
			return -EINVAL;
		for (size_t i = 0; i < u->n_communities; i++)
			put32(&v, u->communities[i]);
		EMIT(BGP_AF_OPTIONAL | BGP_AF_TRANSITIVE, BGP_ATTR_COMMUNITIES);
	}
	if (BGP_HAS(u, BGP_ATTR_MP_REACH)) {
		int fam = u->mp_reach_afi == BGP_AFI_IPV4 ? 4 : 6;

		if ((u->mp_reach_afi != BGP_AFI_IPV4 && u->mp_reach_afi != BGP_AFI_IPV6) ||
		    u->mp_nh.family != fam || (u->mp_nh_ll.family && fam != 6))
			return -EINVAL;
		VAL();
		put16(&v, u->mp_reach_afi);
		put8(&v, BGP_SAFI_UNICAST);
		put8(&v, fam == 4 ? 4 : u->mp_nh_ll.family ? 32 : 16);
		put(&v, u->mp_nh.b, fam == 4 ? 4 : 16);
		if (u->mp_nh_ll.family)
			put(&v, u->mp_nh_ll.b, 16);
		put8(&v, 0);
		r = put_prefixes(&v, u->mp_reach, u->n_mp_reach, fam);
		if (r)
			return r;
		EMIT(BGP_AF_OPTIONAL, BGP_ATTR_MP_REACH);
	}
	if (BGP_HAS(u, BGP_ATTR_MP_UNREACH)) {
		if (u->mp_unreach_afi != BGP_AFI_IPV4 && u->mp_unreach_afi != BGP_AFI_IPV6)
			return -EINVAL;
		VAL();
		put16(&v, u->mp_unreach_afi);
		put8(&v, BGP_SAFI_UNICAST);
		r = put_prefixes(&v, u->mp_unreach, u->n_mp_unreach,
				 u->mp_unreach_afi == BGP_AFI_IPV4 ? 4 : 6);
		if (r)
			return r;
		EMIT(BGP_AF_OPTIONAL, BGP_ATTR_MP_UNREACH);
	}
	if (BGP_HAS(u, BGP_ATTR_LARGE_COMMUNITY)) {
		VAL();
		if (!u->n_large)
			return -EINVAL;
		for (size_t i = 0; i < u->n_large; i++) {
			put32(&v, u->large[i].global);
			put32(&v, u->large[i].local1);
			put32(&v, u->large[i].local2);
		}
		EMIT(BGP_AF_OPTIONAL | BGP_AF_TRANSITIVE, BGP_ATTR_LARGE_COMMUNITY);
	}
	/* Unknown optional transitive ones pass on marked Partial (RFC 4271 5). */
	for (size_t i = 0; i < u->n_unknown; i++) {
		const struct bgp_attr_raw *a = &u->unknown[i];

		if ((a->flags & (BGP_AF_OPTIONAL | BGP_AF_TRANSITIVE)) !=
		    (BGP_AF_OPTIONAL | BGP_AF_TRANSITIVE) || known_flags(a->type) >= 0)
			return -EINVAL;
		put_attr(w, a->flags | BGP_AF_PARTIAL, a->type, a->data, a->len);
	}
#undef VAL
#undef EMIT
	patch16(w, pos, w->n - pos - 2);
	return put_prefixes(w, u->nlri, u->n_nlri, 4);
}

/* ---- the message ---- */

int bgp_msg_decode(const uint8_t *buf, size_t len, const struct bgp_ctx *ctx,
		   struct bgp_msg *m, struct bgp_error *err)
{
	int r;

	memset(m, 0, sizeof(*m));
	memset(err, 0, sizeof(*err));
	r = bgp_msg_frame(buf, len, err);
	if (r < 0)
		return r;
	if ((size_t)r != len) {	/* a caller bug or a truncated buffer */
		uint8_t d[2] = { len >> 8, len };

		return fail(err, BGP_ERR_RESET, BGP_ERR_HEADER, BGP_HDR_BAD_LEN, d, 2,
			    "buffer is not one message");
	}
	m->type = buf[18];
	buf += BGP_HDR_LEN;
	len -= BGP_HDR_LEN;
	switch (m->type) {
	case BGP_OPEN:
		return decode_open(buf, len, ctx, &m->open, err);
	case BGP_UPDATE:
		return decode_update(buf, len, ctx, &m->update, err);
	case BGP_NOTIFICATION:
		m->notif.code = buf[0];
		m->notif.subcode = buf[1];
		m->notif.len = len - 2;
		memcpy(m->notif.data, buf + 2, len - 2);
		return 0;
	case BGP_ROUTE_REFRESH:
		/* AFI(2) reserved(1) SAFI(1); an AFI/SAFI not negotiated is ignored
		 * by the caller (RFC 2918 4) */
		m->rr.afi = get16(buf);
		m->rr.safi = buf[3];
		return 0;
	}
	return 0;	/* KEEPALIVE */
}

void bgp_msg_free(struct bgp_msg *m)
{
	if (m->type == BGP_UPDATE)
		bgp_update_free(&m->update);
}

void bgp_update_free(struct bgp_update *u)
{
	free(u->withdrawn);
	free(u->nlri);
	free_as_path(&u->as_path);
	free_as_path(&u->as4_path);
	free(u->communities);
	free(u->large);
	free(u->mp_reach);
	free(u->mp_unreach);
	for (size_t i = 0; i < u->n_unknown; i++)
		free(u->unknown[i].data);
	free(u->unknown);
	memset(u, 0, sizeof(*u));
}

int bgp_msg_encode(const struct bgp_msg *m, const struct bgp_ctx *ctx, uint8_t *buf, size_t cap)
{
	struct wr w = { .b = buf, .cap = cap };
	int r = 0;

	for (int i = 0; i < 16; i++)
		put8(&w, 0xff);
	put16(&w, 0);
	put8(&w, m->type);
	switch (m->type) {
	case BGP_OPEN:
		r = encode_open(&w, &m->open);
		break;
	case BGP_UPDATE:
		r = encode_update(&w, &m->update, ctx);
		break;
	case BGP_NOTIFICATION:
		if (m->notif.len > BGP_NOTIF_MAX_DATA)
			return -EMSGSIZE;
		put8(&w, m->notif.code);
		put8(&w, m->notif.subcode);
		put(&w, m->notif.data, m->notif.len);
		break;
	case BGP_KEEPALIVE:
		break;
	case BGP_ROUTE_REFRESH:
		put16(&w, m->rr.afi);
		put8(&w, 0);
		put8(&w, m->rr.safi);
		break;
	default:
		return -EINVAL;
	}
	if (r)
		return r;
	if (w.err)
		return w.err;
	patch16(&w, 16, w.n);
	return w.n;
}

int bgp_encode_keepalive(uint8_t *buf, size_t cap)
{
	struct bgp_msg m = { .type = BGP_KEEPALIVE };

	return bgp_msg_encode(&m, NULL, buf, cap);
}

int bgp_encode_notification(uint8_t code, uint8_t subcode, const uint8_t *data, size_t len,
			    uint8_t *buf, size_t cap)
{
	struct wr w = { .b = buf, .cap = cap };

	if (len > BGP_NOTIF_MAX_DATA)
		return -EMSGSIZE;
	for (int i = 0; i < 16; i++)
		put8(&w, 0xff);
	put16(&w, BGP_HDR_LEN + 2 + len);
	put8(&w, BGP_NOTIFICATION);
	put8(&w, code);
	put8(&w, subcode);
	put(&w, data, len);
	return w.err ? w.err : (int)w.n;
}

bool bgp_update_is_eor(const struct bgp_update *u, uint16_t *afi)
{
	if (u->n_withdrawn || u->n_nlri || u->n_unknown)
		return false;
	if (u->attrs == 0) {
		*afi = BGP_AFI_IPV4;
		return true;
	}
	if (u->attrs == 1ull << BGP_ATTR_MP_UNREACH && !u->n_mp_unreach) {
		*afi = u->mp_unreach_afi;
		return true;
	}
	return false;
}

void bgp_update_make_eor(struct bgp_update *u, uint16_t afi)
{
	memset(u, 0, sizeof(*u));
	if (afi != BGP_AFI_IPV4) {
		u->attrs = 1ull << BGP_ATTR_MP_UNREACH;
		u->mp_unreach_afi = afi;
	}
}

int bgp_open_negotiate(const struct bgp_open *ours, const struct bgp_open *theirs,
		       struct bgp_ctx *ctx, uint16_t *hold, struct bgp_error *err)
{
	/* A peer with no multiprotocol capability speaks IPv4 unicast only (RFC 4760 8). */
	bool v4 = theirs->mp_ipv4 || !theirs->mp_ipv6;
	bool our_v4 = ours->mp_ipv4 || !ours->mp_ipv6;

	memset(err, 0, sizeof(*err));
	ctx->as4 = ours->as4 && theirs->as4;
	ctx->ibgp = ours->as == theirs->as;
	*hold = ours->hold_time < theirs->hold_time ? ours->hold_time : theirs->hold_time;
	if (!((our_v4 && v4) || (ours->mp_ipv6 && theirs->mp_ipv6))) {
		uint8_t d[6] = { 1, 4, 0, our_v4 ? BGP_AFI_IPV4 : BGP_AFI_IPV6, 0, BGP_SAFI_UNICAST };

		return fail(err, BGP_ERR_RESET, BGP_ERR_OPEN, BGP_OPEN_UNSUP_CAP, d, 6,
			    "no address family in common");
	}
	return 0;
}

/* ---- from the configuration ---- */

#define GR_TIME_S 120	/* MetalLB's (FRR's default) restart time */

int bgp_open_from_peer(const struct lb_peer *p, uint32_t fallback_id, struct bgp_open *o)
{
	uint32_t hold = p->hold_time_s ? p->hold_time_s : 90;

	memset(o, 0, sizeof(*o));
	if (hold == 1 || hold == 2 || hold > 0xffff || p->router_id.family == 6)
		return -EINVAL;
	o->version = BGP_VERSION;
	o->as = p->my_asn;
	o->hold_time = hold;
	o->id = p->router_id.family == 4 ? get32(p->router_id.b) : fallback_id;
	if (!o->id || !o->as)
		return -EINVAL;
	o->mp_ipv4 = o->mp_ipv6 = true;
	o->route_refresh = true;
	o->as4 = true;
	if (p->graceful_restart) {
		o->gr = true;
		o->gr_time = GR_TIME_S;
		o->n_gr_af = 2;
		o->gr_af[0] = (struct bgp_gr_af){ BGP_AFI_IPV4, BGP_SAFI_UNICAST, 0 };
		o->gr_af[1] = (struct bgp_gr_af){ BGP_AFI_IPV6, BGP_SAFI_UNICAST, 0 };
	}
	return 0;
}

int bgp_update_add_communities(struct bgp_update *u, const struct lb_community *c, size_t n)
{
	size_t ns = 0, nl = 0;

	for (size_t i = 0; i < n; i++)
		c[i].large ? nl++ : ns++;
	if (ns) {
		uint32_t *a = realloc(u->communities, (u->n_communities + ns) * sizeof(*a));

		if (!a)
			return -ENOMEM;
		u->communities = a;
	}
	if (nl) {
		struct bgp_lcomm *a = realloc(u->large, (u->n_large + nl) * sizeof(*a));

		if (!a)
			return -ENOMEM;
		u->large = a;
	}
	for (size_t i = 0; i < n; i++) {
		if (c[i].large)
			u->large[u->n_large++] = (struct bgp_lcomm){ c[i].v[0], c[i].v[1], c[i].v[2] };
		else	/* a:b is the 32-bit a << 16 | b (RFC 1997) */
			u->communities[u->n_communities++] = c[i].v[0] << 16 | (c[i].v[1] & 0xffff);
	}
	if (u->n_communities)
		u->attrs |= 1ull << BGP_ATTR_COMMUNITIES;
	if (u->n_large)
		u->attrs |= 1ull << BGP_ATTR_LARGE_COMMUNITY;
	return 0;
}
