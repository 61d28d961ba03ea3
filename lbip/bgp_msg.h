/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * BGP-4 messages (RFC 4271 section 4): encode into a buffer and strictly
 * decode from one. Pure computation: no sockets, no clock. The driver
 * frames the TCP stream with bgp_msg_frame(), decodes one message with
 * bgp_msg_decode() and, on an error, sends the NOTIFICATION the decoder
 * filled in (struct bgp_error) or, for the RFC 7606 "treat-as-withdraw"
 * class, withdraws the UPDATE's prefixes and keeps the session.
 *
 * Supported: OPEN with capabilities multiprotocol IPv4/IPv6 unicast
 * (RFC 4760), route refresh (RFC 2918), 4-octet ASN (RFC 6793), graceful
 * restart (RFC 4724); UPDATE with ORIGIN, AS_PATH, NEXT_HOP, MED,
 * LOCAL_PREF, ATOMIC_AGGREGATE, AGGREGATOR, COMMUNITIES (RFC 1997),
 * MP_REACH/MP_UNREACH_NLRI for IPv4/IPv6 unicast, AS4_PATH (decode only),
 * LARGE_COMMUNITY (RFC 8092) and unknown optional transitive attributes;
 * NOTIFICATION, KEEPALIVE, ROUTE-REFRESH. docs/bgp.md has the error table.
 */
#ifndef FERRY_LBIP_BGP_MSG_H
#define FERRY_LBIP_BGP_MSG_H

#include "lbip/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BGP_HDR_LEN	19
#define BGP_MAX_LEN	4096
#define BGP_NOTIF_MAX_DATA (BGP_MAX_LEN - BGP_HDR_LEN - 2)
#define BGP_AS_TRANS	23456
#define BGP_PORT	179
#define BGP_VERSION	4

enum bgp_type {
	BGP_OPEN = 1, BGP_UPDATE = 2, BGP_NOTIFICATION = 3, BGP_KEEPALIVE = 4,
	BGP_ROUTE_REFRESH = 5,
};

/* NOTIFICATION error codes and the subcodes this codec produces. */
enum bgp_err_code {
	BGP_ERR_HEADER = 1, BGP_ERR_OPEN = 2, BGP_ERR_UPDATE = 3, BGP_ERR_HOLD = 4,
	BGP_ERR_FSM = 5, BGP_ERR_CEASE = 6,
};
enum {	/* code 1 */
	BGP_HDR_NOT_SYNC = 1, BGP_HDR_BAD_LEN = 2, BGP_HDR_BAD_TYPE = 3,
};
enum {	/* code 2 */
	BGP_OPEN_BAD_VERSION = 1, BGP_OPEN_BAD_PEER_AS = 2, BGP_OPEN_BAD_ID = 3,
	BGP_OPEN_BAD_OPT_PARAM = 4, BGP_OPEN_BAD_HOLD = 6, BGP_OPEN_UNSUP_CAP = 7,
};
enum {	/* code 3 */
	BGP_UPD_MALFORMED_ATTRS = 1, BGP_UPD_UNREC_WELLKNOWN = 2, BGP_UPD_MISSING_WELLKNOWN = 3,
	BGP_UPD_ATTR_FLAGS = 4, BGP_UPD_ATTR_LEN = 5, BGP_UPD_BAD_ORIGIN = 6,
	BGP_UPD_BAD_NEXT_HOP = 8, BGP_UPD_OPT_ATTR = 9, BGP_UPD_BAD_NETWORK = 10,
	BGP_UPD_BAD_AS_PATH = 11,
};
enum {	/* code 5, RFC 6608: the state the unexpected message arrived in */
	BGP_FSM_IN_OPENSENT = 1, BGP_FSM_IN_OPENCONFIRM = 2, BGP_FSM_IN_ESTABLISHED = 3,
};
enum {	/* code 6, RFC 4486 */
	BGP_CEASE_MAX_PREFIXES = 1, BGP_CEASE_ADMIN_SHUTDOWN = 2, BGP_CEASE_PEER_DECONFIGURED = 3,
	BGP_CEASE_ADMIN_RESET = 4, BGP_CEASE_REJECTED = 5, BGP_CEASE_CONFIG_CHANGE = 6,
	BGP_CEASE_COLLISION = 7, BGP_CEASE_OUT_OF_RESOURCES = 8,
};

/* Path attribute type codes. */
enum bgp_attr_type {
	BGP_ATTR_ORIGIN = 1, BGP_ATTR_AS_PATH = 2, BGP_ATTR_NEXT_HOP = 3, BGP_ATTR_MED = 4,
	BGP_ATTR_LOCAL_PREF = 5, BGP_ATTR_ATOMIC_AGGREGATE = 6, BGP_ATTR_AGGREGATOR = 7,
	BGP_ATTR_COMMUNITIES = 8, BGP_ATTR_MP_REACH = 14, BGP_ATTR_MP_UNREACH = 15,
	BGP_ATTR_AS4_PATH = 17, BGP_ATTR_AS4_AGGREGATOR = 18, BGP_ATTR_LARGE_COMMUNITY = 32,
};
/* Attribute flags (first octet of an attribute). */
#define BGP_AF_OPTIONAL		0x80
#define BGP_AF_TRANSITIVE	0x40
#define BGP_AF_PARTIAL		0x20
#define BGP_AF_EXTLEN		0x10

