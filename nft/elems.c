/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Per-Service set and map elements into the batch: filling an element from
 * render.c's struct relem, one message per run of one Service's elements
 * (incremental syncs, and rebuilds that look for a culprit), or many
 * Services' elements coalesced per set (cold syncs). Every element message
 * stays under 64 KiB.
 */
#include "nft/internal.h"

#include <errno.h>
#include <libnftnl/common.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <stdio.h>
#include <string.h>

struct nftnl_set *elem_set(int fam, int set)
{
	struct nftnl_set *st = nftnl_set_alloc();

	if (!st)
		return NULL;
	if (nftnl_set_set_str(st, NFTNL_SET_TABLE, TABLE) < 0 ||
	    nftnl_set_set_str(st, NFTNL_SET_NAME, rset_name(set)) < 0) {
		nftnl_set_free(st);
		return NULL;
	}
	nftnl_set_set_u32(st, NFTNL_SET_FAMILY, (uint32_t)nfproto_of(fam));
	return st;
}

int elem_add_key(struct nftnl_set *st, const void *key, uint32_t len, uint32_t flags)
{
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();

	if (!e)
		return -ENOMEM;
	if (nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, len) < 0) {
		nftnl_set_elem_free(e);
		return -ENOMEM;
	}
	if (flags)
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, flags);
	nftnl_set_elem_add(st, e);
	return 0;
}

/* add element ip ferry pick-chains { ID : goto NAME } (or delete it) */
int vmap_elem(struct nbatch *bt, int fam, int set, uint32_t id, const char *chain, bool del)
{
	struct nftnl_set *st = elem_set(fam, set);
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	int r = -ENOMEM;

	if (!st || !e || nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &id, 4) < 0)
		goto out;
	if (!del) {
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, chain ? (uint32_t)NFT_GOTO : NF_DROP);
		if (chain && nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, chain) < 0)
			goto out;
	}
	nftnl_set_elem_add(st, e);
	e = NULL;
	r = nbatch_put(bt, del ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM, nfproto_of(fam),
		       del ? 0 : NLM_F_CREATE | NLM_F_EXCL, chain ? chain : "drop", true, NOBJ_ELEMS, st);
out:
	if (e)
		nftnl_set_elem_free(e);
	if (st)
		nftnl_set_free(st);
	return r;
}

static int elem_fill(struct nft_sync *s, struct nftnl_set_elem *e, const struct relem *r,
		     const char *comment, bool del)
{
	int bad = nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, r->key, r->klen);

	if (r->set == RS_FIREWALL_ALLOW)
		err_keep(&bad, nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY_END, r->key_end, r->klen));
	if (del || bad)
		return bad ? -ENOMEM : 0;
	if (r->verdict) {
		/* The chain's number: kinds / pick-chains turn it into a goto. */
		struct chain_ent *c = r->verdict == RV_GOTO ? chain_find(s, r->fam, r->chain) : NULL;
		uint32_t id = c ? chain_id(s, c) : 0;
		bad = nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, &id, 4);
	} else if (r->dlen) {
		bad = nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, r->data, r->dlen);
	}
	/* Every per-Service element says whose it is, so that
	 * `nft list table ip ferry | grep ns/name` shows a Service's whole path:
	 *   add element ip ferry dnat-ips { 198.19.0.10 . tcp . 80 . 0x0
	 *       comment "ns/name:port/proto" : 198.18.1.2 . 8080 }
	 * Shared elements: cluster-ips serves the ports of one Service and
	 * names it without the port; hairpin serves every Service with that
	 * local endpoint and names none (no one name stays true; `ferry
	 * explain` finds them by the endpoint address). Affinity elements are
	 * written by the kernel (`update @affinity`) and carry none. */
	char svcname[NFTNL_UDATA_COMMENT_MAXLEN];
	if (comment && r->set == RS_CLUSTER_IPS) {
		size_t l = strcspn(comment, ":");
		snprintf(svcname, sizeof(svcname), "%.*s", (int)l, comment);
		comment = svcname;
	}
	if (comment && r->set != RS_HAIRPIN && !bad) {
		struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFTNL_UDATA_COMMENT_MAXLEN + 4);
		char c[NFTNL_UDATA_COMMENT_MAXLEN];
		if (!ud)
			return -ENOMEM;
		snprintf(c, sizeof(c), "%s", comment);
		nftnl_udata_put_strz(ud, NFTNL_UDATA_SET_ELEM_COMMENT, c);
		bad = nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(ud),
					 nftnl_udata_buf_len(ud));
		nftnl_udata_buf_free(ud);
	}
	return bad ? -ENOMEM : 0;
}

