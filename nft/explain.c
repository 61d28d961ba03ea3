/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `ferry explain NAMESPACE/NAME`: one Service's path through the ferry
 * tables, read back from the kernel (netlink dumps of sets, elements,
 * chains and rules; never our own idea of what we installed, never the nft
 * binary). A Service's entry elements are found by their comment; from
 * each entry the lookups are followed as the packet follows them:
 *
 *   services -> @service-ips/-nodeports -> @kinds -> kind chain
 *     -> @pick-*-internal/-external -> @pick-chains -> pick chain -> @dnat-*
 *
 * plus the filter side (@firewall-*, @no-endpoint-*, @cluster-ips,
 * @hairpin by endpoint address, remembered @affinity clients). Elements
 * are printed as `nft list ruleset` prints them, and rules are decoded from
 * their expressions into nft syntax for the constructs ferry writes
 * (anything else shows as [name], never as a guess).
 */
#include "nft/internal.h"
#include "core/vec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/rtnetlink.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define XKEY 64
#define XTXT 128

struct xelem {
	uint8_t key[XKEY], key_end[XKEY], data[XKEY];
	uint32_t klen, kelen, dlen, flags;
	int verdict;			/* with has_verdict */
	bool has_verdict;
	char chain[XTXT], comment[XTXT];
	uint64_t timeout_ms, expires_ms;
};

struct xset {
	char name[XTXT];
	uint32_t flags, key_type, key_len, data_type, data_len;
	VEC(struct xelem) el;
};

struct xchain {
	char name[XTXT], comment[XTXT];
	VEC(char *) rules;		/* decoded, in order */
	bool printed, commented;
};

struct xelem_ptrs {
	const struct xelem **v;
	size_t n, cap;
};

struct xtab {
	int fam;
	VEC(struct xset) sets;
	VEC(struct xchain) chains;
};

/* ---- reading the kernel's tables ---- */

static void udata_comment(const void *ud, uint32_t len, uint8_t type, char *out)
{
	const uint8_t *p = ud, *end = p + len;

	out[0] = 0;
	while (p + 2 <= end && p + 2 + p[1] <= end) {	/* type, length, value */
		if (p[0] == type && p[1] > 0) {
			snprintf(out, XTXT, "%.*s", (int)p[1], (const char *)p + 2);
			return;
		}
		p += 2 + p[1];
	}
}

static int set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct xtab *t = data;
	struct nftnl_set *s = nftnl_set_alloc();
	struct xset x = { 0 };

	if (!s)
		return MNL_CB_ERROR;
	if (nftnl_set_nlmsg_parse(nlh, s) == 0 &&
	    !strcmp(nftnl_set_get_str(s, NFTNL_SET_TABLE) ?: "", TABLE)) {
		snprintf(x.name, sizeof(x.name), "%s", nftnl_set_get_str(s, NFTNL_SET_NAME) ?: "");
		x.flags = nftnl_set_get_u32(s, NFTNL_SET_FLAGS);
		x.key_type = nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE);
		x.key_len = nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN);
		x.data_type = nftnl_set_get_u32(s, NFTNL_SET_DATA_TYPE);
		x.data_len = nftnl_set_get_u32(s, NFTNL_SET_DATA_LEN);
		if (vec_push(&t->sets, x)) {
			nftnl_set_free(s);
			return MNL_CB_ERROR;
		}
	}
	nftnl_set_free(s);
	return MNL_CB_OK;
}

static void elem_copy(struct nftnl_set_elem *e, uint16_t attr, uint8_t *out, uint32_t *len)
{
	uint32_t l = 0;
	const void *p = nftnl_set_elem_is_set(e, attr) ? nftnl_set_elem_get(e, attr, &l) : NULL;

	*len = p && l <= XKEY ? l : 0;
	if (*len)
		memcpy(out, p, *len);
}

static int elem_cb(const struct nlmsghdr *nlh, void *data)
{
	struct xset *x = data;
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;
	int r = MNL_CB_OK;

	if (!s)
		return MNL_CB_ERROR;
	if (nftnl_set_elems_nlmsg_parse(nlh, s) < 0 || !(it = nftnl_set_elems_iter_create(s))) {
		nftnl_set_free(s);
		return MNL_CB_OK;	/* not an element message: nothing to add */
	}
	while (r == MNL_CB_OK && (e = nftnl_set_elems_iter_next(it))) {
		struct xelem y = { 0 };
		uint32_t l;
		elem_copy(e, NFTNL_SET_ELEM_KEY, y.key, &y.klen);
		elem_copy(e, NFTNL_SET_ELEM_KEY_END, y.key_end, &y.kelen);
		elem_copy(e, NFTNL_SET_ELEM_DATA, y.data, &y.dlen);
		if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS))
			y.flags = nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS);
		if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT)) {
			y.has_verdict = true;
			y.verdict = (int)nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT);
		}
		if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN))
			snprintf(y.chain, sizeof(y.chain), "%s", nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN));
		if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_USERDATA)) {
			const void *ud = nftnl_set_elem_get(e, NFTNL_SET_ELEM_USERDATA, &l);
			udata_comment(ud, l, NFTNL_UDATA_SET_ELEM_COMMENT, y.comment);
		}
		if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_TIMEOUT))
			y.timeout_ms = nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_TIMEOUT);
		if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_EXPIRATION))
			y.expires_ms = nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_EXPIRATION);
		if (vec_push(&x->el, y))
			r = MNL_CB_ERROR;
	}
	nftnl_set_elems_iter_destroy(it);
	nftnl_set_free(s);
	return r;
}

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct xtab *t = data;
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct xchain x = { 0 };
	uint32_t l;

	if (!c)
		return MNL_CB_ERROR;
	if (nftnl_chain_nlmsg_parse(nlh, c) == 0 &&
	    !strcmp(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE) ?: "", TABLE)) {
		snprintf(x.name, sizeof(x.name), "%s", nftnl_chain_get_str(c, NFTNL_CHAIN_NAME) ?: "");
		if (nftnl_chain_is_set(c, NFTNL_CHAIN_USERDATA)) {
			const void *ud = nftnl_chain_get_data(c, NFTNL_CHAIN_USERDATA, &l);
			udata_comment(ud, l, NFTNL_UDATA_CHAIN_COMMENT, x.comment);
		}
		if (vec_push(&t->chains, x)) {
			nftnl_chain_free(c);
			return MNL_CB_ERROR;
		}
	}
	nftnl_chain_free(c);
	return MNL_CB_OK;
}