#define BGP_AFI_IPV4	1
#define BGP_AFI_IPV6	2
#define BGP_SAFI_UNICAST 1

enum bgp_origin { BGP_ORIGIN_IGP = 0, BGP_ORIGIN_EGP = 1, BGP_ORIGIN_INCOMPLETE = 2 };
enum bgp_seg_type { BGP_AS_SET = 1, BGP_AS_SEQUENCE = 2, BGP_AS_CONFED_SEQUENCE = 3,
		    BGP_AS_CONFED_SET = 4 };

/* A NOTIFICATION's content, received or to send. */
struct bgp_notification {
	uint8_t code, subcode;
	uint16_t len;
	uint8_t data[BGP_NOTIF_MAX_DATA];
};

/* What the driver does with a decoding error. */
enum bgp_err_action {
	BGP_ERR_NONE = 0,
	BGP_ERR_RESET,		/* send err.n as NOTIFICATION, close the session */
	BGP_ERR_WITHDRAW,	/* RFC 7606 treat-as-withdraw: the UPDATE decoded, every
				 * prefix it carries (NLRI and MP_REACH) is withdrawn */
	BGP_ERR_DISCARD,	/* RFC 7606 attribute discard: the attribute was dropped,
				 * the UPDATE is otherwise good (only logged) */
};
struct bgp_error {
	enum bgp_err_action action;	/* the most severe seen */
	struct bgp_notification n;	/* code/subcode/data of that error */
	const char *why;		/* static text for the log */
};

/* The session parameters decoding and encoding depend on. */
struct bgp_ctx {
	bool as4;		/* both OPENs carried capability 65: 4-octet AS_PATH */
	bool ibgp;		/* peer_as == local_as: LOCAL_PREF mandatory */
	uint32_t local_as;	/* ours, for the OPEN's identifier check */
	uint32_t peer_as;	/* expected in the peer's OPEN; 0 = any */
	uint32_t local_id;	/* our BGP identifier (host order) */
};

/* An IPv4 or IPv6 prefix; host bits beyond len are zero after decoding. */
struct bgp_prefix {
	struct lb_addr addr;	/* family 4 or 6 */
	uint8_t len;
};

/* Graceful restart (RFC 4724), per address family. */
#define BGP_GR_RESTARTING	0x8	/* R bit, in gr_flags (the top 4 bits of the field) */
#define BGP_GR_FORWARDING	0x80	/* F bit, per address family */
struct bgp_gr_af {
	uint16_t afi;
	uint8_t safi, flags;
};
#define BGP_GR_MAX_AF 4

struct bgp_open {
	uint8_t version;	/* 4 */
	uint32_t as;		/* the real AS: capability 65's if present, else the
				 * 2-octet field; the encoder writes AS_TRANS there when > 65535 */
	uint16_t hold_time;	/* seconds: 0 or >= 3 */
	uint32_t id;		/* BGP identifier, host order */
	/* Capabilities (RFC 5492). */
	bool mp_ipv4, mp_ipv6;	/* multiprotocol AFI 1/2 SAFI 1 */
	bool route_refresh;	/* code 2 */
	bool as4;		/* code 65 */
	bool gr;		/* code 64 */
	uint8_t gr_flags;	/* R and N bits (top 4 bits of the 16-bit field, >> 12) */
	uint16_t gr_time;	/* restart time, seconds, 12 bits */
	struct bgp_gr_af gr_af[BGP_GR_MAX_AF];
	uint8_t n_gr_af;
	uint8_t n_unknown_caps;	/* decode only: capabilities ignored */
	bool has_caps;		/* decode only: any capability parameter at all */
};

struct bgp_as_seg {
	uint8_t type;		/* enum bgp_seg_type */
	uint8_t n;		/* ASNs, 1..255 */
	uint32_t *asn;
};
struct bgp_as_path {
	struct bgp_as_seg *segs;
	size_t n_segs;
};

struct bgp_lcomm {
	uint32_t global, local1, local2;
};

/* An attribute this codec does not know, kept as received (optional
 * transitive only). The encoder sets its Partial bit. */
struct bgp_attr_raw {
	uint8_t flags, type;
	uint16_t len;
	uint8_t *data;
};

