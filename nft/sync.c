/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ferry tables over netlink.
 *
 * Shape (one `ip ferry` and one `ip6 ferry` table, same names in both; the
 * IPv6 one says ip6 where this says ip). Per-packet cost is a fixed number of
 * hash lookups whatever the number of Services; per-Service state is only
 * map elements; every rule below exists once.
 *
 *   chain nat-prerouting { type nat hook prerouting priority -100; jump services }
 *   chain nat-output     { type nat hook output priority -100; jump services }
 *   chain services {
 *     ip daddr . meta l4proto . th dport vmap @service-ips
 *     fib daddr type local ip daddr != 127.0.0.0/8 [ip daddr @nodeport-addrs]
 *         meta l4proto . th dport vmap @service-nodeports
 *   }
 *   service-ips/-nodeports lead to one of five "kind" chains, which decide
 *   masquerading (ct mark bit 0x4000) and which endpoint list applies:
 *     svc-cluster-ip          masquerade if not from a pod (or masquerade-all)
 *     svc-external-ip         Cluster policy: always masquerade, all endpoints
 *     svc-external-ip-local   Local policy: pods and the node itself reach all
 *                             endpoints, outside clients only local ones, with
 *                             their source address kept
 *     svc-nodeport, svc-nodeport-local   the same for NodePorts
 *   The kind chain looks the entry up again in pick-* maps, giving a "pick"
 *   chain shared by every Service with the same endpoint count K:
 *     chain pick-ip-K { meta mark set numgen random mod K
 *                       dnat to ip daddr . meta l4proto . th dport . meta mark map @dnat-ips }
 *   (pick-ip-local-K counts from 0x10000 in the same map; -affT variants
 *   first look the client up in @affinity and record their choice there.)
 *   chain nat-postrouting: hairpin sets ct mark 0x4000 too; the bit ->
 *   cleared, masquerade.
 *   chain filter-prerouting: loadBalancerSourceRanges (@firewall-*).
 *   chain filter-input/forward/output: Services with no endpoint -> reject.
 *
 * The packet mark is scratch for the endpoint index on the first packet of a
 * new Service connection (the NAT chains see no other packet); the decision
 * to masquerade rides in ct mark bit 0x4000, cleared when used.
 */
#include "nft/nft.h"
#include "nft/render.h"
#include "core/log.h"
#include "core/loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define TABLE "ferry"
#define MASQ_BIT 0x4000u

/* nftables datatype ids (nftables src/datatype.h), for `nft list`. */
enum { DT_VERDICT = 1, DT_IPADDR = 7, DT_IP6ADDR = 8, DT_INET_PROTO = 12,
       DT_INET_SERVICE = 13, DT_MARK = 19, DT_BITS = 6 };

static const int nfproto[RFAM_N] = { NFPROTO_IPV4, NFPROTO_IPV6 };

/* ------------------------------------------------------------------ */
/* bookkeeping                                                         */

struct chain_ent {
	uint8_t fam;
	char name[RCHAIN_MAX];
	uint32_t rules;		/* how many rules we put in it */
	uint32_t refs;		/* elements jumping to it; static chains: 1 */
	bool is_static, exists;
};

struct quarantine { char key[FSVC_KEY_MAX + 2]; uint64_t content; };

struct app_ent;
static void app_clear(struct nft_sync *s);

struct hp_ent { uint8_t used, fam; uint8_t a[16]; uint32_t count; };

struct nft_sync {
	struct mnl_socket *nl;
	uint32_t portid, seq;
	bool need_full;
	bool precise;		/* next rebuild: one message per Service (find a culprit) */
	uint32_t genid;
	struct fnode node;		/* the node settings the tables were built for */
	struct app_ent **app;		/* the Services the kernel has, by key */
	size_t app_nb, app_n;
	uint32_t walk;
	struct chain_ent *chains; size_t n_chains, cap_chains;
	struct hp_ent *hp; size_t hp_cap, hp_n;
	struct quarantine *quar; size_t n_quar;
	struct nft_sync_stats stats;
};

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}
#define FNV0 0xcbf29ce484222325ULL

static uint64_t svc_content(const struct fsvc *v)
{
	uint64_t h = fnv(v->key, strlen(v->key), FNV0);
	h = fnv(&v->proto, 1, h);
	h = fnv(&v->port, 2, h);
	h = fnv(&v->node_port, 2, h);
	h = fnv(&v->external_policy, sizeof(v->external_policy), h);
	h = fnv(&v->internal_policy, sizeof(v->internal_policy), h);
	h = fnv(&v->affinity_timeout, 4, h);
	h = fnv(v->cluster_ips, v->n_cluster_ips * sizeof(struct faddr), h);
	h = fnv(v->external_ips, v->n_external_ips * sizeof(struct faddr), h);
	h = fnv(v->lb_ips, v->n_lb_ips * sizeof(struct faddr), h);
	h = fnv(v->source_ranges, v->n_source_ranges * sizeof(struct faddr), h);
	for (size_t i = 0; i < v->n_eps; i++) {
		const struct fendpoint *e = &v->eps[i];
		uint8_t f[4] = { e->ready, e->serving, e->terminating, e->local };
		h = fnv(&e->addr, sizeof(e->addr), h);
		h = fnv(&e->port, 2, h);
		h = fnv(f, 4, h);
	}
	return h;
}

static bool quarantined(const struct nft_sync *s, const struct fsvc *v)
{
	for (size_t i = 0; i < s->n_quar; i++)
		if (!strcmp(s->quar[i].key, v->key))
			return s->quar[i].content == svc_content(v);
	return false;
}

static void quarantine_add(struct nft_sync *s, const struct fsvc *v)
{
	for (size_t i = 0; i < s->n_quar; i++)
		if (!strcmp(s->quar[i].key, v->key)) {	/* refused again, new content */
			s->quar[i].content = svc_content(v);
			log_err("nft", "service left out until it changes", "service=%s", log_q(v->key));
			return;
		}
	struct quarantine *q = realloc(s->quar, (s->n_quar + 1) * sizeof(*q));
	if (!q)
		return;
	s->quar = q;
	snprintf(q[s->n_quar].key, sizeof(q->key), "%s", v->key);
	q[s->n_quar++].content = svc_content(v);
	log_err("nft", "service left out until it changes", "service=%s", log_q(v->key));
}

/* Hairpin elements are shared by every Service with the same local
 * endpoint address: count them, install on 0->1, delete on 1->0. */
static uint32_t *hp_slot(struct nft_sync *s, int fam, const uint8_t *a, bool create)
{
	if (create && (s->hp_n + 1) * 2 > s->hp_cap) {
		size_t cap = s->hp_cap ? s->hp_cap * 2 : 256;
		struct hp_ent *n = calloc(cap, sizeof(*n)), *old = s->hp;
		if (!n)
			return NULL;
		for (size_t i = 0; i < s->hp_cap; i++) {
			if (!old[i].used)
				continue;
			size_t p = fnv(old[i].a, 16, old[i].fam) & (cap - 1);
			while (n[p].used)
				p = (p + 1) & (cap - 1);
			n[p] = old[i];
		}
		free(old);
		s->hp = n;
		s->hp_cap = cap;
	}
	if (!s->hp_cap)
		return NULL;
	uint8_t k[16] = { 0 };
	memcpy(k, a, rfam_alen(fam));
	size_t p = fnv(k, 16, (uint64_t)fam) & (s->hp_cap - 1);
	for (; s->hp[p].used; p = (p + 1) & (s->hp_cap - 1))
		if (s->hp[p].fam == fam && !memcmp(s->hp[p].a, k, 16))
			return &s->hp[p].count;
	if (!create)
		return NULL;
	s->hp[p].used = 1;
	s->hp[p].fam = (uint8_t)fam;
	memcpy(s->hp[p].a, k, 16);
	s->hp_n++;
	return &s->hp[p].count;
}

static struct chain_ent *chain_find(struct nft_sync *s, int fam, const char *name)
{
	for (size_t i = 0; i < s->n_chains; i++)
		if (s->chains[i].fam == fam && !strcmp(s->chains[i].name, name))
			return &s->chains[i];
	return NULL;
}

static struct chain_ent *chain_add(struct nft_sync *s, int fam, const char *name)
{
	struct chain_ent *c = chain_find(s, fam, name);
	if (c)
		return c;
	if (s->n_chains == s->cap_chains) {
		size_t cap = s->cap_chains ? s->cap_chains * 2 : 64;
		c = realloc(s->chains, cap * sizeof(*c));
		if (!c)
			return NULL;
		s->chains = c;
		s->cap_chains = cap;
	}
	c = &s->chains[s->n_chains++];
	memset(c, 0, sizeof(*c));
	c->fam = (uint8_t)fam;
	snprintf(c->name, sizeof(c->name), "%s", name);
	return c;
}

/* ------------------------------------------------------------------ */
/* the batch                                                           */

struct batch {
	struct nftnl_batch *b;
	uint32_t seq0, seq;
	const char **what;	/* per message: the Service key or object */
	char **owned;		/* copies of object names noted in `what` */
	size_t n_owned;
	size_t cap;
	uint32_t begin_seq;
};

static int batch_note(struct batch *bt, const char *what)
{
	size_t i = bt->seq - bt->seq0;
	if (i >= bt->cap) {
		size_t cap = bt->cap ? bt->cap * 2 : 1024;
		const char **n = realloc(bt->what, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		bt->what = n;
		bt->cap = cap;
	}
	bt->what[i] = what;
	return 0;
}

static int batch_init(struct batch *bt, uint32_t seq, uint32_t genid, bool use_genid)
{
	memset(bt, 0, sizeof(*bt));
	/* Big pages: a cold sync of 30,000 Services is tens of MiB. A message
	 * is written whole past a page's end, so the overrun must hold the
	 * biggest one (element messages stay under 64 KiB, see ELEMS_BYTES). */
	bt->b = nftnl_batch_alloc(1 << 20, 1 << 17);
	if (!bt->b)
		return -ENOMEM;
	bt->seq0 = bt->seq = seq;
	bt->begin_seq = bt->seq;
	struct nlmsghdr *nlh = nftnl_batch_begin(nftnl_batch_buffer(bt->b), bt->seq);
	/* The kernel refuses the batch (ERESTART) if the ruleset moved on
	 * since we read the generation: nobody's change is overwritten. */
	if (use_genid)
		mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(genid));
	batch_note(bt, "batch begin");
	bt->seq++;
	nftnl_batch_update(bt->b);
	return 0;
}