static struct xset *set_of(struct xtab *t, const char *name)
{
	for (size_t i = 0; i < t->sets.n; i++)
		if (!strcmp(t->sets.v[i].name, name))
			return &t->sets.v[i];
	return NULL;
}

static struct xchain *chain_of(struct xtab *t, const char *name)
{
	for (size_t i = 0; i < t->chains.n; i++)
		if (!strcmp(t->chains.v[i].name, name))
			return &t->chains.v[i];
	return NULL;
}

/* ---- rules: expressions back to nft syntax ---- */

/* What a 32-bit register holds while a rule is read: the text of the
 * expression loaded there (only at the first word of a field), and enough
 * to print a comparison the way nft does. */
enum rkind { RK_NONE, RK_PAYLOAD, RK_CT_STATE, RK_CT_STATUS, RK_FIB, RK_BITWISE, RK_OTHER };
struct rreg { char txt[256]; bool start; enum rkind kind, src; uint32_t len, mask; };
struct rdec { struct xtab *t; struct rreg reg[16]; char out[1024]; };

static int ridx(uint32_t reg)
{
	int i = reg >= NFT_REG32_00 ? (int)(reg - NFT_REG32_00) : ((int)reg - 1) * 4;
	return i >= 0 && i < 16 ? i : 0;
}

static void emit(struct rdec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(struct rdec *d, const char *fmt, ...)
{
	size_t n = strlen(d->out);
	va_list ap;

	if (n && n + 1 < sizeof(d->out))
		d->out[n++] = ' ', d->out[n] = 0;
	va_start(ap, fmt);
	vsnprintf(d->out + n, sizeof(d->out) - n, fmt, ap);
	va_end(ap);
}

static void reg_load(struct rdec *d, uint32_t reg, uint32_t len, enum rkind k, const char *txt)
{
	int i = ridx(reg);
	for (int w = 0; w < (int)(len + 3) / 4 && i + w < 16; w++)
		d->reg[i + w].start = false;
	/* cut to the register's text size on purpose; the precision says so
	 * to GCC's -O3 format-truncation check */
	snprintf(d->reg[i].txt, sizeof(d->reg[i].txt), "%.*s", (int)sizeof(d->reg[i].txt) - 1, txt);
	d->reg[i].start = true;
	d->reg[i].kind = k;
	d->reg[i].len = len;
}

/* `a . b . c`: the fields in the registers that `len` bytes span */
static void reg_concat(struct rdec *d, uint32_t reg, uint32_t len, char *out, size_t sz)
{
	int i = ridx(reg);
	out[0] = 0;
	for (int w = 0; w < (int)(len + 3) / 4 && i + w < 16; w++)
		if (d->reg[i + w].start)
			snprintf(out + strlen(out), sz - strlen(out), "%s%s", out[0] ? " . " : "",
				 d->reg[i + w].txt);
}

static uint32_t set_key_len(struct rdec *d, const char *set)
{
	struct xset *s = set_of(d->t, set);
	return s ? s->key_len : 4;
}

static const char *payload_name(int fam, uint32_t base, uint32_t off)
{
	if (base == NFT_PAYLOAD_NETWORK_HEADER && off == saddr_off(fam))
		return fam ? "ip6 saddr" : "ip saddr";
	if (base == NFT_PAYLOAD_NETWORK_HEADER && off == daddr_off(fam))
		return fam ? "ip6 daddr" : "ip daddr";
	if (base == NFT_PAYLOAD_TRANSPORT_HEADER && off == 2)
		return "th dport";
	if (base == NFT_PAYLOAD_TRANSPORT_HEADER && off == 0)
		return "th sport";
	return NULL;
}

static void x_cmp_text(struct rdec *d, struct nftnl_expr *e)
{
	struct rreg *r = &d->reg[ridx(nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_SREG))];
	uint32_t op = nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP), len = 0, v = 0;
	const uint8_t *data = nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &len);
	const char *neq = op == NFT_CMP_NEQ ? "!= " : "";
	char a[INET6_ADDRSTRLEN];

	if (data && len == 4)
		memcpy(&v, data, 4);
	if (r->kind == RK_FIB && v == RTN_LOCAL) {
		emit(d, "%s type %slocal", r->txt, neq);
	} else if (r->kind == RK_BITWISE && r->src == RK_CT_STATE && v == 0) {
		const char *st = r->mask == NF_CT_STATE_INVALID_BIT ? "invalid" :
				 r->mask == NF_CT_STATE_BIT(IP_CT_NEW) ? "new" :
				 r->mask == NF_CT_STATE_BIT(IP_CT_ESTABLISHED) ? "established" : "related";
		emit(d, "ct state %s%s", op == NFT_CMP_EQ ? "!= " : "", st);
	} else if (r->kind == RK_BITWISE && r->src == RK_CT_STATUS && v == 0 && r->mask == IPS_DST_NAT) {
		emit(d, "ct status %sdnat", op == NFT_CMP_EQ ? "! " : "");
	} else if (r->kind == RK_BITWISE) {
		emit(d, "%s %s 0x%08x", r->txt, op == NFT_CMP_NEQ ? "!=" : "==", v);
	} else if (r->kind == RK_PAYLOAD && data && strstr(r->txt, "addr")) {
		/* a prefix of an address: ip daddr != 127.0.0.0/8 */
		uint8_t full[16] = { 0 };
		int alen = rfam_alen(d->t->fam);
		memcpy(full, data, len < 16 ? len : 16);
		inet_ntop(rfam_af(d->t->fam), full, a, sizeof(a));
		if ((int)len < alen)
			emit(d, "%s %s%s/%u", r->txt, neq, a, len * 8);
		else
			emit(d, "%s %s%s", r->txt, neq, a);
	} else if (!strcmp(r->txt, "iifname") && data && len <= 16) {
		/* the whole 16 bytes: a name; fewer: a prefix, as nft shows it */
		char name[17] = { 0 };
		memcpy(name, data, len);
		emit(d, "iifname %s\"%s%s\"", neq, name, len < 16 ? "*" : "");
	} else if (!strcmp(r->txt, "meta l4proto") && data && len == 1) {
		emit(d, "%s %s%s", r->txt, neq, data[0] == 6 ? "tcp" : data[0] == 17 ? "udp" : "?");
	} else {
		emit(d, "%s %s0x%08x", r->txt, neq, v);
	}
}