struct bgp_update {
	uint64_t attrs;			/* bit (1 << type) for every known attribute present,
					 * type < 64 */
	/* IPv4 withdrawn routes and NLRI from the fixed fields. */
	struct bgp_prefix *withdrawn, *nlri;
	size_t n_withdrawn, n_nlri;
	uint8_t origin;
	struct bgp_as_path as_path;
	struct bgp_as_path as4_path;	/* decode only */
	struct lb_addr next_hop;	/* family 4 */
	uint32_t med, local_pref;
	uint32_t aggregator_as, aggregator_id;	/* id host order */
	uint32_t *communities;
	size_t n_communities;
	struct bgp_lcomm *large;
	size_t n_large;
	/* MP_REACH_NLRI: one AFI/SAFI per attribute (unicast). */
	uint16_t mp_reach_afi;
	struct lb_addr mp_nh, mp_nh_ll;	/* global; link-local family 0 = none */
	struct bgp_prefix *mp_reach;
	size_t n_mp_reach;
	/* MP_UNREACH_NLRI */
	uint16_t mp_unreach_afi;
	struct bgp_prefix *mp_unreach;
	size_t n_mp_unreach;
	struct bgp_attr_raw *unknown;
	size_t n_unknown;
};

struct bgp_route_refresh {
	uint16_t afi;
	uint8_t safi;
};

struct bgp_msg {
	uint8_t type;			/* enum bgp_type */
	union {
		struct bgp_open open;
		struct bgp_update update;
		struct bgp_notification notif;
		struct bgp_route_refresh rr;
	};
};

#define BGP_HAS(u, t) (((u)->attrs >> (t)) & 1)

/*
 * Framing: how long is the message at the start of buf?
 * Returns its length (19..4096) when all of it is in buf, 0 when more
 * bytes are needed, -EBADMSG with err filled (code 1) when the header is
 * bad: marker, length out of 19..4096 or wrong for the type, unknown type.
 */
int bgp_msg_frame(const uint8_t *buf, size_t len, struct bgp_error *err);

/*
 * Decode one whole message (the header included, len as framed).
 * 0: *m is filled; err->action is NONE, WITHDRAW or DISCARD (see above).
 * -EBADMSG: err->action is RESET and err->n the NOTIFICATION to send.
 * -ENOMEM. Always call bgp_msg_free(m) afterwards, whatever the result.
 * OPEN checks: version (2/1), peer AS against ctx->peer_as (2/2),
 * identifier 0 or ours in iBGP (2/3), hold time 1 or 2 (2/6),
 * parameters other than capabilities (2/4).
 */
int bgp_msg_decode(const uint8_t *buf, size_t len, const struct bgp_ctx *ctx,
		   struct bgp_msg *m, struct bgp_error *err);
void bgp_msg_free(struct bgp_msg *m);

/*
 * Encode m into buf (cap bytes). Returns the length, -EMSGSIZE when it does
 * not fit into cap or 4096 bytes, -EINVAL for a value the wire cannot carry
 * (hold time 1 or 2, prefix length, AS path segment of 0 or > 255 ASNs).
 * AS_PATH is written with 4-octet ASNs when ctx->as4, else 2-octet with
 * AS_TRANS for larger ASNs. AS4_PATH is never written.
 */
int bgp_msg_encode(const struct bgp_msg *m, const struct bgp_ctx *ctx, uint8_t *buf, size_t cap);

/* Shorthands: 19 bytes; a NOTIFICATION. Same returns as bgp_msg_encode. */
int bgp_encode_keepalive(uint8_t *buf, size_t cap);
int bgp_encode_notification(uint8_t code, uint8_t subcode, const uint8_t *data, size_t len,
			    uint8_t *buf, size_t cap);

/* End-of-RIB (RFC 4724): an UPDATE with nothing for IPv4, with only an
 * empty MP_UNREACH_NLRI for another AFI. Ask only of an UPDATE that
 * decoded with err.action NONE: a dropped attribute can leave one empty. */
bool bgp_update_is_eor(const struct bgp_update *u, uint16_t *afi);
void bgp_update_make_eor(struct bgp_update *u, uint16_t afi);

/*
 * After both OPENs: fill ctx (as4, ibgp) and the negotiated hold time.
 * -EBADMSG with err (2/7, data = our unsupported capability) when the
 * peer supports none of the address families we offered.
 */
int bgp_open_negotiate(const struct bgp_open *ours, const struct bgp_open *theirs,
		       struct bgp_ctx *ctx, uint16_t *hold, struct bgp_error *err);

/*
 * From the configuration model (lbip/config.h) to the wire.
 * Our OPEN for a peer: my_asn, hold_time_s (0 = 90), router_id (unset:
 * fallback_id, host order), MP IPv4 and IPv6 unicast, route refresh,
 * 4-octet AS, and graceful restart (120 s, both families, no flags: the
 * driver sets R and F after a restart) when graceful_restart.
 * -EINVAL: hold time 1 or 2, an IPv6 router_id, no identifier at all.
 */
int bgp_open_from_peer(const struct lb_peer *p, uint32_t fallback_id, struct bgp_open *o);
/* Standard and large communities of an advertisement into u (appended;
 * attribute bits set). -ENOMEM. Freed by bgp_update_free. */
int bgp_update_add_communities(struct bgp_update *u, const struct lb_community *c, size_t n);
/* Free what a decoded (or bgp_update_add_communities-extended) UPDATE owns. */
void bgp_update_free(struct bgp_update *u);

const char *bgp_type_name(uint8_t type);

#endif