static struct nlmsghdr *batch_msg(struct batch *bt, uint16_t type, int fam, uint16_t flags,
				  const char *what)
{
	if (batch_note(bt, what))
		return NULL;
	return nftnl_nlmsg_build_hdr(nftnl_batch_buffer(bt->b), type, nfproto[fam],
				     flags, bt->seq++);
}

/* The same, for a name that may not outlive the batch (chains): a copy. */
static struct nlmsghdr *batch_msg_dup(struct batch *bt, uint16_t type, int fam, uint16_t flags,
				      const char *what)
{
	char **o = realloc(bt->owned, (bt->n_owned + 1) * sizeof(*o));
	if (!o)
		return NULL;
	bt->owned = o;
	if (!(o[bt->n_owned] = strdup(what)))
		return NULL;
	return batch_msg(bt, type, fam, flags, o[bt->n_owned++]);
}

static void batch_free(struct batch *bt)
{
	if (bt->b)
		nftnl_batch_free(bt->b);
	for (size_t i = 0; i < bt->n_owned; i++)
		free(bt->owned[i]);
	free(bt->owned);
	free(bt->what);
	memset(bt, 0, sizeof(*bt));
}

/* ------------------------------------------------------------------ */
/* rule assembly: one helper per expression, as `nft --debug=netlink`  */
/* prints them                                                         */

#define R(i) (NFT_REG32_00 + (i))	/* the i-th 32-bit register */

static void add(struct nftnl_rule *r, struct nftnl_expr *e) { nftnl_rule_add_expr(r, e); }

static void x_payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("payload");
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	add(r, e);
}

static void x_meta(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
	add(r, e);
}

static void x_meta_set(struct nftnl_rule *r, uint32_t key, uint32_t sreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, sreg);
	add(r, e);
}

static void x_ct(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("ct");
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, dreg);
	add(r, e);
}

static void x_ct_set(struct nftnl_rule *r, uint32_t key, uint32_t sreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("ct");
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, sreg);
	add(r, e);
}

static void x_cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("cmp");
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, R(0));
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	add(r, e);
}

static void x_bitwise(struct nftnl_rule *r, uint32_t mask, uint32_t xor)
{
	struct nftnl_expr *e = nftnl_expr_alloc("bitwise");
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, R(0));
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, R(0));
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, 4);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, 4);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &xor, 4);
	add(r, e);
}

static void x_lookup(struct nftnl_rule *r, const char *set, int dreg, uint32_t flags)
{
	struct nftnl_expr *e = nftnl_expr_alloc("lookup");
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, R(0));
	if (dreg >= 0)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, (uint32_t)dreg);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	if (flags)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, flags);
	add(r, e);
}

static void x_verdict(struct nftnl_rule *r, int verdict, const char *chain)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	if (chain)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
	add(r, e);
}

static void x_fib_local(struct nftnl_rule *r, uint32_t which)
{
	struct nftnl_expr *e = nftnl_expr_alloc("fib");
	uint32_t local = RTN_LOCAL;
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, R(0));
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, which);
	add(r, e);
	x_cmp(r, NFT_CMP_EQ, &local, 4);
}

/* ct mark set ct mark | 0x4000 */
static void x_mark_masq(struct nftnl_rule *r)
{
	x_ct(r, NFT_CT_MARK, R(0));
	x_bitwise(r, ~MASQ_BIT, MASQ_BIT);
	x_ct_set(r, NFT_CT_MARK, R(0));
}

/* ct state new */
static void x_ct_new(struct nftnl_rule *r)
{
	uint32_t zero = 0;
	x_ct(r, NFT_CT_STATE, R(0));
	x_bitwise(r, NF_CT_STATE_BIT(IP_CT_NEW), 0);
	x_cmp(r, NFT_CMP_NEQ, &zero, 4);
}

static uint32_t saddr_off(int fam) { return fam ? 8 : 12; }
static uint32_t daddr_off(int fam) { return fam ? 24 : 16; }

/* Loads `ADDR . meta l4proto . th dport` from register 0; returns words. */
static uint32_t x_key_ip(struct nftnl_rule *r, int fam, uint32_t addr_off, uint32_t at)
{
	uint32_t w = (uint32_t)rfam_alen(fam) / 4;
	x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, addr_off, (uint32_t)rfam_alen(fam), R(at));
	x_meta(r, NFT_META_L4PROTO, R(at + w));
	x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, R(at + w + 1));
	return w + 2;
}

/* `meta l4proto . th dport` */
static uint32_t x_key_np(struct nftnl_rule *r, uint32_t at)
{
	x_meta(r, NFT_META_L4PROTO, R(at));
	x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, R(at + 1));
	return 2;
}

static struct nftnl_rule *rule_new(int fam, const char *chain)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, (uint32_t)nfproto[fam]);
	return r;
}

static int rule_emit(struct batch *bt, int fam, struct nftnl_rule *r, uint32_t *count)
{
	struct nlmsghdr *nlh = batch_msg_dup(bt, NFT_MSG_NEWRULE, fam, NLM_F_APPEND | NLM_F_CREATE,
					     nftnl_rule_get_str(r, NFTNL_RULE_CHAIN));
	if (!nlh) {
		nftnl_rule_free(r);
		return -ENOMEM;
	}
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	nftnl_batch_update(bt->b);
	(*count)++;
	return 0;
}

/* add chain ip ferry NAME [{ type TYPE hook HOOK priority PRIO; policy accept; }] */
static int chain_emit(struct batch *bt, int fam, const char *name, const char *hook_type,
		      int hook, int prio)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, TABLE);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, (uint32_t)nfproto[fam]);
	if (hook_type) {
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, hook_type);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t)hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	struct nlmsghdr *nlh = batch_msg_dup(bt, NFT_MSG_NEWCHAIN, fam, NLM_F_CREATE | NLM_F_EXCL, name);
	if (!nlh) {
		nftnl_chain_free(c);
		return -ENOMEM;
	}
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	nftnl_batch_update(bt->b);
	return 0;
}

/* dnat to <registers 0..>: address, then port right after it */
static void x_dnat(struct nftnl_rule *r, int fam)
{
	struct nftnl_expr *e = nftnl_expr_alloc("nat");
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, (uint32_t)nfproto[fam]);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, R(0));
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, R((uint32_t)rfam_alen(fam) / 4));
	add(r, e);
}

/* `ip daddr . meta l4proto . th dport . meta mark` (or the NodePort key)
 * looked up in the DNAT map, then dnat. */
static void x_dnat_lookup(struct nftnl_rule *r, int fam, const struct rpick *p)
{
	uint32_t at = p->nodeport ? x_key_np(r, 0) : x_key_ip(r, fam, daddr_off(fam), 0);
	x_meta(r, NFT_META_MARK, R(at));
	x_lookup(r, p->nodeport ? "dnat-nodeports" : "dnat-ips", R(0), 0);
	x_dnat(r, fam);
}

/* `ip saddr . ip daddr . meta l4proto . th dport`: the affinity key; words. */
static uint32_t x_key_affinity(struct nftnl_rule *r, int fam)
{
	uint32_t w = (uint32_t)rfam_alen(fam) / 4;
	x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, saddr_off(fam), (uint32_t)rfam_alen(fam), R(0));
	return w + x_key_ip(r, fam, daddr_off(fam), w);
}

/* The rules of a pick chain (see the top of the file). */
static int pick_rules(struct batch *bt, int fam, const char *name, const struct rpick *p, uint32_t *n)
{
	struct nftnl_rule *r;

	if (p->affinity) {
		/* meta mark set ip saddr . ip daddr . meta l4proto . th dport map @affinity
		 *   dnat to ip daddr . meta l4proto . th dport . meta mark map @dnat-ips
		 * A remembered choice; a stale index misses the DNAT map and
		 * falls through to a new choice. */
		r = rule_new(fam, name);
		x_key_affinity(r, fam);
		x_lookup(r, "affinity", R(0), 0);
		x_meta_set(r, NFT_META_MARK, R(0));
		x_dnat_lookup(r, fam, p);
		if (rule_emit(bt, fam, r, n))
			return -ENOMEM;
	}
	/* meta mark set numgen random mod K [offset 0x10000] */
	r = rule_new(fam, name);
	struct nftnl_expr *e = nftnl_expr_alloc("numgen");
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, R(0));
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, p->k);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_OFFSET, p->local ? RLOCAL_BASE : 0);
	add(r, e);
	x_meta_set(r, NFT_META_MARK, R(0));
	if (rule_emit(bt, fam, r, n))
		return -ENOMEM;
	if (p->affinity) {
		/* update @affinity { ip saddr . ip daddr . meta l4proto . th dport timeout Ts : meta mark } */
		r = rule_new(fam, name);
		uint32_t w = x_key_affinity(r, fam);
		x_meta(r, NFT_META_MARK, R(w));
		e = nftnl_expr_alloc("dynset");
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, R(0));
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_DATA, R(w));
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
		nftnl_expr_set_u64(e, NFTNL_EXPR_DYNSET_TIMEOUT, (uint64_t)p->affinity * 1000);
		nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, "affinity");
		add(r, e);
		if (rule_emit(bt, fam, r, n))
			return -ENOMEM;
	}
	/* dnat to ip daddr . meta l4proto . th dport . meta mark map @dnat-ips */
	r = rule_new(fam, name);
	x_dnat_lookup(r, fam, p);
	return rule_emit(bt, fam, r, n);
}

/*
 * meta mark set KEY map @MAP meta mark vmap @VMAP
 * Per-Service maps hold numbers, not verdicts: adding a verdict element
 * makes the kernel re-validate every jump of the table at commit, which
 * would cost O(Services) per change. Only the small kinds/pick-chains maps
 * hold verdicts. KEY is already in register 0.
 */
static void x_dispatch(struct nftnl_rule *r, const char *map, const char *vmap)
{
	x_lookup(r, map, R(0), 0);
	x_meta_set(r, NFT_META_MARK, R(0));
	x_meta(r, NFT_META_MARK, R(0));
	x_lookup(r, vmap, NFT_REG_VERDICT, 0);
}