/* A time as nft prints it: 3h, 10m, 1h30m, 9m59s500ms */
static void time_text(uint64_t ms, char *to, size_t sz)
{
	static const struct { uint64_t ms; const char *u; } units[] = {
		{ 86400000, "d" }, { 3600000, "h" }, { 60000, "m" }, { 1000, "s" }, { 1, "ms" } };

	to[0] = 0;
	for (size_t i = 0; i < 5; i++)
		if (ms >= units[i].ms) {
			snprintf(to + strlen(to), sz - strlen(to), "%llu%s",
				 (unsigned long long)(ms / units[i].ms), units[i].u);
			ms %= units[i].ms;
		}
}

static void decode_expr(struct rdec *d, struct nftnl_expr *e)
{
	const char *n = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
	int fam = d->t->fam;
	char k[512];

	if (!strcmp(n, "payload")) {
		uint32_t base = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_BASE);
		uint32_t off = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET);
		uint32_t len = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_LEN);
		const char *pn = payload_name(fam, base, off);
		snprintf(k, sizeof(k), "@%s,%u,%u", base == NFT_PAYLOAD_NETWORK_HEADER ? "nh" : "th",
			 off * 8, len * 8);
		reg_load(d, nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_DREG), len, RK_PAYLOAD, pn ? pn : k);
	} else if (!strcmp(n, "meta") || !strcmp(n, "ct")) {
		bool meta = n[0] == 'm';
		uint32_t key = nftnl_expr_get_u32(e, meta ? NFTNL_EXPR_META_KEY : NFTNL_EXPR_CT_KEY);
		const char *kn = meta ? (key == NFT_META_L4PROTO ? "meta l4proto" : key == NFT_META_MARK ? "meta mark" :
					 key == NFT_META_IIFNAME ? "iifname" : "meta ?")
				      : (key == NFT_CT_STATE ? "ct state" : key == NFT_CT_STATUS ? "ct status" :
					 key == NFT_CT_MARK ? "ct mark" : key == NFT_CT_ID ? "ct id" : "ct ?");
		uint16_t sreg = meta ? NFTNL_EXPR_META_SREG : NFTNL_EXPR_CT_SREG;
		if (nftnl_expr_is_set(e, sreg)) {
			uint32_t r = nftnl_expr_get_u32(e, sreg);
			emit(d, "%s set %s", kn, d->reg[ridx(r)].txt);
		} else {
			enum rkind rk = !meta && key == NFT_CT_STATE ? RK_CT_STATE :
					!meta && key == NFT_CT_STATUS ? RK_CT_STATUS : RK_OTHER;
			reg_load(d, nftnl_expr_get_u32(e, meta ? NFTNL_EXPR_META_DREG : NFTNL_EXPR_CT_DREG),
				 key == NFT_META_L4PROTO && meta ? 1 : 4, rk, kn);
		}
	} else if (!strcmp(n, "bitwise")) {
		uint32_t mask = 0, xr = 0, l;
		const void *p = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_MASK, &l);
		if (p && l == 4)
			memcpy(&mask, p, 4);
		p = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_XOR, &l);
		if (p && l == 4)
			memcpy(&xr, p, 4);
		struct rreg src = d->reg[ridx(nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_SREG))];
		if (!xr)
			snprintf(k, sizeof(k), "%s & 0x%08x", src.txt, mask);
		else if ((mask | xr) == 0xffffffffu && !(mask & xr))
			snprintf(k, sizeof(k), "%s | 0x%08x", src.txt, xr);
		else
			snprintf(k, sizeof(k), "(%s & 0x%08x) ^ 0x%08x", src.txt, mask, xr);
		uint32_t dr = nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_DREG);
		reg_load(d, dr, 4, RK_BITWISE, k);
		d->reg[ridx(dr)].src = src.kind;
		d->reg[ridx(dr)].mask = mask;
	} else if (!strcmp(n, "cmp")) {
		x_cmp_text(d, e);
	} else if (!strcmp(n, "lookup")) {
		const char *set = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET);
		uint32_t fl = nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_FLAGS) ?
			      nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_FLAGS) : 0;
		reg_concat(d, nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_SREG), set_key_len(d, set), k, sizeof(k));
		if (!nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_DREG)) {
			emit(d, "%s %s@%s", k, fl & NFT_LOOKUP_F_INV ? "!= " : "", set);
		} else if (nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_DREG) == NFT_REG_VERDICT) {
			emit(d, "%s vmap @%s", k, set);
		} else {
			char m[600];
			snprintf(m, sizeof(m), "%s map @%s", k, set);
			reg_load(d, nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_DREG), 4, RK_OTHER, m);
		}
	} else if (!strcmp(n, "immediate") && nftnl_expr_is_set(e, NFTNL_EXPR_IMM_DATA)) {
		uint32_t l = 0, val = 0;
		const void *p = nftnl_expr_get(e, NFTNL_EXPR_IMM_DATA, &l);
		if (p && l == 4)
			memcpy(&val, p, 4);
		snprintf(k, sizeof(k), "0x%08x", val);
		reg_load(d, nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_DREG), 4, RK_OTHER, k);
	} else if (!strcmp(n, "immediate") && nftnl_expr_is_set(e, NFTNL_EXPR_IMM_VERDICT)) {
		int v = (int)nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT);
		const char *c = nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN) ?
				nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN) : "";
		switch (v) {
		case NF_DROP: emit(d, "drop"); break;
		case NF_ACCEPT: emit(d, "accept"); break;
		case NFT_JUMP: emit(d, "jump %s", c); break;
		case NFT_GOTO: emit(d, "goto %s", c); break;
		case NFT_RETURN: emit(d, "return"); break;
		default: emit(d, "continue"); break;
		}
	} else if (!strcmp(n, "fib")) {
		uint32_t fl = nftnl_expr_get_u32(e, NFTNL_EXPR_FIB_FLAGS);
		reg_load(d, nftnl_expr_get_u32(e, NFTNL_EXPR_FIB_DREG), 4, RK_FIB,
			 fl & NFTA_FIB_F_SADDR ? "fib saddr" : "fib daddr");
	} else if (!strcmp(n, "numgen")) {
		uint32_t off = nftnl_expr_get_u32(e, NFTNL_EXPR_NG_OFFSET);
		snprintf(k, sizeof(k), "numgen random mod %u", nftnl_expr_get_u32(e, NFTNL_EXPR_NG_MODULUS));
		if (off)
			snprintf(k + strlen(k), sizeof(k) - strlen(k), " offset %u", off);
		reg_load(d, nftnl_expr_get_u32(e, NFTNL_EXPR_NG_DREG), 4, RK_OTHER, k);
	} else if (!strcmp(n, "nat")) {
		uint32_t r = nftnl_expr_get_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN);
		emit(d, "%s %s to %s", nftnl_expr_get_u32(e, NFTNL_EXPR_NAT_TYPE) == NFT_NAT_DNAT ? "dnat" : "snat",
		     fam ? "ip6" : "ip", d->reg[ridx(r)].txt);
	} else if (!strcmp(n, "dynset")) {
		const char *set = nftnl_expr_get_str(e, NFTNL_EXPR_DYNSET_SET_NAME);
		char to[64];
		time_text(nftnl_expr_get_u64(e, NFTNL_EXPR_DYNSET_TIMEOUT), to, sizeof(to));
		reg_concat(d, nftnl_expr_get_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY), set_key_len(d, set), k, sizeof(k));
		if (nftnl_expr_get_u32(e, NFTNL_EXPR_DYNSET_OP) == NFT_DYNSET_OP_DELETE)
			emit(d, "delete @%s { %s : %s }", set, k,
			     d->reg[ridx(nftnl_expr_get_u32(e, NFTNL_EXPR_DYNSET_SREG_DATA))].txt);
		else
			emit(d, "update @%s { %s timeout %s : %s }", set, k, to,
			     d->reg[ridx(nftnl_expr_get_u32(e, NFTNL_EXPR_DYNSET_SREG_DATA))].txt);
	} else if (!strcmp(n, "masq")) {
		uint32_t fl = nftnl_expr_is_set(e, NFTNL_EXPR_MASQ_FLAGS) ? nftnl_expr_get_u32(e, NFTNL_EXPR_MASQ_FLAGS) : 0;
		emit(d, "masquerade%s", fl & NF_NAT_RANGE_PROTO_RANDOM_FULLY ? " fully-random" : "");
	} else if (!strcmp(n, "reject")) {
		if (nftnl_expr_get_u32(e, NFTNL_EXPR_REJECT_TYPE) == NFT_REJECT_TCP_RST) {
			/* nft folds the `meta l4proto tcp` this needs into it */
			size_t l = strlen(d->out), m = strlen("meta l4proto tcp");
			if (l >= m && !strcmp(d->out + l - m, "meta l4proto tcp"))
				d->out[l - m - (l > m)] = 0;
			emit(d, "reject with tcp reset");
		} else {
			emit(d, "reject");
		}
	} else {
		emit(d, "[%s]", n);
	}
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct xtab *t = data;
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_expr_iter *it;
	struct nftnl_expr *e;
	struct rdec *d;

	if (!r)
		return MNL_CB_ERROR;
	if (nftnl_rule_nlmsg_parse(nlh, r) < 0 ||
	    strcmp(nftnl_rule_get_str(r, NFTNL_RULE_TABLE) ?: "", TABLE)) {
		nftnl_rule_free(r);
		return MNL_CB_OK;
	}
	struct xchain *c = chain_of(t, nftnl_rule_get_str(r, NFTNL_RULE_CHAIN) ?: "");
	d = calloc(1, sizeof(*d));
	it = nftnl_expr_iter_create(r);
	if (!d || !it) {
		free(d);
		if (it)
			nftnl_expr_iter_destroy(it);
		nftnl_rule_free(r);
		return MNL_CB_ERROR;
	}
	d->t = t;
	while ((e = nftnl_expr_iter_next(it)))
		decode_expr(d, e);
	nftnl_expr_iter_destroy(it);
	nftnl_rule_free(r);
	char *txt = strdup(d->out);
	free(d);
	if (!txt || (c && vec_push(&c->rules, txt))) {
		free(txt);
		return MNL_CB_ERROR;
	}
	if (!c)
		free(txt);
	return MNL_CB_OK;
}