/* A new element of r into st; 0 or -ENOMEM. */
static int elem_put(struct nft_sync *s, struct nftnl_set *st, const struct relem *r,
		    const char *comment, bool del)
{
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();

	if (!e)
		return -ENOMEM;
	if (elem_fill(s, e, r, comment, del)) {
		nftnl_set_elem_free(e);
		return -ENOMEM;
	}
	nftnl_set_elem_add(st, e);
	return 0;
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
int elems_emit(struct nft_sync *s, struct nbatch *bt, const struct relem *v, size_t n,
	       const char *svc, bool del)
{
	int r = 0;

	for (size_t i = 0; i < n && !r;) {
		size_t j = i;
		uint32_t bytes = 0;
		struct nftnl_set *st = elem_set(v[i].fam, v[i].set);
		if (!st)
			return -ENOMEM;
		for (; j < n && !r && v[j].fam == v[i].fam && v[j].set == v[i].set &&
		       (bytes += elem_bytes(&v[j])) < ELEMS_BYTES; j++)
			r = elem_put(s, st, &v[j], svc, del);
		if (!r)
			r = nbatch_put(bt, del ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM,
				       nfproto_of(v[i].fam), del ? 0 : NLM_F_CREATE | NLM_F_EXCL, svc,
				       false, NOBJ_ELEMS, st);
		nftnl_set_free(st);
		i = j;
	}
	return r;
}

/*
 * Cold syncs put the elements of many Services into one message per set, as
 * nft does: per message the kernel pays more than per element. The price is
 * that an error names a set, not a Service; then the next rebuild runs with
 * one message per Service to find it (see `precise` in sync.c).
 */

static int coalesce_flush(struct nbatch *bt, struct coalesce *c, int fam, int set)
{
	if (!c->st[fam][set])
		return 0;
	int r = nbatch_put(bt, NFT_MSG_NEWSETELEM, nfproto_of(fam), NLM_F_CREATE | NLM_F_EXCL,
			   rset_name(set), false, NOBJ_ELEMS, c->st[fam][set]);
	nftnl_set_free(c->st[fam][set]);
	c->st[fam][set] = NULL;
	c->bytes[fam][set] = 0;
	return r;
}

/* Sends what is left, or (after an error) just frees it; the first error. */
int coalesce_flush_all(struct nbatch *bt, struct coalesce *c)
{
	int r = 0;
	for (int f = 0; f < RFAM_N; f++)
		for (int i = 0; i < RS_COUNT; i++)
			err_keep(&r, coalesce_flush(bt, c, f, i));
	return r;
}

int elems_coalesce(struct nft_sync *s, struct nbatch *bt, struct coalesce *c,
		   const struct relem *v, size_t n, const char *svc)
{
	for (size_t i = 0; i < n; i++) {
		int f = v[i].fam, set = v[i].set;
		if (!c->st[f][set] && !(c->st[f][set] = elem_set(f, set)))
			return -ENOMEM;
		int r = elem_put(s, c->st[f][set], &v[i], svc, false);
		if (r)
			return r;
		c->bytes[f][set] += elem_bytes(&v[i]);
		if (c->bytes[f][set] >= ELEMS_BYTES - 512 && (r = coalesce_flush(bt, c, f, set)))
			return r;
	}
	return 0;
}