/* Creates a pick chain the first time an element needs it. */
static uint32_t chain_id(const struct nft_sync *s, const struct chain_ent *c)
{
	return (uint32_t)(c - s->chains) + 1;	/* 0 is drop */
}

/* add element ip ferry pick-chains { ID : goto NAME } (or delete it) */
static int vmap_elem(struct batch *bt, int fam, int set, uint32_t id, const char *chain, bool del)
{
	struct nftnl_set *st = nftnl_set_alloc();
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();

	nftnl_set_set_str(st, NFTNL_SET_TABLE, TABLE);
	nftnl_set_set_str(st, NFTNL_SET_NAME, rset_name(set));
	nftnl_set_set_u32(st, NFTNL_SET_FAMILY, (uint32_t)nfproto[fam]);
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &id, 4);
	if (!del) {
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, chain ? (uint32_t)NFT_GOTO : NF_DROP);
		if (chain)
			nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, chain);
	}
	nftnl_set_elem_add(st, e);
	struct nlmsghdr *nlh = batch_msg_dup(bt, del ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM, fam,
					     del ? 0 : NLM_F_CREATE | NLM_F_EXCL, chain ? chain : "drop");
	if (!nlh) {
		nftnl_set_free(st);
		return -ENOMEM;
	}
	nftnl_set_elems_nlmsg_build_payload(nlh, st);
	nftnl_set_free(st);
	nftnl_batch_update(bt->b);
	return 0;
}

static int chain_ref(struct nft_sync *s, struct batch *bt, int fam, const char *name)
{
	struct chain_ent *c = chain_find(s, fam, name);
	struct rpick p;

	if (c && c->exists) {
		c->refs++;
		return 0;
	}
	if (!rpick_parse(name, &p)) {
		if (c)	/* a static kind chain */
			return 0;
		log_err("nft", "element names an unknown chain", "chain=%s", name);
		return -EINVAL;
	}
	c = chain_add(s, fam, name);
	if (!c || chain_emit(bt, fam, name, NULL, 0, 0))
		return -ENOMEM;
	c->rules = 0;
	if (pick_rules(bt, fam, name, &p, &c->rules) ||
	    vmap_elem(bt, fam, RS_PICK_CHAINS, chain_id(s, c), name, false))
		return -ENOMEM;
	c->exists = true;
	c->refs = 1;
	return 0;
}

static void chain_unref(struct nft_sync *s, int fam, const char *name)
{
	struct chain_ent *c = chain_find(s, fam, name);
	if (c && !c->is_static && c->refs)
		c->refs--;
}

/* ------------------------------------------------------------------ */
/* tables, sets, static chains                                         */

struct set_spec {
	int set;
	uint32_t flags;
	int key[5], nkey;	/* datatypes; 0 = the family's address */
	int data[2], ndata;	/* none: a set; DT_VERDICT: verdict map */
};

static const struct set_spec set_specs[RS_COUNT] = {
	{ RS_POD_CIDRS, NFT_SET_INTERVAL, { 0 }, 1, { 0 }, 0 },
	{ RS_NODEPORT_ADDRS, NFT_SET_INTERVAL, { 0 }, 1, { 0 }, 0 },
	{ RS_SERVICE_IPS, NFT_SET_MAP, { 0, DT_INET_PROTO, DT_INET_SERVICE }, 3, { DT_MARK }, 1 },
	{ RS_SERVICE_NODEPORTS, NFT_SET_MAP, { DT_INET_PROTO, DT_INET_SERVICE }, 2, { DT_MARK }, 1 },
	{ RS_PICK_IPS_INTERNAL, NFT_SET_MAP, { 0, DT_INET_PROTO, DT_INET_SERVICE }, 3, { DT_MARK }, 1 },
	{ RS_PICK_IPS_EXTERNAL, NFT_SET_MAP, { 0, DT_INET_PROTO, DT_INET_SERVICE }, 3, { DT_MARK }, 1 },
	{ RS_PICK_NP_INTERNAL, NFT_SET_MAP, { DT_INET_PROTO, DT_INET_SERVICE }, 2, { DT_MARK }, 1 },
	{ RS_PICK_NP_EXTERNAL, NFT_SET_MAP, { DT_INET_PROTO, DT_INET_SERVICE }, 2, { DT_MARK }, 1 },
	{ RS_DNAT_IPS, NFT_SET_MAP, { 0, DT_INET_PROTO, DT_INET_SERVICE, DT_MARK }, 4, { 0, DT_INET_SERVICE }, 2 },
	{ RS_DNAT_NODEPORTS, NFT_SET_MAP, { DT_INET_PROTO, DT_INET_SERVICE, DT_MARK }, 3, { 0, DT_INET_SERVICE }, 2 },
	{ RS_AFFINITY, NFT_SET_MAP | NFT_SET_TIMEOUT | NFT_SET_EVAL,
	  { 0, 0, DT_INET_PROTO, DT_INET_SERVICE }, 4, { DT_MARK }, 1 },
	{ RS_HAIRPIN, 0, { 0, 0 }, 2, { 0 }, 0 },
	{ RS_FIREWALL_IPS, 0, { 0, DT_INET_PROTO, DT_INET_SERVICE }, 3, { 0 }, 0 },
	{ RS_FIREWALL_ALLOW, NFT_SET_INTERVAL | NFT_SET_CONCAT, { 0, DT_INET_SERVICE, 0 }, 3, { 0 }, 0 },
	{ RS_NOEP_IPS, 0, { 0, DT_INET_PROTO, DT_INET_SERVICE }, 3, { 0 }, 0 },
	{ RS_NOEP_NODEPORTS, 0, { DT_INET_PROTO, DT_INET_SERVICE }, 2, { 0 }, 0 },
	{ RS_KINDS, NFT_SET_MAP, { DT_MARK }, 1, { DT_VERDICT }, 1 },
	{ RS_PICK_CHAINS, NFT_SET_MAP, { DT_MARK }, 1, { DT_VERDICT }, 1 },
};

static int dt_len(int dt, int fam)
{
	switch (dt) {
	case 0: return rfam_alen(fam);
	case DT_INET_PROTO: return 1;
	case DT_INET_SERVICE: return 2;
	default: return 4;
	}
}

static void dt_concat(const int *dts, int n, int fam, uint32_t *type, uint32_t *len, uint8_t *fields)
{
	*type = 0;
	*len = 0;
	for (int i = 0; i < n; i++) {
		int dt = dts[i] ? dts[i] : (fam ? DT_IP6ADDR : DT_IPADDR);
		*type = (*type << DT_BITS) | (uint32_t)dt;
		*len += (uint32_t)(dt_len(dts[i], fam) + 3) / 4 * 4;
		if (fields)
			fields[i] = (uint8_t)dt_len(dts[i], fam);
	}
	if (n == 1)	/* a lone field is not padded */
		*len = (uint32_t)dt_len(dts[0], fam);
}

/*
 * add map ip ferry dnat-ips { type ipv4_addr . inet_proto . inet_service . mark :
 *                             ipv4_addr . inet_service; }
 * Key and data types are nftables datatype ids packed 6 bits each (what
 * `nft list` prints from); key length counts each field padded to 32 bits.
 */
static int set_emit(struct batch *bt, int fam, const struct set_spec *sp)
{
	struct nftnl_set *st = nftnl_set_alloc();
	uint32_t type, len;
	uint8_t fields[NFT_REG32_COUNT] = { 0 };

	nftnl_set_set_str(st, NFTNL_SET_TABLE, TABLE);
	nftnl_set_set_str(st, NFTNL_SET_NAME, rset_name(sp->set));
	nftnl_set_set_u32(st, NFTNL_SET_FAMILY, (uint32_t)nfproto[fam]);
	nftnl_set_set_u32(st, NFTNL_SET_ID, (uint32_t)sp->set + 1);
	dt_concat(sp->key, sp->nkey, fam, &type, &len, fields);
	nftnl_set_set_u32(st, NFTNL_SET_KEY_TYPE, type);
	nftnl_set_set_u32(st, NFTNL_SET_KEY_LEN, len);
	if (sp->flags & NFT_SET_CONCAT)
		nftnl_set_set_data(st, NFTNL_SET_DESC_CONCAT, fields, (uint32_t)sp->nkey);
	nftnl_set_set_u32(st, NFTNL_SET_FLAGS, sp->flags);
	if (sp->ndata == 1 && sp->data[0] == DT_VERDICT) {
		nftnl_set_set_u32(st, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
	} else if (sp->ndata) {
		dt_concat(sp->data, sp->ndata, fam, &type, &len, NULL);
		nftnl_set_set_u32(st, NFTNL_SET_DATA_TYPE, type);
		nftnl_set_set_u32(st, NFTNL_SET_DATA_LEN, len);
	}
	if (sp->flags & NFT_SET_EVAL)
		nftnl_set_set_u32(st, NFTNL_SET_DESC_SIZE, 65535);
	/* A lone mark key or mark data is host order: tell `nft list`. */
	bool mkey = sp->nkey == 1 && sp->key[0] == DT_MARK;
	bool mdata = sp->ndata == 1 && sp->data[0] == DT_MARK;
	if (mkey || mdata) {
		struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(64);
		if (mkey)
			nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, 1 /* host */);
		if (mdata)
			nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATABYTEORDER, 1 /* host */);
		nftnl_set_set_data(st, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));
		nftnl_udata_buf_free(ud);
	}
	struct nlmsghdr *nlh = batch_msg(bt, NFT_MSG_NEWSET, fam, NLM_F_CREATE | NLM_F_EXCL,
					 rset_name(sp->set));
	if (!nlh) {
		nftnl_set_free(st);
		return -ENOMEM;
	}
	nftnl_set_nlmsg_build_payload(nlh, st);
	nftnl_set_free(st);
	nftnl_batch_update(bt->b);
	return 0;
}

/* A static chain: created in a full rebuild, rules depend on node settings. */
static struct chain_ent *static_chain(struct nft_sync *s, struct batch *bt, int fam,
				      const char *name, const char *type, int hook, int prio)
{
	struct chain_ent *c = chain_add(s, fam, name);
	if (!c || chain_emit(bt, fam, name, type, hook, prio))
		return NULL;
	c->is_static = c->exists = true;
	c->refs = 1;
	c->rules = 0;
	return c;
}

