/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rule assembly: one helper per libnftnl expression, named and ordered as
 * `nft --debug=netlink` prints them, and a few idioms built from them. A
 * failed allocation is remembered in the struct xrule and reported by
 * rule_emit, so the rule builders in skeleton.c stay straight-line.
 */
#include "nft/internal.h"

#include <errno.h>
#include <stdio.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>

struct xrule *rule_new(int fam, const char *chain)
{
	struct xrule *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->r = nftnl_rule_alloc();
	if (!r->r || nftnl_rule_set_str(r->r, NFTNL_RULE_TABLE, TABLE) < 0 ||
	    nftnl_rule_set_str(r->r, NFTNL_RULE_CHAIN, chain) < 0)
		r->err = -ENOMEM;
	else
		nftnl_rule_set_u32(r->r, NFTNL_RULE_FAMILY, (uint32_t)nfproto_of(fam));
	return r;
}

int rule_emit(struct nbatch *bt, int fam, struct xrule *r, uint32_t *count)
{
	int ret = r ? r->err : -ENOMEM;

	if (!ret)
		ret = nbatch_put(bt, NFT_MSG_NEWRULE, nfproto_of(fam), NLM_F_APPEND | NLM_F_CREATE,
				 nftnl_rule_get_str(r->r, NFTNL_RULE_CHAIN), true, NOBJ_RULE, r->r);
	if (r) {
		if (r->r)
			nftnl_rule_free(r->r);
		free(r);
	}
	if (!ret)
		(*count)++;
	return ret;
}

/* A new expression of `name` for r, or NULL (r then carries -ENOMEM). */
static struct nftnl_expr *xnew(struct xrule *r, const char *name)
{
	if (!r || r->err)
		return NULL;
	struct nftnl_expr *e = nftnl_expr_alloc(name);
	if (!e)
		r->err = -ENOMEM;
	return e;
}

/* Adds e to r, unless setting one of its values failed (bad != 0). */
static void xadd(struct xrule *r, struct nftnl_expr *e, int bad)
{
	if (bad) {
		nftnl_expr_free(e);
		r->err = -ENOMEM;
		return;
	}
	nftnl_rule_add_expr(r->r, e);
}

void x_payload(struct xrule *r, uint32_t base, uint32_t off, uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = xnew(r, "payload");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	xadd(r, e, 0);
}

static void meta(struct xrule *r, uint32_t key, uint16_t reg_attr, uint32_t reg)
{
	struct nftnl_expr *e = xnew(r, "meta");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, reg_attr, reg);
	xadd(r, e, 0);
}

void x_meta(struct xrule *r, uint32_t key, uint32_t dreg) { meta(r, key, NFTNL_EXPR_META_DREG, dreg); }
void x_meta_set(struct xrule *r, uint32_t key, uint32_t sreg) { meta(r, key, NFTNL_EXPR_META_SREG, sreg); }

static void ct(struct xrule *r, uint32_t key, uint16_t reg_attr, uint32_t reg)
{
	struct nftnl_expr *e = xnew(r, "ct");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, reg_attr, reg);
	xadd(r, e, 0);
}

void x_ct(struct xrule *r, uint32_t key, uint32_t dreg) { ct(r, key, NFTNL_EXPR_CT_DREG, dreg); }
void x_ct_set(struct xrule *r, uint32_t key, uint32_t sreg) { ct(r, key, NFTNL_EXPR_CT_SREG, sreg); }

void x_cmp(struct xrule *r, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = xnew(r, "cmp");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, R(0));
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	xadd(r, e, nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len));
}

void x_bitwise(struct xrule *r, uint32_t mask, uint32_t xor)
{
	x_bitwise_reg(r, R(0), mask, xor);
}

/* A 32-bit constant into a register (host order, as a mark) */
void x_imm(struct xrule *r, uint32_t val, uint32_t dreg)
{
	struct nftnl_expr *e = xnew(r, "immediate");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
	xadd(r, e, nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &val, 4));
}

void x_bitwise_reg(struct xrule *r, uint32_t reg, uint32_t mask, uint32_t xor)
{
	struct nftnl_expr *e = xnew(r, "bitwise");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, 4);
	int bad = nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, 4);
	bad |= nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &xor, 4);
	xadd(r, e, bad);
}

void x_lookup(struct xrule *r, const char *set, int dreg, uint32_t flags)
{
	struct nftnl_expr *e = xnew(r, "lookup");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, R(0));
	if (dreg >= 0)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, (uint32_t)dreg);
	int bad = nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	if (flags)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, flags);
	xadd(r, e, bad);
}

void x_verdict(struct xrule *r, int verdict, const char *chain)
{
	struct nftnl_expr *e = xnew(r, "immediate");
	int bad = 0;
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	if (chain)
		bad = nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
	xadd(r, e, bad);
}