static int dump_table(struct mnl_socket *nl, uint32_t *seq, struct xtab *t)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint16_t nfp = (uint16_t)nfproto_of(t->fam);
	struct nlmsghdr *nlh;
	int r;

	/* nft list sets table ip ferry */
	struct nftnl_set *s = nftnl_set_alloc();
	if (!s || nftnl_set_set_str(s, NFTNL_SET_TABLE, TABLE) < 0) {
		if (s)
			nftnl_set_free(s);
		return -ENOMEM;
	}
	memset(buf, 0, sizeof(buf));	/* no stack garbage to the kernel */
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSET, nfp, NLM_F_DUMP, ++*seq);
	nftnl_set_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	if ((r = nl_talk(nl, nlh, set_cb, t)) < 0)
		return r;
	/* the elements of each: nft list set ip ferry NAME */
	for (size_t i = 0; i < t->sets.n; i++) {
		s = elem_set(t->fam, 0);
		if (!s || nftnl_set_set_str(s, NFTNL_SET_NAME, t->sets.v[i].name) < 0) {
			if (s)
				nftnl_set_free(s);
			return -ENOMEM;
		}
		memset(buf, 0, sizeof(buf));	/* no stack garbage to the kernel */
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, nfp, NLM_F_DUMP, ++*seq);
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
		nftnl_set_free(s);
		if ((r = nl_talk(nl, nlh, elem_cb, &t->sets.v[i])) < 0)
			return r;
	}
	/* chains, then their rules */
	struct nftnl_chain *c = nftnl_chain_alloc();
	if (!c || nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, TABLE) < 0) {
		if (c)
			nftnl_chain_free(c);
		return -ENOMEM;
	}
	memset(buf, 0, sizeof(buf));	/* no stack garbage to the kernel */
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, nfp, NLM_F_DUMP, ++*seq);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	if ((r = nl_talk(nl, nlh, chain_cb, t)) < 0)
		return r;
	struct nftnl_rule *rl = nftnl_rule_alloc();
	if (!rl || nftnl_rule_set_str(rl, NFTNL_RULE_TABLE, TABLE) < 0) {
		if (rl)
			nftnl_rule_free(rl);
		return -ENOMEM;
	}
	memset(buf, 0, sizeof(buf));	/* no stack garbage to the kernel */
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, nfp, NLM_F_DUMP, ++*seq);
	nftnl_rule_nlmsg_build_payload(nlh, rl);
	nftnl_rule_free(rl);
	return nl_talk(nl, nlh, rule_cb, t);
}