static bool fam_has(const struct faddr *l, size_t n, int fam)
{
	for (size_t i = 0; i < n; i++)
		if (l[i].family == rfam_af(fam))
			return true;
	return false;
}

/*
 * The kind chains. `np` selects the NodePort variants.
 *   svc-cluster-ip:   [ip saddr != @pod-cidrs] ct mark set ct mark | 0x4000
 *                     ip daddr . meta l4proto . th dport vmap @pick-ips-internal
 *   svc-external-ip:  ct mark set ct mark | 0x4000; ... vmap @pick-ips-internal
 *   svc-external-ip-local:
 *                     ip saddr @pod-cidrs ... vmap @pick-ips-internal
 *                     fib saddr type local ct mark set ct mark | 0x4000
 *                     fib saddr type local ... vmap @pick-ips-internal
 *                     ... vmap @pick-ips-external
 */
static int kind_chains(struct nft_sync *s, struct batch *bt, int fam, const struct fnode *nd, bool np)
{
	bool pods = fam_has(nd->pod_cidrs, nd->n_pod_cidrs, fam);
	const char *internal = np ? "pick-nodeports-internal" : "pick-ips-internal";
	const char *external = np ? "pick-nodeports-external" : "pick-ips-external";
	struct nftnl_rule *r;
	struct chain_ent *c;
	int ret = 0;
#define KEY(r) (np ? x_key_np(r, 0) : x_key_ip(r, fam, daddr_off(fam), 0))

	if (!np) {
		if (!(c = static_chain(s, bt, fam, "svc-cluster-ip", NULL, 0, 0)))
			return -ENOMEM;
		if (nd->masquerade_all || pods) {
			r = rule_new(fam, c->name);
			if (!nd->masquerade_all) {
				x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, saddr_off(fam), (uint32_t)rfam_alen(fam), R(0));
				x_lookup(r, "pod-cidrs", -1, NFT_LOOKUP_F_INV);
			}
			x_mark_masq(r);
			ret |= rule_emit(bt, fam, r, &c->rules);
		}
		r = rule_new(fam, c->name);
		KEY(r);
		x_dispatch(r, internal, "pick-chains");
		ret |= rule_emit(bt, fam, r, &c->rules);
	}
	/* Cluster policy: masquerade, any endpoint. */
	if (!(c = static_chain(s, bt, fam, np ? "svc-nodeport" : "svc-external-ip", NULL, 0, 0)))
		return -ENOMEM;
	r = rule_new(fam, c->name);
	x_mark_masq(r);
	ret |= rule_emit(bt, fam, r, &c->rules);
	r = rule_new(fam, c->name);
	KEY(r);
	x_dispatch(r, internal, "pick-chains");
	ret |= rule_emit(bt, fam, r, &c->rules);

	/* Local policy. */
	if (!(c = static_chain(s, bt, fam, np ? "svc-nodeport-local" : "svc-external-ip-local", NULL, 0, 0)))
		return -ENOMEM;
	if (pods) {
		r = rule_new(fam, c->name);
		x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, saddr_off(fam), (uint32_t)rfam_alen(fam), R(0));
		x_lookup(r, "pod-cidrs", -1, 0);
		KEY(r);
		x_dispatch(r, internal, "pick-chains");
		ret |= rule_emit(bt, fam, r, &c->rules);
	}
	r = rule_new(fam, c->name);
	x_fib_local(r, NFTA_FIB_F_SADDR);
	x_mark_masq(r);
	ret |= rule_emit(bt, fam, r, &c->rules);
	r = rule_new(fam, c->name);
	x_fib_local(r, NFTA_FIB_F_SADDR);
	KEY(r);
	x_dispatch(r, internal, "pick-chains");
	ret |= rule_emit(bt, fam, r, &c->rules);
	r = rule_new(fam, c->name);
	KEY(r);
	x_dispatch(r, external, "pick-chains");
	ret |= rule_emit(bt, fam, r, &c->rules);
#undef KEY
	return ret;
}

/* fib daddr type local ip daddr != 127.0.0.0/8 [ip daddr @nodeport-addrs] */
static void x_nodeport_dest(struct nftnl_rule *r, int fam, const struct fnode *nd)
{
	x_fib_local(r, NFTA_FIB_F_DADDR);
	if (fam == 0) {
		uint8_t lo = 127;
		x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, daddr_off(fam), 1, R(0));
		x_cmp(r, NFT_CMP_NEQ, &lo, 1);
	} else {
		struct in6_addr lo = IN6ADDR_LOOPBACK_INIT;
		x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, daddr_off(fam), 16, R(0));
		x_cmp(r, NFT_CMP_NEQ, &lo, 16);
	}
	if (nd->n_nodeport_cidrs) {
		x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, daddr_off(fam), (uint32_t)rfam_alen(fam), R(0));
		x_lookup(r, "nodeport-addrs", -1, 0);
	}
}

static int base_chains(struct nft_sync *s, struct batch *bt, int fam, const struct fnode *nd)
{
	struct nftnl_rule *r;
	struct chain_ent *c;
	int ret = 0;
	uint32_t zero = 0;

	if (kind_chains(s, bt, fam, nd, false) || kind_chains(s, bt, fam, nd, true))
		return -ENOMEM;

	/* chain services: the two dispatch lookups. */
	if (!(c = static_chain(s, bt, fam, "services", NULL, 0, 0)))
		return -ENOMEM;
	r = rule_new(fam, c->name);
	x_key_ip(r, fam, daddr_off(fam), 0);
	x_dispatch(r, "service-ips", "kinds");
	ret |= rule_emit(bt, fam, r, &c->rules);
	r = rule_new(fam, c->name);
	x_nodeport_dest(r, fam, nd);
	x_key_np(r, 0);
	x_dispatch(r, "service-nodeports", "kinds");
	ret |= rule_emit(bt, fam, r, &c->rules);

	/* Hooks. */
	static const struct { const char *name; int hook; } nat_in[] = {
		{ "nat-prerouting", NF_INET_PRE_ROUTING }, { "nat-output", NF_INET_LOCAL_OUT } };
	for (int i = 0; i < 2; i++) {
		/* chain nat-prerouting { type nat hook prerouting priority -100; jump services } */
		if (!(c = static_chain(s, bt, fam, nat_in[i].name, "nat", nat_in[i].hook, -100)))
			return -ENOMEM;
		r = rule_new(fam, c->name);
		x_verdict(r, NFT_JUMP, "services");
		ret |= rule_emit(bt, fam, r, &c->rules);
	}

	/* chain nat-postrouting { type nat hook postrouting priority 100;
	 *   ct status & dnat == 0 return
	 *   ip saddr . ip daddr @hairpin ct mark set ct mark | 0x4000
	 *   ct mark & 0x4000 == 0 return
	 *   ct mark set ct mark & 0xffffbfff
	 *   masquerade fully-random }
	 * (hairpin: an endpoint reaching itself through its Service) */
	if (!(c = static_chain(s, bt, fam, "nat-postrouting", "nat", NF_INET_POST_ROUTING, 100)))
		return -ENOMEM;
	r = rule_new(fam, c->name);
	x_ct(r, NFT_CT_STATUS, R(0));
	x_bitwise(r, IPS_DST_NAT, 0);
	x_cmp(r, NFT_CMP_EQ, &zero, 4);
	x_verdict(r, NFT_RETURN, NULL);
	ret |= rule_emit(bt, fam, r, &c->rules);
	r = rule_new(fam, c->name);
	x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, saddr_off(fam), (uint32_t)rfam_alen(fam), R(0));
	x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, daddr_off(fam), (uint32_t)rfam_alen(fam),
		  R((uint32_t)rfam_alen(fam) / 4));
	x_lookup(r, "hairpin", -1, 0);
	x_mark_masq(r);
	ret |= rule_emit(bt, fam, r, &c->rules);
	r = rule_new(fam, c->name);
	x_ct(r, NFT_CT_MARK, R(0));
	x_bitwise(r, MASQ_BIT, 0);
	x_cmp(r, NFT_CMP_EQ, &zero, 4);
	x_verdict(r, NFT_RETURN, NULL);
	ret |= rule_emit(bt, fam, r, &c->rules);
	r = rule_new(fam, c->name);
	x_ct(r, NFT_CT_MARK, R(0));
	x_bitwise(r, ~MASQ_BIT, 0);
	x_ct_set(r, NFT_CT_MARK, R(0));
	ret |= rule_emit(bt, fam, r, &c->rules);
	r = rule_new(fam, c->name);
	struct nftnl_expr *mq = nftnl_expr_alloc("masq");
	nftnl_expr_set_u32(mq, NFTNL_EXPR_MASQ_FLAGS, NF_NAT_RANGE_PROTO_RANDOM_FULLY);
	add(r, mq);
	ret |= rule_emit(bt, fam, r, &c->rules);

	/* chain filter-prerouting { type filter hook prerouting priority -110;
	 *   ct state new ip daddr . meta l4proto . th dport @firewall-ips
	 *     ip daddr . th dport . ip saddr != @firewall-allow drop } */
	if (!(c = static_chain(s, bt, fam, "filter-prerouting", "filter", NF_INET_PRE_ROUTING, -110)))
		return -ENOMEM;
	r = rule_new(fam, c->name);
	x_ct_new(r);
	x_key_ip(r, fam, daddr_off(fam), 0);
	x_lookup(r, "firewall-ips", -1, 0);
	x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, daddr_off(fam), (uint32_t)rfam_alen(fam), R(0));
	x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, R((uint32_t)rfam_alen(fam) / 4));
	x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, saddr_off(fam), (uint32_t)rfam_alen(fam),
		  R((uint32_t)rfam_alen(fam) / 4 + 1));
	x_lookup(r, "firewall-allow", -1, NFT_LOOKUP_F_INV);
	x_verdict(r, NF_DROP, NULL);
	ret |= rule_emit(bt, fam, r, &c->rules);

	/* chain reject-service { meta l4proto tcp reject with tcp reset; reject } */
	if (!(c = static_chain(s, bt, fam, "reject-service", NULL, 0, 0)))
		return -ENOMEM;
	for (int i = 0; i < 2; i++) {
		r = rule_new(fam, c->name);
		struct nftnl_expr *e = nftnl_expr_alloc("reject");
		if (i == 0) {
			uint8_t tcp = IPPROTO_TCP;
			x_meta(r, NFT_META_L4PROTO, R(0));
			x_cmp(r, NFT_CMP_EQ, &tcp, 1);
			nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_TCP_RST);
			nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, 0);
		} else {
			nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_ICMP_UNREACH);
			/* port unreachable: 3 for ICMP, 4 for ICMPv6 */
			nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, fam ? 4 : 3);
		}
		add(r, e);
		ret |= rule_emit(bt, fam, r, &c->rules);
	}

	/* chain filter-{input,forward,output} { type filter hook ... priority -110;
	 *   ct state new ip daddr . meta l4proto . th dport @no-endpoint-ips goto reject-service
	 *   (input) ct state new fib daddr type local ... meta l4proto . th dport
	 *           @no-endpoint-nodeports goto reject-service } */
	static const struct { const char *name; int hook; } filt[] = {
		{ "filter-input", NF_INET_LOCAL_IN }, { "filter-forward", NF_INET_FORWARD },
		{ "filter-output", NF_INET_LOCAL_OUT } };
	for (int i = 0; i < 3; i++) {
		if (!(c = static_chain(s, bt, fam, filt[i].name, "filter", filt[i].hook, -110)))
			return -ENOMEM;
		r = rule_new(fam, c->name);
		x_ct_new(r);
		x_key_ip(r, fam, daddr_off(fam), 0);
		x_lookup(r, "no-endpoint-ips", -1, 0);
		x_verdict(r, NFT_GOTO, "reject-service");
		ret |= rule_emit(bt, fam, r, &c->rules);
		if (filt[i].hook != NF_INET_LOCAL_IN)
			continue;
		r = rule_new(fam, c->name);
		x_ct_new(r);
		x_nodeport_dest(r, fam, nd);
		x_key_np(r, 0);
		x_lookup(r, "no-endpoint-nodeports", -1, 0);
		x_verdict(r, NFT_GOTO, "reject-service");
		ret |= rule_emit(bt, fam, r, &c->rules);
	}
	return ret;
}