/* fib saddr|daddr type local */
void x_fib_local(struct xrule *r, uint32_t which)
{
	struct nftnl_expr *e = xnew(r, "fib");
	uint32_t local = RTN_LOCAL;
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, R(0));
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, which);
	xadd(r, e, 0);
	x_cmp(r, NFT_CMP_EQ, &local, 4);
}

/* ct mark set ct mark | 0x4000 (the masquerade bit; other bits kept) */
void x_mark_masq(struct xrule *r, uint32_t bit)
{
	x_ct(r, NFT_CT_MARK, R(0));
	x_bitwise(r, ~bit, bit);
	x_ct_set(r, NFT_CT_MARK, R(0));
}

/* ct state new */
void x_ct_new(struct xrule *r)
{
	uint32_t zero = 0;
	x_ct(r, NFT_CT_STATE, R(0));
	x_bitwise(r, NF_CT_STATE_BIT(IP_CT_NEW), 0);
	x_cmp(r, NFT_CMP_NEQ, &zero, 4);
}

uint32_t saddr_off(int fam) { return fam ? 8 : 12; }
uint32_t daddr_off(int fam) { return fam ? 24 : 16; }

/* Loads `ADDR . meta l4proto . th dport` from register `at`; returns words. */
uint32_t x_key_ip(struct xrule *r, int fam, uint32_t addr_off, uint32_t at)
{
	uint32_t w = (uint32_t)rfam_alen(fam) / 4;
	x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, addr_off, (uint32_t)rfam_alen(fam), R(at));
	x_meta(r, NFT_META_L4PROTO, R(at + w));
	x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, R(at + w + 1));
	return w + 2;
}

/* `meta l4proto . th dport` */
uint32_t x_key_np(struct xrule *r, uint32_t at)
{
	x_meta(r, NFT_META_L4PROTO, R(at));
	x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, R(at + 1));
	return 2;
}

/* dnat to <registers 0..>: address, then port right after it */
void x_dnat(struct xrule *r, int fam)
{
	struct nftnl_expr *e = xnew(r, "nat");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, (uint32_t)nfproto_of(fam));
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, R(0));
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, R((uint32_t)rfam_alen(fam) / 4));
	xadd(r, e, 0);
}

/* numgen random mod K [offset O] into register 0 */
void x_numgen(struct xrule *r, uint32_t mod, uint32_t offset)
{
	struct nftnl_expr *e = xnew(r, "numgen");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, R(0));
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, mod);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_OFFSET, offset);
	xadd(r, e, 0);
}

/* update @SET { KEY timeout Ts : DATA } */
void x_dynset_update(struct xrule *r, const char *set, uint32_t sreg_key, uint32_t sreg_data,
		     uint64_t timeout_ms)
{
	struct nftnl_expr *e = xnew(r, "dynset");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, sreg_key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_DATA, sreg_data);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
	nftnl_expr_set_u64(e, NFTNL_EXPR_DYNSET_TIMEOUT, timeout_ms);
	xadd(r, e, nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set));
}

/* delete @SET { KEY : DATA }: an absent key ends the rule (NFT_BREAK); the
 * kernel wants a data register for a map, and ignores it */
void x_dynset_delete(struct xrule *r, const char *set, uint32_t sreg_key, uint32_t sreg_data)
{
	struct nftnl_expr *e = xnew(r, "dynset");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, sreg_key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_DATA, sreg_data);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_DELETE);
	xadd(r, e, nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set));
}

/* masquerade fully-random */
void x_masq_fully_random(struct xrule *r)
{
	struct nftnl_expr *e = xnew(r, "masq");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_MASQ_FLAGS, NF_NAT_RANGE_PROTO_RANDOM_FULLY);
	xadd(r, e, 0);
}

/* reject with tcp reset / icmp(v6) port-unreachable */
void x_reject(struct xrule *r, uint32_t type, uint8_t code)
{
	struct nftnl_expr *e = xnew(r, "reject");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, type);
	nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, code);
	xadd(r, e, 0);
}

/*
 * meta mark set KEY map @MAP meta mark vmap @VMAP
 * Per-Service maps hold numbers, not verdicts: adding a verdict element
 * makes the kernel re-validate every jump of the table at commit, which
 * would cost O(Services) per change. Only the small kinds/pick-chains maps
 * hold verdicts. KEY is already in register 0.
 */
void x_dispatch(struct xrule *r, const char *map, const char *vmap)
{
	x_lookup(r, map, R(0), 0);
	x_meta_set(r, NFT_META_MARK, R(0));
	x_meta(r, NFT_META_MARK, R(0));
	x_lookup(r, vmap, NFT_REG_VERDICT, 0);
}