static void xtab_free(struct xtab *t)
{
	for (size_t i = 0; i < t->sets.n; i++)
		vec_free(&t->sets.v[i].el);
	for (size_t i = 0; i < t->chains.n; i++) {
		for (size_t j = 0; j < t->chains.v[i].rules.n; j++)
			free(t->chains.v[i].rules.v[j]);
		vec_free(&t->chains.v[i].rules);
	}
	vec_free(&t->sets);
	vec_free(&t->chains);
}

/* ---- printing ---- */

/* nftables datatype ids packed 6 bits each, first field highest (skeleton.c) */
enum { DT_IPADDR = 7, DT_IP6ADDR = 8, DT_INET_PROTO = 12, DT_INET_SERVICE = 13, DT_MARK = 19 };

static int dt_fields(uint32_t type, int *dt)
{
	int n = 0, rev[8];
	while (type && n < 8) {
		rev[n++] = (int)(type & 63);
		type >>= 6;
	}
	for (int i = 0; i < n; i++)
		dt[i] = rev[n - 1 - i];
	return n;
}

static int dt_size(int dt)
{
	return dt == DT_IP6ADDR ? 16 : dt == DT_INET_PROTO ? 1 : dt == DT_INET_SERVICE ? 2 : 4;
}

static void put_field(FILE *f, int dt, const uint8_t *p)
{
	char a[INET6_ADDRSTRLEN];
	uint32_t m;

	switch (dt) {
	case DT_IPADDR:
	case DT_IP6ADDR:
		fputs(inet_ntop(dt == DT_IPADDR ? AF_INET : AF_INET6, p, a, sizeof(a)), f);
		break;
	case DT_INET_PROTO:
		if (p[0] == 6 || p[0] == 17 || p[0] == 132)
			fputs(p[0] == 6 ? "tcp" : p[0] == 17 ? "udp" : "sctp", f);
		else
			fprintf(f, "%u", p[0]);
		break;
	case DT_INET_SERVICE:
		fprintf(f, "%u", (unsigned)(p[0] << 8 | p[1]));
		break;
	default:	/* mark: host order */
		memcpy(&m, p, 4);
		fprintf(f, "0x%08x", m);
	}
}