/* ------------------------------------------------------------------ */
/* elements                                                            */

static struct nftnl_set *elem_set(int fam, int set)
{
	struct nftnl_set *st = nftnl_set_alloc();
	nftnl_set_set_str(st, NFTNL_SET_TABLE, TABLE);
	nftnl_set_set_str(st, NFTNL_SET_NAME, rset_name(set));
	nftnl_set_set_u32(st, NFTNL_SET_FAMILY, (uint32_t)nfproto[fam]);
	return st;
}

static void elem_fill(struct nft_sync *s, struct nftnl_set_elem *e, const struct relem *r,
		      const char *comment, bool del)
{
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, r->key, r->klen);
	if (r->set == RS_FIREWALL_ALLOW)
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY_END, r->key_end, r->klen);
	if (del)
		return;
	if (r->verdict) {
		/* The chain's number: kinds / pick-chains turn it into a goto. */
		struct chain_ent *c = r->verdict == RV_GOTO ? chain_find(s, r->fam, r->chain) : NULL;
		uint32_t id = c ? chain_id(s, c) : 0;
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, &id, 4);
	} else if (r->dlen) {
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, r->data, r->dlen);
	}
	/* `comment "ns/name:port/proto"` on the elements a reader starts from
	 * (where a Service's addresses enter); the pick and DNAT elements that
	 * follow are keyed by the same address and port. Fewer comments: a
	 * shorter listing and less kernel memory. */
	bool commented = r->set == RS_SERVICE_IPS || r->set == RS_SERVICE_NODEPORTS ||
			 r->set == RS_NOEP_IPS || r->set == RS_NOEP_NODEPORTS ||
			 r->set == RS_FIREWALL_IPS || r->set == RS_FIREWALL_ALLOW;
	if (comment && commented) {
		struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFTNL_UDATA_COMMENT_MAXLEN + 4);
		char c[NFTNL_UDATA_COMMENT_MAXLEN];
		snprintf(c, sizeof(c), "%s", comment);
		nftnl_udata_put_strz(ud, NFTNL_UDATA_SET_ELEM_COMMENT, c);
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(ud),
				   nftnl_udata_buf_len(ud));
		nftnl_udata_buf_free(ud);
	}
}

/* The element list is one netlink attribute, whose length is 16 bits: keep
 * every element message well under 64 KiB (a generous estimate per element). */
#define ELEMS_BYTES 32768
static uint32_t elem_bytes(const struct relem *r)
{
	return 2u * r->klen + r->dlen + NFTNL_UDATA_COMMENT_MAXLEN + 64;
}

/*
 * One message per run of elements of the same set (one Service's):
 *   add element ip ferry dnat-ips { 198.19.0.1 . tcp . 80 . 0x0 : 198.18.0.2 . 8080 }
 *   delete element ip ferry dnat-ips { 198.19.0.1 . tcp . 80 . 0x0 }
 */
static int elems_emit(struct nft_sync *s, struct batch *bt, const struct relem *v, size_t n,
		      const char *svc, bool del)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;
		uint32_t bytes = 0;
		struct nftnl_set *st = elem_set(v[i].fam, v[i].set);
		for (; j < n && v[j].fam == v[i].fam && v[j].set == v[i].set &&
		       (bytes += elem_bytes(&v[j])) < ELEMS_BYTES; j++) {
			struct nftnl_set_elem *e = nftnl_set_elem_alloc();
			elem_fill(s, e, &v[j], svc, del);
			nftnl_set_elem_add(st, e);
		}
		struct nlmsghdr *nlh = batch_msg(bt, del ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM,
						 v[i].fam, del ? 0 : NLM_F_CREATE | NLM_F_EXCL, svc);
		if (!nlh) {
			nftnl_set_free(st);
			return -ENOMEM;
		}
		nftnl_set_elems_nlmsg_build_payload(nlh, st);
		nftnl_set_free(st);
		nftnl_batch_update(bt->b);
		i = j;
	}
	return 0;
}

/*
 * Cold syncs put the elements of many Services into one message per set, as
 * nft does: per message the kernel pays more than per element. The price is
 * that an error names a set, not a Service; then the next rebuild runs with
 * one message per Service to find it (see `precise`).
 */

struct coalesce {
	struct nftnl_set *st[RFAM_N][RS_COUNT];
	uint32_t bytes[RFAM_N][RS_COUNT];	/* a generous estimate */
};

static int coalesce_flush(struct batch *bt, struct coalesce *c, int fam, int set)
{
	if (!c->st[fam][set])
		return 0;
	struct nlmsghdr *nlh = batch_msg(bt, NFT_MSG_NEWSETELEM, fam, NLM_F_CREATE | NLM_F_EXCL,
					 rset_name(set));
	if (nlh) {
		nftnl_set_elems_nlmsg_build_payload(nlh, c->st[fam][set]);
		nftnl_batch_update(bt->b);
	}
	nftnl_set_free(c->st[fam][set]);
	c->st[fam][set] = NULL;
	c->bytes[fam][set] = 0;
	return nlh ? 0 : -ENOMEM;
}

static int coalesce_flush_all(struct batch *bt, struct coalesce *c)
{
	int r = 0;
	for (int f = 0; f < RFAM_N; f++)
		for (int i = 0; i < RS_COUNT; i++)
			r |= coalesce_flush(bt, c, f, i);
	return r;
}

static int elems_coalesce(struct nft_sync *s, struct batch *bt, struct coalesce *c,
			  const struct relem *v, size_t n, const char *svc)
{
	for (size_t i = 0; i < n; i++) {
		int f = v[i].fam, set = v[i].set;
		if (!c->st[f][set])
			c->st[f][set] = elem_set(f, set);
		struct nftnl_set_elem *e = nftnl_set_elem_alloc();
		elem_fill(s, e, &v[i], svc, false);
		nftnl_set_elem_add(c->st[f][set], e);
		c->bytes[f][set] += elem_bytes(&v[i]);
		if (c->bytes[f][set] >= ELEMS_BYTES - 512 && coalesce_flush(bt, c, f, set))
			return -ENOMEM;
	}
	return 0;
}

/* Filters a Service's element list through the shared-element counts and
 * the chain references; compacts `vec` to what must reach the kernel. */
static int account(struct nft_sync *s, struct batch *bt, struct relem_vec *vec, bool del)
{
	size_t o = 0;
	for (size_t i = 0; i < vec->n; i++) {
		struct relem *e = &vec->v[i];
		if (e->set == RS_HAIRPIN) {
			uint32_t *cnt = hp_slot(s, e->fam, e->key, !del);
			if (!cnt)
				return del ? 0 : -ENOMEM;
			if (del ? (*cnt == 0 || --*cnt > 0) : (*cnt)++ > 0)
				continue;
		}
		if (e->verdict == RV_GOTO) {
			if (del)
				chain_unref(s, e->fam, e->chain);
			else if (chain_ref(s, bt, e->fam, e->chain))
				return -ENOMEM;
		}
		vec->v[o++] = *e;
	}
	vec->n = o;
	return 0;
}

/*
 * add element ip ferry pod-cidrs { 198.18.0.0/16 }
 * An interval set (rbtree) takes a start element and an end element flagged
 * INTERVAL_END one past the range; overlapping or adjacent prefixes are
 * merged first, as nft does, or the kernel refuses the overlap.
 */
