/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the files of nft/ share, and nobody outside nft/ may use.
 *
 *   batch.c      one netlink batch: sequence numbers, what each message is
 *                about, send, the kernel's answers (extended ack), the
 *                ruleset generation. Used by sync.c and kpcleanup.c.
 *   expr.c       libnftnl rule and expression helpers (x_payload, ...).
 *   skeleton.c   the fixed part of a ferry table: sets, hook, kind and pick
 *                chains, the node's address sets.
 *   elems.c      per-Service set elements: filling, coalescing, splitting
 *                messages under 64 KiB.
 *   installed.c  what the kernel has: Services, chains, shared hairpin
 *                elements, quarantined Services.
 *   sync.c       nft_sync_apply/nft_sync_update: decide full or incremental,
 *                build, send, record.
 *   explain.c    `ferry explain`: a Service's path read back from the kernel.
 */
#ifndef FERRY_NFT_INTERNAL_H
#define FERRY_NFT_INTERNAL_H

#include "nft/nft.h"
#include "nft/render.h"
#include "core/hash.h"
#include "core/vec.h"

#include <netinet/in.h>
#include <linux/netlink.h>
#include <linux/netfilter/nf_tables.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mnl_socket;
struct nftnl_set;
struct nlmsghdr;
struct nftnl_batch;
struct nftnl_rule;

#define TABLE "ferry"

/* nfproto of family index f (render.h: 0 is ip, 1 is ip6) */
static inline int nfproto_of(int f) { return f ? 10 /* NFPROTO_IPV6 */ : 2 /* NFPROTO_IPV4 */; }

/* The first error wins: later ones are usually its consequences. */
static inline void err_keep(int *acc, int r) { if (!*acc && r) *acc = r; }

/* ---- batch.c ---- */

struct nbatch {
	struct nftnl_batch *b;
	uint32_t seq0, seq;	/* first and next sequence number */
	VEC(const char *) what;	/* per message: the Service key or object */
	VEC(char *) owned;	/* copies of names noted in `what` */
	char *page;		/* the page being written and how far it */
	size_t zeroed;		/* is zeroed (zero_ahead) */
};

/* The kinds of libnftnl object nbatch_put can write. */
enum nobj { NOBJ_TABLE, NOBJ_CHAIN, NOBJ_RULE, NOBJ_SET, NOBJ_ELEMS };

/* Starts a batch; with use_genid the kernel refuses it (ERESTART) when the
 * ruleset is no longer at generation `genid`. 0 or -ENOMEM. */
int nbatch_init(struct nbatch *bt, uint32_t seq, uint32_t genid, bool use_genid);
void nbatch_free(struct nbatch *bt);
/*
 * One message: header (type, family as nfproto, flags), the payload of
 * `obj` (a struct nftnl_table/chain/rule/set of `kind`; NOBJ_ELEMS: the
 * elements of a struct nftnl_set), batch accounting. `what` names the
 * message in error logs; copy it unless it outlives the batch. A NULL obj
 * (a failed allocation) is -ENOMEM. The object stays the caller's.
 */
int nbatch_put(struct nbatch *bt, uint16_t type, int family, uint16_t flags,
	       const char *what, bool copy, enum nobj kind, const void *obj);
/*
 * One element message from attributes already encoded (elems.c): `list`
 * holds `len` bytes of NFTA_LIST_ELEM attributes, padding zeroed; they go
 * in as NFTA_SET_ELEM_LIST_ELEMENTS of set `set` in table ferry. `what`
 * must outlive the batch (a Service's key or a set's name).
 */
int nbatch_put_elems(struct nbatch *bt, uint16_t type, int family, uint16_t flags,
		     const char *what, const char *set, const void *list, uint32_t len);
/* Messages so far, begin and end included once ended. */
static inline uint32_t nbatch_count(const struct nbatch *bt) { return bt->seq - bt->seq0; }
/*
 * Ends and sends the batch, then reads the answers: 0, or the first
 * refused message's error (a negative errno). *bad (if not NULL) is then
 * the `what` of that message. Errors are logged under `sub`, with the
 * kernel's own words when it gave some.
 */
int nbatch_send(struct mnl_socket *nl, struct nbatch *bt, const char *sub, const char **bad);
/* The text of NLMSGERR_ATTR_MSG in an NLMSG_ERROR message, NULL if none. */
const char *nl_ext_ack_msg(const struct nlmsghdr *h);
/* The ruleset's generation (NFT_MSG_GETGEN). */
int nl_get_genid(struct mnl_socket *nl, uint32_t *seq, uint32_t *genid);
/* Sends one request (or dump) and runs cb over the answers until done;
 * 0 or a negative errno. */
int nl_talk(struct mnl_socket *nl, struct nlmsghdr *nlh,
	    int (*cb)(const struct nlmsghdr *, void *), void *data);

/* ---- expr.c ---- */

/* A rule under construction: expression helpers are no-ops once an
 * allocation failed, and rule_emit reports it. */
struct xrule {
	struct nftnl_rule *r;
	int err;
};

#define R(i) (NFT_REG32_00 + (i))	/* the i-th 32-bit register */

struct xrule *rule_new(int fam, const char *chain);
/* Writes the rule into the batch, frees it, counts it in *count. */
int rule_emit(struct nbatch *bt, int fam, struct xrule *r, uint32_t *count);