/* `198.19.0.10 . tcp . 80`; with an end (a concatenated range) the last
 * field as a prefix, as nft prints it */
static void put_value(FILE *f, uint32_t type, const uint8_t *v, uint32_t len, const uint8_t *end)
{
	int dt[8], n = dt_fields(type, dt);
	uint32_t off = 0;

	for (int i = 0; i < n; i++) {
		int sz = dt_size(dt[i]);
		if (off + (uint32_t)sz > len)
			break;
		if (i)
			fputs(" . ", f);
		put_field(f, dt[i], v + off);
		if (end && i == n - 1 && memcmp(v + off, end + off, (size_t)sz)) {
			int plen = 0;
			while (plen < sz * 8 && !((v[off + plen / 8] ^ end[off + plen / 8]) & (0x80 >> (plen % 8))))
				plen++;
			fprintf(f, "/%d", plen);
		}
		off += n == 1 ? (uint32_t)sz : (uint32_t)(sz + 3) / 4 * 4;
	}
}

static void put_elem(FILE *f, const struct xset *s, const struct xelem *e)
{
	put_value(f, s->key_type, e->key, e->klen, e->kelen ? e->key_end : NULL);
	char t[64];
	if (e->timeout_ms) {
		time_text(e->timeout_ms, t, sizeof(t));
		fprintf(f, " timeout %s", t);
	}
	if (e->expires_ms) {
		time_text(e->expires_ms, t, sizeof(t));
		fprintf(f, " expires %s", t);
	}
	if (e->comment[0])
		fprintf(f, " comment \"%s\"", e->comment);
	if (e->has_verdict) {
		fputs(" : ", f);
		if (e->verdict == NFT_GOTO || e->verdict == NFT_JUMP)
			fprintf(f, "%s %s", e->verdict == NFT_GOTO ? "goto" : "jump", e->chain);
		else
			fputs(e->verdict == NF_DROP ? "drop" : e->verdict == NF_ACCEPT ? "accept" : "?", f);
	} else if (e->dlen) {
		fputs(" : ", f);
		put_value(f, s->data_type, e->data, e->dlen, NULL);
	}
	fputc('\n', f);
}

#define IND "      "
static void line_elem(FILE *f, const struct xset *s, const struct xelem *e)
{
	char lab[XTXT + 8];
	snprintf(lab, sizeof(lab), "%s %s", s->data_type || (s->flags & NFT_SET_MAP) ? "map" : "set", s->name);
	fprintf(f, IND "%-26s ", lab);
	put_elem(f, s, e);
}

/* A chain on the path: its comment and, the first time, the rules that
 * mention `only` (NULL: all of them); later just its name. */
static void line_chain(FILE *f, struct xtab *t, const char *name, const char *only)
{
	struct xchain *c = chain_of(t, name);
	char lab[XTXT + 8];

	snprintf(lab, sizeof(lab), "chain %s", name);
	if (!c) {
		fprintf(f, IND "%-26s (not in the kernel)\n", lab);
		return;
	}
	if (c->printed && !only) {
		fprintf(f, IND "%-26s (above)\n", lab);
		return;
	}
	if (!only)
		c->printed = true;
	if (c->comment[0] && !c->commented) {
		fprintf(f, IND "%-26s comment \"%s\"\n", lab, c->comment);
		lab[0] = 0;
	}
	c->commented = true;
	for (size_t i = 0; i < c->rules.n; i++) {
		if (only && !strstr(c->rules.v[i], only))
			continue;
		fprintf(f, IND "%-26s %s\n", lab, c->rules.v[i]);
		lab[0] = 0;
	}
}