static int node_set_emit(struct batch *bt, int fam, int set, const struct faddr *l, size_t n)
{
	int alen = rfam_alen(fam);
	struct rng { uint8_t lo[16], hi[16]; } *rs = calloc(n + 1, sizeof(*rs));
	size_t m = 0;

	if (!rs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (l[i].family != rfam_af(fam))
			continue;
		memcpy(rs[m].lo, l[i].a, alen);
		memcpy(rs[m].hi, l[i].a, alen);
		for (int b = l[i].plen; b < alen * 8; b++)
			rs[m].hi[b / 8] |= (uint8_t)(0x80 >> (b % 8));
		m++;
	}
	/* sort by start (few entries: insertion sort) */
	for (size_t i = 1; i < m; i++)
		for (size_t j = i; j > 0 && memcmp(rs[j - 1].lo, rs[j].lo, alen) > 0; j--) {
			struct rng t = rs[j]; rs[j] = rs[j - 1]; rs[j - 1] = t;
		}
	struct nftnl_set *st = elem_set(fam, set);
	size_t i = 0;
	while (i < m) {
		struct rng cur = rs[i++];
		for (; i < m; i++) {
			uint8_t next[16];
			memcpy(next, cur.hi, alen);
			int k = alen - 1;	/* next = hi + 1 */
			while (k >= 0 && ++next[k] == 0)
				k--;
			if (k >= 0 && memcmp(rs[i].lo, next, alen) > 0)
				break;
			if (memcmp(rs[i].hi, cur.hi, alen) > 0)
				memcpy(cur.hi, rs[i].hi, alen);
		}
		struct nftnl_set_elem *e = nftnl_set_elem_alloc();
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, cur.lo, alen);
		nftnl_set_elem_add(st, e);
		int k = alen - 1;	/* the end element is one past the range */
		while (k >= 0 && ++cur.hi[k] == 0)
			k--;
		if (k >= 0) {
			e = nftnl_set_elem_alloc();
			nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, cur.hi, alen);
			nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
			nftnl_set_elem_add(st, e);
		}
	}
	free(rs);
	if (m) {
		struct nlmsghdr *nlh = batch_msg(bt, NFT_MSG_NEWSETELEM, fam, NLM_F_CREATE | NLM_F_EXCL,
						 rset_name(set));
		if (!nlh) {
			nftnl_set_free(st);
			return -ENOMEM;
		}
		nftnl_set_elems_nlmsg_build_payload(nlh, st);
		nftnl_batch_update(bt->b);
	}
	nftnl_set_free(st);
	return 0;
}

/* ------------------------------------------------------------------ */
/* netlink talk                                                        */

static int send_batch(struct nft_sync *s, struct batch *bt, const char **bad_svc)
{
	uint32_t last = bt->seq - 1;
	int err = 0;

	*bad_svc = NULL;
	nftnl_batch_end(nftnl_batch_buffer(bt->b), bt->seq++);
	batch_note(bt, "batch end");
	nftnl_batch_update(bt->b);

	int n_iov = nftnl_batch_iovec_len(bt->b);
	struct iovec *iov = calloc((size_t)n_iov, sizeof(*iov));
	if (!iov)
		return -ENOMEM;
	nftnl_batch_iovec(bt->b, iov, (uint32_t)n_iov);
	size_t total = 0;
	for (int i = 0; i < n_iov; i++)
		total += iov[i].iov_len;
	/* Ask for an ack of the last message only: success costs one reply,
	 * and an error names its message by sequence number. */
	for (int i = 0, found = 0; i < n_iov && !found; i++) {
		char *p = iov[i].iov_base;
		for (size_t o = 0; o + sizeof(struct nlmsghdr) <= iov[i].iov_len;) {
			struct nlmsghdr *h = (struct nlmsghdr *)(p + o);
			if (h->nlmsg_seq == last) {
				h->nlmsg_flags |= NLM_F_ACK;
				found = 1;
				break;
			}
			o += NLMSG_ALIGN(h->nlmsg_len);
		}
	}
	int sz = (int)(total + 65536);
	setsockopt(mnl_socket_get_fd(s->nl), SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
	struct sockaddr_nl snl = { .nl_family = AF_NETLINK };
	struct msghdr msg = { .msg_name = &snl, .msg_namelen = sizeof(snl),
			      .msg_iov = iov, .msg_iovlen = (size_t)n_iov };
	ssize_t ret = sendmsg(mnl_socket_get_fd(s->nl), &msg, 0);
	free(iov);
	if (ret < 0) {
		log_err("nft", "netlink send failed", "error=%s bytes=%zu", log_q(strerror(errno)), total);
		return -errno;
	}

	char buf[MNL_SOCKET_BUFFER_SIZE];
	bool done = false;
	while (!done) {
		struct pollfd pfd = { .fd = mnl_socket_get_fd(s->nl), .events = POLLIN };
		/* After an error the kernel may not ack the last message: once
		 * an error is in, stop at the first quiet moment. */
		int pr = poll(&pfd, 1, err ? 50 : 30000);
		if (pr <= 0) {
			if (!err) {
				log_err("nft", "no answer from the kernel", "");
				err = -ETIMEDOUT;
			}
			break;
		}
		ssize_t n = mnl_socket_recvfrom(s->nl, buf, sizeof(buf));
		if (n < 0) {
			err = err ? err : -errno;
			break;
		}
		struct nlmsghdr *h = (struct nlmsghdr *)buf;
		size_t len = (size_t)n;
		for (; mnl_nlmsg_ok(h, (int)len); h = mnl_nlmsg_next(h, (int *)&len)) {
			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
			if (e->error) {
				const char *what = "?";
				if (h->nlmsg_seq >= bt->seq0 && h->nlmsg_seq < bt->seq)
					what = bt->what[h->nlmsg_seq - bt->seq0];
				log_err("nft", "kernel refused a change", "object=%s error=%s seq=%u",
					log_q(what), log_q(strerror(-e->error)), h->nlmsg_seq);
				if (!err)
					err = e->error;
				/* The first refused message names the culprit
				 * (a Service key, or a set or object name). */
				if (!*bad_svc)
					*bad_svc = what;
				if (h->nlmsg_seq == bt->begin_seq)
					done = true;
			}
			if (h->nlmsg_seq == last)
				done = true;
		}
	}
	return err;
}

static int talk_simple(struct nft_sync *s, struct nlmsghdr *nlh, int (*cb)(const struct nlmsghdr *, void *), void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint32_t seq = nlh->nlmsg_seq;

	if (mnl_socket_sendto(s->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(s->nl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		int r = mnl_cb_run(buf, (size_t)n, seq, s->portid, cb, data);
		if (r <= 0)
			return r < 0 ? -errno : 0;
	}
}

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_gen *g = nftnl_gen_alloc();
	if (g && nftnl_gen_nlmsg_parse(nlh, g) == 0)
		*(uint32_t *)data = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
	nftnl_gen_free(g);
	return MNL_CB_OK;
}

static int get_genid(struct nft_sync *s, uint32_t *id)
{
	char buf[256];
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK, ++s->seq);
	return talk_simple(s, nlh, gen_cb, id);
}

struct rule_count { struct nft_sync *s; int fam; uint32_t *counts; bool unknown; };

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rule_count *rc = data;
	struct nftnl_rule *r = nftnl_rule_alloc();
	if (r && nftnl_rule_nlmsg_parse(nlh, r) == 0) {
		const char *ch = nftnl_rule_get_str(r, NFTNL_RULE_CHAIN);
		struct chain_ent *c = ch ? chain_find(rc->s, rc->fam, ch) : NULL;
		if (c)
			rc->counts[c - rc->s->chains]++;
		else
			rc->unknown = true;
	}
	nftnl_rule_free(r);
	return MNL_CB_OK;
}

/* After someone else changed the ruleset: are our tables still as we left
 * them? Counting rules per chain catches a flushed or deleted table or
 * chain and any added or removed rule, without dumping the big maps. */
static bool tables_intact(struct nft_sync *s)
{
	uint32_t *counts = calloc(s->n_chains + 1, sizeof(*counts));
	bool ok = counts != NULL;

	for (int fam = 0; fam < RFAM_N && ok; fam++) {
		char buf[1024];
		struct nftnl_rule *r = nftnl_rule_alloc();
		nftnl_rule_set_str(r, NFTNL_RULE_TABLE, TABLE);
		struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, nfproto[fam],
							      NLM_F_DUMP, ++s->seq);
		nftnl_rule_nlmsg_build_payload(nlh, r);
		nftnl_rule_free(r);
		struct rule_count rc = { s, fam, counts, false };
		if (talk_simple(s, nlh, rule_cb, &rc) < 0 || rc.unknown)
			ok = false;
	}
	for (size_t i = 0; ok && i < s->n_chains; i++)
		if (s->chains[i].exists && counts[i] != s->chains[i].rules)
			ok = false;
	free(counts);
	return ok;
}

/* ------------------------------------------------------------------ */
/* sync                                                                */

struct nft_sync *nft_sync_new(void)
{
	struct nft_sync *s = calloc(1, sizeof(*s));
	int one = 1;