void x_payload(struct xrule *r, uint32_t base, uint32_t off, uint32_t len, uint32_t dreg);
void x_meta(struct xrule *r, uint32_t key, uint32_t dreg);
void x_meta_set(struct xrule *r, uint32_t key, uint32_t sreg);
void x_ct(struct xrule *r, uint32_t key, uint32_t dreg);
void x_ct_set(struct xrule *r, uint32_t key, uint32_t sreg);
void x_cmp(struct xrule *r, uint32_t op, const void *data, uint32_t len);
void x_bitwise(struct xrule *r, uint32_t mask, uint32_t xor);
void x_bitwise_reg(struct xrule *r, uint32_t reg, uint32_t mask, uint32_t xor);
void x_imm(struct xrule *r, uint32_t val, uint32_t dreg);
void x_lookup(struct xrule *r, const char *set, int dreg, uint32_t flags);
void x_verdict(struct xrule *r, int verdict, const char *chain);
void x_fib_local(struct xrule *r, uint32_t which);
void x_mark_masq(struct xrule *r, uint32_t bit);
void x_ct_new(struct xrule *r);
void x_dnat(struct xrule *r, int fam);
void x_numgen(struct xrule *r, uint32_t mod, uint32_t offset);
void x_dynset_update(struct xrule *r, const char *set, uint32_t sreg_key, uint32_t sreg_data,
		     uint64_t timeout_ms);
void x_dynset_delete(struct xrule *r, const char *set, uint32_t sreg_key, uint32_t sreg_data);
void x_masq_fully_random(struct xrule *r);
void x_reject(struct xrule *r, uint32_t type, uint8_t code);
void x_dispatch(struct xrule *r, const char *map, const char *vmap);
uint32_t saddr_off(int fam);
uint32_t daddr_off(int fam);
uint32_t x_key_ip(struct xrule *r, int fam, uint32_t addr_off, uint32_t at);
uint32_t x_key_np(struct xrule *r, uint32_t at);

/* ---- installed.c ---- */

struct chain_ent {
	uint8_t fam;
	char name[RCHAIN_MAX];
	uint32_t rules;		/* how many rules we put in it */
	uint32_t refs;		/* elements jumping to it; static chains: 1 */
	bool is_static, exists;
};

/* One Service the kernel has: our copy of what we installed. */
struct app_ent {
	struct hnode node;
	uint32_t seen;
	struct fsvc v;
};

struct quarantine { char key[FSVC_KEY_MAX + 2]; uint64_t content; };

struct nft_sync {
	struct mnl_socket *nl;
	uint32_t portid, seq;
	bool need_full;
	bool precise;		/* next rebuild: one message per Service (find a culprit) */
	uint32_t genid;
	struct fnode node;	/* the node settings the tables were built for */
	struct htab app;	/* struct app_ent by Service key */
	uint32_t walk;
	VEC(struct chain_ent) chains;	/* index + 1 is the chain's number */
	struct htab hairpin;	/* struct hp_ent: shared hairpin elements */
	VEC(struct quarantine) quar;
	uint64_t elements;	/* set/map elements installed, kept across syncs */
	struct nft_sync_stats stats;
};

bool quarantined(const struct nft_sync *s, const struct fsvc *v);
void quarantine_add(struct nft_sync *s, const struct fsvc *v);
void hairpin_clear(struct nft_sync *s);

struct chain_ent *chain_find(struct nft_sync *s, int fam, const char *name);
struct chain_ent *chain_add(struct nft_sync *s, int fam, const char *name);
/* The number elements carry to reach chain c through @kinds/@pick-chains. */
static inline uint32_t chain_id(const struct nft_sync *s, const struct chain_ent *c)
{
	return (uint32_t)(c - s->chains.v) + 1;	/* 0 is drop */
}

int account(struct nft_sync *s, struct nbatch *bt, struct relem_vec *vec, bool del);
bool tables_intact(struct nft_sync *s);

const struct fsvc *app_find(struct nft_sync *s, const char *key, uint32_t seen);
void app_del(struct nft_sync *s, const char *key);
int app_put(struct nft_sync *s, const struct fsvc *v);
void app_clear(struct nft_sync *s);
#define APP_WALK(s, e) \
	HTAB_WALK(&(s)->app, _aw_n) \
		for (struct app_ent *e = container_of(_aw_n, struct app_ent, node); e; e = NULL)

/* ---- skeleton.c ---- */

/* Both tables replaced: table, sets, static chains, @kinds, node sets. */
int skeleton_build(struct nft_sync *s, struct nbatch *bt, const struct fnode *node);
/* A pick chain, its rules and its @pick-chains element (c is recorded). */
int pick_chain_emit(struct nft_sync *s, struct nbatch *bt, struct chain_ent *c,
		    const struct rpick *p);
/* Deletes an unused pick chain and its @pick-chains element. */
int pick_chain_delete(struct nft_sync *s, struct nbatch *bt, struct chain_ent *c);

/* ---- elems.c ---- */

/* An empty struct nftnl_set naming set `set` of family `fam`, or NULL. */
struct nftnl_set *elem_set(int fam, int set);
/* Adds an element with this key (and element flags) to st; 0 or -ENOMEM. */
int elem_add_key(struct nftnl_set *st, const void *key, uint32_t len, uint32_t flags);

int elems_emit(struct nft_sync *s, struct nbatch *bt, const struct relem *v, size_t n,
	       const char *svc, bool del);

/* Encoded elements of one set waiting for their message (elems.c). */
struct elist;
struct coalesce {
	struct elist *l[RFAM_N][RS_COUNT];
};
int elems_coalesce(struct nft_sync *s, struct nbatch *bt, struct coalesce *c,
		   const struct relem *v, size_t n, const char *svc);
int coalesce_flush_all(struct nbatch *bt, struct coalesce *c);
/* A one-element verdict map entry: add element ip ferry MAP { ID : goto CHAIN }
 * (chain NULL: drop), or its delete. */
int vmap_elem(struct nbatch *bt, int fam, int set, uint32_t id, const char *chain, bool del);

#endif