static struct xelem *find_key(struct xset *s, const uint8_t *key, uint32_t klen)
{
	for (size_t i = 0; s && i < s->el.n; i++)
		if (s->el.v[i].klen == klen && !memcmp(s->el.v[i].key, key, klen))
			return &s->el.v[i];
	return NULL;
}

static struct xelem *find_mark(struct xset *s, const uint8_t *data)
{
	for (size_t i = 0; s && i < s->el.n; i++)
		if (s->el.v[i].klen == 4 && !memcmp(s->el.v[i].key, data, 4))
			return &s->el.v[i];
	return NULL;
}

static int elem_ptr_cmp(const void *a, const void *b)
{
	const struct xelem *x = *(const struct xelem *const *)a, *y = *(const struct xelem *const *)b;
	return x->klen != y->klen ? (int)x->klen - (int)y->klen : memcmp(x->key, y->key, x->klen);
}

/* Elements whose key starts with `pre` (at byte `at`), in key order (the
 * kernel lists a hash set in its own order): DNAT targets of an entry, its
 * allowed sources, remembered affinity clients. */
static int lines_prefixed(FILE *f, struct xset *s, const uint8_t *pre, uint32_t len, uint32_t at,
			  struct xelem_ptrs *got)
{
	struct xelem_ptrs v = { 0 };

	for (size_t i = 0; s && i < s->el.n; i++) {
		struct xelem *e = &s->el.v[i];
		if (e->klen >= at + len && !memcmp(e->key + at, pre, len) && vec_push(&v, e))
			return -ENOMEM;
	}
	vec_sort(v.v, v.n, sizeof(*v.v), elem_ptr_cmp);
	for (size_t i = 0; i < v.n; i++)
		line_elem(f, s, v.v[i]);
	if (got)
		*got = v;
	else
		vec_free(&v);
	return 0;
}

static bool name_matches(const char *comment, const char *name)
{
	size_t n = strlen(name);
	if (!comment[0])
		return false;
	if (!strcmp(comment, name))
		return true;
	if (!strncmp(comment, name, n) && comment[n] == ':')	/* ns/name matches its ports */
		return true;
	/* cluster-ips name the Service: ns/name of ns/name:port/proto */
	size_t c = strlen(comment);
	return !strchr(comment, ':') && !strncmp(name, comment, c) && name[c] == ':';
}

/* One entry point: the lookups from `services` to the DNAT targets. */
static void explain_entry(FILE *f, struct xtab *t, struct xset *entry, struct xelem *en, bool np)
{
	const char *pick_sets[2][2] = { { "pick-ips-internal", "pick-ips-external" },
					{ "pick-nodeports-internal", "pick-nodeports-external" } };
	struct xset *kinds = set_of(t, "kinds"), *pc = set_of(t, "pick-chains");
	struct xset *dnat = set_of(t, np ? "dnat-nodeports" : "dnat-ips");
	struct xset *aff = set_of(t, "affinity");
	char at[XTXT + 2];
	bool affinity = false;
	struct xelem_ptrs targets = { 0 };

	snprintf(at, sizeof(at), "@%s", entry->name);
	line_chain(f, t, "services", at);
	line_elem(f, entry, en);
	struct xelem *k = en->dlen == 4 ? find_mark(kinds, en->data) : NULL;
	if (!k) {
		fprintf(f, IND "%-26s no element for this number\n", "map kinds");
		return;
	}
	line_elem(f, kinds, k);
	line_chain(f, t, k->chain, NULL);
	for (int x = 0; x < 2; x++) {
		struct xset *ps = set_of(t, pick_sets[np][x]);
		struct xelem *p = find_key(ps, en->key, en->klen);
		if (!p)
			continue;
		line_elem(f, ps, p);
		struct xelem *c = p->dlen == 4 ? find_mark(pc, p->data) : NULL;
		if (!c)
			continue;
		line_elem(f, pc, c);
		if (c->has_verdict && c->verdict == NF_DROP)
			continue;
		line_chain(f, t, c->chain, NULL);
		affinity |= strstr(c->chain, "-aff") != NULL;
	}
	lines_prefixed(f, dnat, en->key, en->klen, 0, &targets);
	/* affinity: the entry's base and endpoint ids, then the remembered
	 * clients: saddr . base (the Service port, whichever entry) */
	if (affinity) {
		struct xset *ids = set_of(t, np ? "affinity-nodeport-ids" : "affinity-ids");
		struct xelem_ptrs idv = { 0 };
		uint8_t base[4];
		bool have = false;
		lines_prefixed(f, ids, en->key, en->klen, 0, &idv);
		for (size_t i = 0; i < idv.n && !have; i++) {
			uint32_t m;
			memcpy(&m, idv.v[i]->key + en->klen, 4);
			if (idv.v[i]->klen == en->klen + 4 && m == RAFF_BASE_IDX && idv.v[i]->dlen == 4) {
				memcpy(base, idv.v[i]->data, 4);
				have = true;
			}
		}
		vec_free(&idv);
		if (have && aff)
			lines_prefixed(f, aff, base, 4, (uint32_t)rfam_alen(t->fam), NULL);
	}
	/* hairpin: an endpoint of this entry reaching itself */
	struct xset *hp = set_of(t, "hairpin");
	bool hp_rule = false;
	for (size_t i = 0; i < targets.n; i++) {
		uint32_t alen = (uint32_t)rfam_alen(t->fam);
		struct xelem *h = NULL;
		for (size_t j = 0; hp && j < hp->el.n && !h; j++)
			if (!memcmp(hp->el.v[j].key, targets.v[i]->data, alen))
				h = &hp->el.v[j];
		bool dup = false;	/* one endpoint under two indexes (all and local) */
		for (size_t j = 0; j < i && h && !dup; j++)
			dup = !memcmp(targets.v[j]->data, targets.v[i]->data, alen);
		if (!h || dup)
			continue;
		if (!hp_rule)
			line_chain(f, t, "nat-postrouting", "@hairpin");
		hp_rule = true;
		line_elem(f, hp, h);
	}
	vec_free(&targets);
	/* loadBalancerSourceRanges */
	struct xset *fw = set_of(t, "firewall-ips");
	struct xelem *fe = np ? NULL : find_key(fw, en->key, en->klen);
	if (fe) {
		line_chain(f, t, "filter-prerouting", "@firewall-ips");
		line_elem(f, fw, fe);
		lines_prefixed(f, set_of(t, "firewall-allow"), en->key, en->klen, 0, NULL);
	}
}