	if (!s)
		return NULL;
	s->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!s->nl || mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		log_err("nft", "cannot open netlink", "error=%s", log_q(strerror(errno)));
		if (s->nl)
			mnl_socket_close(s->nl);
		free(s);
		return NULL;
	}
	/* Errors carry only the header of the refused message, not a copy. */
	mnl_socket_setsockopt(s->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(s->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	int rcv = 4 << 20;
	setsockopt(mnl_socket_get_fd(s->nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv));
	s->portid = mnl_socket_get_portid(s->nl);
	s->seq = (uint32_t)loop_now_ms();
	s->need_full = true;
	return s;
}

void nft_sync_free(struct nft_sync *s)
{
	if (!s)
		return;
	mnl_socket_close(s->nl);
	app_clear(s);
	free(s->app);
	fnode_free(&s->node);
	free(s->chains);
	free(s->hp);
	free(s->quar);
	free(s);
}

const struct nft_sync_stats *nft_sync_last(const struct nft_sync *s)
{
	return &s->stats;
}

void nft_sync_invalidate(struct nft_sync *s)
{
	s->need_full = true;
}

static int render_both(const struct fsvc *v, struct relem_vec *vec)
{
	vec->n = 0;
	for (int fam = 0; fam < RFAM_N; fam++)
		if (render_svc(v, fam, vec))
			return -ENOMEM;
	relem_vec_sort(vec);
	return 0;
}

static int build_full(struct nft_sync *s, struct batch *bt, const struct fnode *node,
		      const struct fsvc *const *list, size_t n)
{
	struct relem_vec vec = { 0 };
	struct coalesce co = { 0 };
	int r = 0;

	s->n_chains = 0;
	free(s->hp);
	s->hp = NULL;
	s->hp_cap = s->hp_n = 0;
	for (int fam = 0; fam < RFAM_N; fam++) {
		struct nftnl_table *t = nftnl_table_alloc();
		nftnl_table_set_str(t, NFTNL_TABLE_NAME, TABLE);
		nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, (uint32_t)nfproto[fam]);
		/* add table ip ferry; delete table ip ferry; add table ip ferry:
		 * replaces whatever was there in the same transaction. */
		static const uint16_t ops[3] = { NFT_MSG_NEWTABLE, NFT_MSG_DELTABLE, NFT_MSG_NEWTABLE };
		for (int i = 0; i < 3; i++) {
			struct nlmsghdr *nlh = batch_msg(bt, ops[i], fam,
							 ops[i] == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0, "table");
			if (!nlh) {
				nftnl_table_free(t);
				return -ENOMEM;
			}
			nftnl_table_nlmsg_build_payload(nlh, t);
			nftnl_batch_update(bt->b);
		}
		nftnl_table_free(t);
		for (int i = 0; i < RS_COUNT; i++)
			if (set_emit(bt, fam, &set_specs[i]))
				return -ENOMEM;
		if (base_chains(s, bt, fam, node))
			return -ENOMEM;
		/* kinds { ID : goto svc-... }, pick-chains { 0 : drop } */
		static const char *const kinds[] = { "svc-cluster-ip", "svc-external-ip",
			"svc-external-ip-local", "svc-nodeport", "svc-nodeport-local" };
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
			if (vmap_elem(bt, fam, RS_KINDS, chain_id(s, chain_find(s, fam, kinds[k])), kinds[k], false))
				return -ENOMEM;
		if (vmap_elem(bt, fam, RS_PICK_CHAINS, 0, NULL, false))
			return -ENOMEM;
		if (node_set_emit(bt, fam, RS_POD_CIDRS, node->pod_cidrs, node->n_pod_cidrs) ||
		    node_set_emit(bt, fam, RS_NODEPORT_ADDRS, node->nodeport_cidrs, node->n_nodeport_cidrs))
			return -ENOMEM;
	}
	for (size_t i = 0; i < n && !r; i++) {
		const struct fsvc *v = list[i];
		if (quarantined(s, v))
			continue;
		r = render_both(v, &vec);
		if (!r)
			r = account(s, bt, &vec, false);
		if (!r)
			r = s->precise ? elems_emit(s, bt, vec.v, vec.n, v->key, false)
				       : elems_coalesce(s, bt, &co, vec.v, vec.n, v->key);
		s->stats.elements_added += (uint32_t)vec.n;
	}
	if (coalesce_flush_all(bt, &co))
		r = -ENOMEM;
	relem_vec_free(&vec);
	return r;
}

/* The difference of one Service: `old` and `new` may be NULL. */
struct svc_diff { const char *key; struct relem_vec del, add; };

static int diff_svc(const struct fsvc *old, const struct fsvc *nw, struct svc_diff *d)
{
	struct relem_vec a = { 0 }, b = { 0 };
	int r = 0;

	if ((old && render_both(old, &a)) || (nw && render_both(nw, &b))) {
		r = -ENOMEM;
		goto out;
	}
	size_t i = 0, j = 0;
	while (i < a.n || j < b.n) {
		int c = i == a.n ? 1 : j == b.n ? -1 : relem_cmp(&a.v[i], &b.v[j]);
		struct relem_vec *to = NULL;
		const struct relem *e = NULL;
		if (c < 0) {
			to = &d->del; e = &a.v[i++];
		} else if (c > 0) {
			to = &d->add; e = &b.v[j++];
		} else {
			if (!relem_equal(&a.v[i], &b.v[j])) {
				struct relem *x;
				if (d->del.n == d->del.cap) {
					size_t cap = d->del.cap ? d->del.cap * 2 : 16;
					x = realloc(d->del.v, cap * sizeof(*x));
					if (!x) { r = -ENOMEM; goto out; }
					d->del.v = x; d->del.cap = cap;
				}
				d->del.v[d->del.n++] = a.v[i];
				to = &d->add; e = &b.v[j];
			}
			i++; j++;
		}
		if (!to)
			continue;
		if (to->n == to->cap) {
			size_t cap = to->cap ? to->cap * 2 : 16;
			struct relem *x = realloc(to->v, cap * sizeof(*x));
			if (!x) { r = -ENOMEM; goto out; }
			to->v = x; to->cap = cap;
		}
		to->v[to->n++] = *e;
	}
out:
	relem_vec_free(&a);
	relem_vec_free(&b);
	return r;
}

/* A Service that changed between what the kernel has and what is wanted:
 * `old` is what we installed (NULL: new), `nw` what is wanted (NULL: gone). */
struct pair { const struct fsvc *old, *nw; };

struct pairs { struct pair *v; size_t n, cap; };

static int pairs_add(struct pairs *p, const struct fsvc *old, const struct fsvc *nw)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct pair *x = realloc(p->v, cap * sizeof(*x));
		if (!x)
			return -ENOMEM;
		p->v = x;
		p->cap = cap;
	}
	p->v[p->n++] = (struct pair){ old, nw };
	return 0;
}

static int build_incremental(struct nft_sync *s, struct batch *bt, const struct pairs *ps,
			     struct svc_diff **out, size_t *n_out)
{
	struct svc_diff *ds = calloc(ps->n + 1, sizeof(*ds));
	size_t n = ps->n;
	int r = 0;

	if (!ds)
		return -ENOMEM;
	/* Pass 1: the element difference of each changed Service. */
	for (size_t k = 0; k < n && !r; k++) {
		ds[k].key = ps->v[k].nw ? ps->v[k].nw->key : ps->v[k].old->key;
		r = diff_svc(ps->v[k].old, ps->v[k].nw, &ds[k]);
	}
	/* Pass 2: every delete before any add, so an address moving from one
	 * Service to another is free before it is claimed. */
	for (size_t k = 0; k < n && !r; k++) {
		r = account(s, bt, &ds[k].del, true);
		if (!r)
			r = elems_emit(s, bt, ds[k].del.v, ds[k].del.n, ds[k].key, true);
		s->stats.elements_deleted += (uint32_t)ds[k].del.n;
	}
	for (size_t k = 0; k < n && !r; k++) {
		r = account(s, bt, &ds[k].add, false);
		if (!r)
			r = elems_emit(s, bt, ds[k].add.v, ds[k].add.n, ds[k].key, false);
		s->stats.elements_added += (uint32_t)ds[k].add.n;
	}
	/* Pass 3: pick chains nothing jumps to any more. */
	for (size_t k = 0; k < s->n_chains && !r; k++) {
		struct chain_ent *c = &s->chains[k];
		if (c->is_static || !c->exists || c->refs)
			continue;
		struct nftnl_chain *ch = nftnl_chain_alloc();
		nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, TABLE);
		nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, c->name);
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, (uint32_t)nfproto[c->fam]);
		/* delete element ip ferry pick-chains { ID };
		 * flush chain ip ferry pick-ip-K; delete chain ip ferry pick-ip-K */
		if (vmap_elem(bt, c->fam, RS_PICK_CHAINS, chain_id(s, c), c->name, true)) {
			nftnl_chain_free(ch);
			r = -ENOMEM;
			break;
		}
		struct nftnl_rule *rl = rule_new(c->fam, c->name);
		struct nlmsghdr *nlh = batch_msg_dup(bt, NFT_MSG_DELRULE, c->fam, 0, c->name);
		if (nlh) {
			nftnl_rule_nlmsg_build_payload(nlh, rl);
			nftnl_batch_update(bt->b);
			nlh = batch_msg_dup(bt, NFT_MSG_DELCHAIN, c->fam, 0, c->name);
		}
		if (nlh) {
			nftnl_chain_nlmsg_build_payload(nlh, ch);
			nftnl_batch_update(bt->b);
		}
		nftnl_rule_free(rl);
		nftnl_chain_free(ch);
		if (!nlh) {
			r = -ENOMEM;
			break;
		}
		c->exists = false;
	}
	*out = ds;
	*n_out = n;
	return r;
}

static void diffs_free(struct svc_diff *ds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		relem_vec_free(&ds[i].del);
		relem_vec_free(&ds[i].add);
	}
	free(ds);
}

/* ---- what the kernel has: Service key -> our copy (chained hash) ---- */

struct app_ent {
	struct app_ent *next;
	uint64_t h;
	uint32_t seen;
	struct fsvc v;
};

static uint64_t key_hash(const char *k)
{
	return fnv(k, strlen(k), FNV0);
}

static struct app_ent **app_slot(struct nft_sync *s, const char *key, uint64_t h)
{
	struct app_ent **e = &s->app[h & (s->app_nb - 1)];
	for (; *e; e = &(*e)->next)
		if ((*e)->h == h && !strcmp((*e)->v.key, key))
			return e;
	return e;
}

static const struct fsvc *app_find(struct nft_sync *s, const char *key, uint32_t seen)
{
	if (!s->app_nb)
		return NULL;
	struct app_ent *e = *app_slot(s, key, key_hash(key));
	if (!e)
		return NULL;
	if (seen)
		e->seen = seen;
	return &e->v;
}

static void app_del(struct nft_sync *s, const char *key)
{
	if (!s->app_nb)
		return;
	struct app_ent **pe = app_slot(s, key, key_hash(key)), *e = *pe;
	if (!e)
		return;
	*pe = e->next;
	fsvc_free(&e->v);
	free(e);
	s->app_n--;
}

static int app_put(struct nft_sync *s, const struct fsvc *v)
{
	if (s->app_n + 1 > s->app_nb) {	/* grow: load factor <= 1 */
		size_t nb = s->app_nb ? s->app_nb * 2 : 1024;
		struct app_ent **b = calloc(nb, sizeof(*b));
		if (!b)
			return -ENOMEM;
		for (size_t i = 0; i < s->app_nb; i++)
			for (struct app_ent *e = s->app[i], *nx; e; e = nx) {
				nx = e->next;
				e->next = b[e->h & (nb - 1)];
				b[e->h & (nb - 1)] = e;
			}
		free(s->app);
		s->app = b;
		s->app_nb = nb;
	}
	uint64_t h = key_hash(v->key);
	struct app_ent **pe = app_slot(s, v->key, h), *e = *pe;
	struct fsvc cp;
	if (fsvc_copy(&cp, v))
		return -ENOMEM;
	if (e) {
		fsvc_free(&e->v);
		e->v = cp;
		return 0;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		fsvc_free(&cp);
		return -ENOMEM;
	}
	e->h = h;
	e->v = cp;
	*pe = e;
	s->app_n++;
	return 0;
}