static int explain_table(FILE *f, struct xtab *t, const char *name)
{
	static const char *const entries[] = { "service-ips", "service-nodeports",
					       "no-endpoint-ips", "no-endpoint-nodeports" };
	VEC(const char *) ports = { 0 };
	int found = 0;

	/* the Service ports named by an entry element, each once, in order */
	for (int x = 0; x < 4; x++) {
		struct xset *s = set_of(t, entries[x]);
		for (size_t i = 0; s && i < s->el.n; i++) {
			const char *c = s->el.v[i].comment;
			bool seen = false;
			if (!name_matches(c, name) || !strchr(c, ':'))
				continue;
			for (size_t j = 0; j < ports.n && !seen; j++)
				seen = !strcmp(ports.v[j], c);
			if (!seen && vec_push(&ports, c)) {
				vec_free(&ports);
				return -ENOMEM;
			}
		}
	}
	for (size_t p = 0; p < ports.n; p++) {
		fprintf(f, "\ntable %s ferry: %s\n", t->fam ? "ip6" : "ip", ports.v[p]);
		found++;
		for (int x = 0; x < 4; x++) {
			struct xset *s = set_of(t, entries[x]);
			bool np = x % 2 == 1;
			for (size_t i = 0; s && i < s->el.n; i++) {
				struct xelem *e = &s->el.v[i];
				if (strcmp(e->comment, ports.v[p]))
					continue;
				fprintf(f, "  %s ", x < 2 ? "frontend" : "frontend without endpoints");
				put_value(f, s->key_type, e->key, e->klen, NULL);
				fputc('\n', f);
				if (x < 2) {
					explain_entry(f, t, s, e, np);
					continue;
				}
				char at[XTXT + 2];
				snprintf(at, sizeof(at), "@%s", s->name);
				line_chain(f, t, np ? "filter-input" : "filter-forward", at);
				line_elem(f, s, e);
				line_chain(f, t, "reject-service", NULL);
			}
		}
	}
	/* ClusterIPs refused on ports the Service lacks */
	struct xset *ci = set_of(t, "cluster-ips");
	bool rule = false;
	for (size_t i = 0; ci && found && i < ci->el.n; i++) {
		if (!name_matches(ci->el.v[i].comment, name))
			continue;
		if (!rule) {
			fprintf(f, "  other ports of its ClusterIPs\n");
			line_chain(f, t, "filter-output-post", "@cluster-ips");
		}
		rule = true;
		line_elem(f, ci, &ci->el.v[i]);
	}
	vec_free(&ports);
	return found;
}

int nft_explain(const char *name, FILE *out)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	uint32_t seq = (uint32_t)time(NULL);
	int found = 0, r = 0;

	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		mnl_socket_close(nl);
		return r;
	}
	fprintf(out, "%s: from the kernel's tables ip ferry and ip6 ferry (as `nft list ruleset` prints them)\n", name);
	fprintf(out, "  packets enter by chain nat-prerouting (and the node's own by nat-output): jump services\n");
	for (int fam = 0; fam < RFAM_N && r >= 0; fam++) {
		struct xtab t = { .fam = fam };
		r = dump_table(nl, &seq, &t);
		if (r == -ENOENT)	/* no such table: nothing of ours there */
			r = 0;
		else if (r >= 0)
			r = explain_table(out, &t, name);
		if (r > 0)
			found += r;
		xtab_free(&t);
	}
	mnl_socket_close(nl);
	return r < 0 ? r : found;
}