static void app_clear(struct nft_sync *s)
{
	for (size_t i = 0; i < s->app_nb; i++)
		for (struct app_ent *e = s->app[i], *nx; e; e = nx) {
			nx = e->next;
			fsvc_free(&e->v);
			free(e);
		}
	if (s->app)
		memset(s->app, 0, s->app_nb * sizeof(*s->app));
	s->app_n = 0;
}

/* After a successful incremental sync: the kernel now has the `nw` side. */
static int app_apply(struct nft_sync *s, const struct pairs *ps)
{
	int r = 0;
	for (size_t i = 0; i < ps->n; i++) {
		if (ps->v[i].nw)
			r |= app_put(s, ps->v[i].nw);
		else
			app_del(s, ps->v[i].old->key);
	}
	return r;
}

/* ---- one sync ---- */

static int sync_begin(struct nft_sync *s, const struct fnode *node, uint32_t *gen)
{
	memset(&s->stats, 0, sizeof(s->stats));
	int r = get_genid(s, gen);
	if (r < 0) {
		log_err("nft", "cannot read the ruleset generation", "error=%s", log_q(strerror(-r)));
		return r;
	}
	if (!s->need_full && *gen != s->genid) {
		if (tables_intact(s)) {
			s->genid = *gen;	/* someone else's table moved it */
		} else {
			log_warn("nft", "ferry tables changed by someone else, rebuilding",
				 "gen=%u want=%u", *gen, s->genid);
			s->need_full = true;
		}
	}
	if (!s->need_full && !fnode_equal(&s->node, node))
		s->need_full = true;	/* node settings shape the rules: rebuild */
	return 0;
}

/*
 * Builds and sends one batch: the whole tables from `list` when a rebuild is
 * due, else the difference `ps`. Returns 0 or a negative errno; on success
 * the caller updates its record of what the kernel has.
 */
static int sync_run(struct nft_sync *s, uint32_t gen, const struct fnode *node,
		    const struct fsvc *const *list, size_t n_list, const struct pairs *ps, bool full)
{
	struct batch bt;
	struct svc_diff *ds = NULL;
	size_t n_ds = 0;
	const char *bad = NULL;
	int r;

	if (batch_init(&bt, ++s->seq, gen, true))
		return -ENOMEM;
	r = full ? build_full(s, &bt, node, list, n_list) : build_incremental(s, &bt, ps, &ds, &n_ds);
	s->stats.full = full;
	s->stats.messages = bt.seq - bt.seq0 + 1;
	if (!r && !full && s->stats.messages == 2) {
		/* nothing to say: skip the round trip */
		s->seq = bt.seq;
		batch_free(&bt);
		diffs_free(ds, n_ds);
		return 0;
	}
	uint64_t t1 = loop_now_us();
	if (!r)
		r = send_batch(s, &bt, &bad);
	s->stats.kernel_ms = (double)(loop_now_us() - t1) / 1000.0;
	s->seq = bt.seq;
	batch_free(&bt);
	diffs_free(ds, n_ds);
	if (!r) {
		s->genid = gen + 1;
		s->need_full = false;
		if (full)
			s->precise = false;
		return 0;
	}
	/* The kernel kept the previous ruleset. Our bookkeeping went ahead
	 * of it: the next sync rebuilds from scratch. */
	s->need_full = true;
	const struct fsvc *culprit = NULL;
	for (size_t i = 0; bad && full && i < n_list && !culprit; i++)
		if (list[i]->key == bad)
			culprit = list[i];
	for (size_t i = 0; bad && !full && i < ps->n && !culprit; i++)
		if (ps->v[i].nw && ps->v[i].nw->key == bad)
			culprit = ps->v[i].nw;
	if (culprit)
		quarantine_add(s, culprit);
	else if (full)
		s->precise = true;	/* a coalesced message names a set: next
					 * rebuild, one message per Service */
	log_err("nft", "sync failed, previous ruleset kept", "error=%s full=%d",
		log_q(strerror(r < 0 ? -r : r)), full);
	return r < 0 ? r : -r;
}

static void sync_end(struct nft_sync *s, uint64_t t0, size_t services)
{
	s->stats.ms = (double)(loop_now_us() - t0) / 1000.0;
	s->stats.quarantined = (uint32_t)s->n_quar;
	log_v(1, "nft", "sync done", "full=%d services=%zu messages=%u added=%u deleted=%u ms=%.2f",
	      s->stats.full, services, s->stats.messages, s->stats.elements_added,
	      s->stats.elements_deleted, s->stats.ms);
}

int nft_sync_apply(struct nft_sync *s, const struct fstate *st)
{
	uint64_t t0 = loop_now_us();
	uint32_t gen = 0;
	struct pairs ps = { 0 };
	const struct fsvc **list = NULL;
	int r = sync_begin(s, &st->node, &gen);

	if (r)
		return r;
	bool full = s->need_full;
	if (full) {
		list = calloc(st->n_svcs + 1, sizeof(*list));
		if (!list)
			return -ENOMEM;
		for (size_t i = 0; i < st->n_svcs; i++)
			list[i] = &st->svcs[i];
	} else {
		/* What changed: look every wanted Service up, then whatever was
		 * not looked up is gone. */
		uint32_t mark = ++s->walk;
		for (size_t i = 0; i < st->n_svcs && !r; i++) {
			const struct fsvc *w = &st->svcs[i], *o = app_find(s, w->key, mark);
			if (quarantined(s, w))
				w = NULL;
			if (o && w && fsvc_same(o, w))
				continue;
			if (o || w)
				r = pairs_add(&ps, o, w);
		}
		for (size_t b = 0; b < s->app_nb && !r; b++)
			for (struct app_ent *e = s->app[b]; e && !r; e = e->next)
				if (e->seen != mark)
					r = pairs_add(&ps, &e->v, NULL);
	}
	if (!r)
		r = sync_run(s, gen, &st->node, list, st->n_svcs, &ps, full);
	if (!r && full) {
		app_clear(s);
		for (size_t i = 0; i < st->n_svcs && !r; i++)
			if (!quarantined(s, &st->svcs[i]))
				r = app_put(s, &st->svcs[i]);
	} else if (!r) {
		r = app_apply(s, &ps);
	}
	if (!r) {
		fnode_free(&s->node);
		r = fnode_copy(&s->node, &st->node);
	}
	free(list);
	free(ps.v);
	if (r) {
		s->need_full = true;
		return r;
	}
	sync_end(s, t0, st->n_svcs);
	return 0;
}

int nft_sync_update(struct nft_sync *s, const struct fnode *node,
		    const struct fsvc *upsert, size_t n_upsert,
		    const char *const *remove, size_t n_remove)
{
	uint64_t t0 = loop_now_us();
	uint32_t gen = 0;
	struct pairs ps = { 0 };
	const struct fsvc **list = NULL;
	int r = sync_begin(s, node, &gen);

	if (r)
		return r;
	bool full = s->need_full;
	if (full) {
		/* A rebuild needs the whole wanted state: ours, changed. */
		for (size_t i = 0; i < n_remove; i++)
			app_del(s, remove[i]);
		for (size_t i = 0; i < n_upsert && !r; i++)
			r = quarantined(s, &upsert[i]) ? (app_del(s, upsert[i].key), 0) : app_put(s, &upsert[i]);
		list = calloc(s->app_n + 1, sizeof(*list));
		size_t n = 0;
		for (size_t b = 0; list && b < s->app_nb; b++)
			for (struct app_ent *e = s->app[b]; e; e = e->next)
				list[n++] = &e->v;
		if (!r && !list)
			r = -ENOMEM;
		if (!r)
			r = sync_run(s, gen, node, list, n, NULL, true);
	} else {
		for (size_t i = 0; i < n_remove && !r; i++) {
			const struct fsvc *o = app_find(s, remove[i], 0);
			if (o)
				r = pairs_add(&ps, o, NULL);
		}
		for (size_t i = 0; i < n_upsert && !r; i++) {
			const struct fsvc *w = &upsert[i], *o = app_find(s, w->key, 0);
			if (quarantined(s, w))
				w = NULL;
			if ((o || w) && !(o && w && fsvc_same(o, w)))
				r = pairs_add(&ps, o, w);
		}
		if (!r)
			r = sync_run(s, gen, node, NULL, 0, &ps, false);
		if (!r)
			r = app_apply(s, &ps);
	}
	if (!r) {
		fnode_free(&s->node);
		r = fnode_copy(&s->node, node);
	}
	free(list);
	free(ps.v);
	if (r) {
		s->need_full = true;
		return r;
	}
	sync_end(s, t0, s->app_n);
	return 0;
}

int nft_cleanup(void)
{
	struct nft_sync *s = nft_sync_new();
	struct batch bt;
	const char *bad;
	int r;

	if (!s)
		return -ENOTCONN;
	if (batch_init(&bt, ++s->seq, 0, false)) {
		nft_sync_free(s);
		return -ENOMEM;
	}
	for (int fam = 0; fam < RFAM_N; fam++) {
		struct nftnl_table *t = nftnl_table_alloc();
		nftnl_table_set_str(t, NFTNL_TABLE_NAME, TABLE);
		nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, (uint32_t)nfproto[fam]);
		/* add table ip ferry; delete table ip ferry (no error when absent) */
		struct nlmsghdr *nlh = batch_msg(&bt, NFT_MSG_NEWTABLE, fam, NLM_F_CREATE, "table");
		if (nlh) {
			nftnl_table_nlmsg_build_payload(nlh, t);
			nftnl_batch_update(bt.b);
			nlh = batch_msg(&bt, NFT_MSG_DELTABLE, fam, 0, "table");
		}
		if (!nlh) {
			nftnl_table_free(t);
			batch_free(&bt);
			nft_sync_free(s);
			return -ENOMEM;
		}
		nftnl_table_nlmsg_build_payload(nlh, t);
		nftnl_batch_update(bt.b);
		nftnl_table_free(t);
	}
	r = send_batch(s, &bt, &bad);
	batch_free(&bt);
	nft_sync_free(s);
	return r;
}
