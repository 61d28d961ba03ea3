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
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <stdio.h>
#include <stdlib.h>
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

/*
 * Every per-Service element says whose it is, so that
 * `nft list table ip ferry | grep ns/name` shows a Service's whole path:
 *   add element ip ferry dnat-ips { 198.19.0.10 . tcp . 80 . 0x0
 *       comment "ns/name:port/proto" : 198.18.1.2 . 8080 }
 * Shared elements: cluster-ips serves the ports of one Service and names it
 * without the port; hairpin serves every Service with that local endpoint
 * and names none (no one name stays true; `ferry explain` finds them by the
 * endpoint address). Affinity elements are written by the kernel (`update
 * @affinity`) and carry none. The two userdata blobs are built once per
 * Service, not per element (a cold sync has 13 elements per Service).
 */
struct ecomment {
	struct nftnl_udata_buf *full, *name;
};

static void ecomment_free(struct ecomment *ec)
{
	if (ec->full)
		nftnl_udata_buf_free(ec->full);
	if (ec->name)
		nftnl_udata_buf_free(ec->name);
	ec->full = ec->name = NULL;
}

static struct nftnl_udata_buf *comment_udata(const char *text, size_t len)
{
	char c[NFTNL_UDATA_COMMENT_MAXLEN];
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFTNL_UDATA_COMMENT_MAXLEN + 4);

	if (!ud)
		return NULL;
	if (len >= sizeof(c))
		len = sizeof(c) - 1;	/* nft's limit; the key stays exact */
	memcpy(c, text, len);
	c[len] = '\0';
	if (!nftnl_udata_put_strz(ud, NFTNL_UDATA_SET_ELEM_COMMENT, c)) {
		nftnl_udata_buf_free(ud);
		return NULL;
	}
	return ud;
}

/* No comment at all (deletions, or no Service): 0 with both NULL. */
static int ecomment_init(struct ecomment *ec, const char *svc, bool del)
{
	ec->full = ec->name = NULL;
	if (!svc || del)
		return 0;
	ec->full = comment_udata(svc, strlen(svc));
	ec->name = comment_udata(svc, strcspn(svc, ":"));
	if (!ec->full || !ec->name) {
		ecomment_free(ec);
		return -ENOMEM;
	}
	return 0;
}

/*
 * The elements of one set, encoded as the kernel reads them, waiting for
 * their message. libnftnl would build an object per element and encode it
 * again; writing the attributes once is what keeps the per-element comment
 * from costing a cold sync time. One element:
 *   NFTA_LIST_ELEM { KEY { DATA_VALUE }, [KEY_END { DATA_VALUE }],
 *                    [DATA { DATA_VALUE }], [USERDATA] }
 * The scratch header exists so that libmnl's helpers can append.
 */
struct elist {
	struct nlmsghdr *nlh;
	int fam, set;
	uint32_t cap;		/* bytes of elements before a flush */
	char buf[];
};

/* The element list is one netlink attribute, whose length is 16 bits. The
 * most one element takes: its nest, KEY and KEY_END (nest, value header,
 * key), DATA (nest, value header, 20 bytes), USERDATA (header, the
 * comment's udata, padding), and some slack. */
#define ELIST_BYTES 49152
#define ELEM_MAX_BYTES (4 + 2 * (8 + RKEY_MAX) + 8 + 20 + 4 + NFTNL_UDATA_COMMENT_MAXLEN + 4 + 16)

/* Room for n elements at most (an incremental sync's few stay small). */
static struct elist *elist_new(int fam, int set, size_t n)
{
	uint32_t cap = n < ELIST_BYTES / ELEM_MAX_BYTES ? (uint32_t)n * ELEM_MAX_BYTES : ELIST_BYTES;
	struct elist *l = calloc(1, sizeof(*l) + MNL_NLMSG_HDRLEN + cap + ELEM_MAX_BYTES);

	if (!l)
		return NULL;
	l->cap = cap;
	l->nlh = mnl_nlmsg_put_header(l->buf);
	l->fam = fam;
	l->set = set;
	return l;
}

static uint32_t elist_len(const struct elist *l)
{
	return l->nlh->nlmsg_len - MNL_NLMSG_HDRLEN;
}

static bool elist_full(const struct elist *l)
{
	return elist_len(l) + ELEM_MAX_BYTES > l->cap;
}

/* Sends the list as one message and empties it (padding bytes included:
 * libmnl leaves them as they were). */
static int elist_flush(struct nbatch *bt, struct elist *l, const char *what, bool del)
{
	uint32_t len = elist_len(l);
	int r = 0;

	if (len)
		r = nbatch_put_elems(bt, del ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM,
				     nfproto_of(l->fam), del ? 0 : NLM_F_CREATE | NLM_F_EXCL, what,
				     rset_name(l->set), mnl_nlmsg_get_payload(l->nlh), len);
	memset(mnl_nlmsg_get_payload(l->nlh), 0, len);
	l->nlh->nlmsg_len = MNL_NLMSG_HDRLEN;
	return r;
}

static void data_value(struct nlmsghdr *nlh, uint16_t type, const void *v, uint32_t len)
{
	struct nlattr *n = mnl_attr_nest_start(nlh, type);
	mnl_attr_put(nlh, NFTA_DATA_VALUE, len, v);
	mnl_attr_nest_end(nlh, n);
}

static void elem_encode(struct nft_sync *s, struct elist *l, const struct relem *r,
			const struct ecomment *ec, bool del)
{
	struct nlmsghdr *nlh = l->nlh;
	struct nlattr *el = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);

	data_value(nlh, NFTA_SET_ELEM_KEY, r->key, r->klen);
	if (r->set == RS_FIREWALL_ALLOW)
		data_value(nlh, NFTA_SET_ELEM_KEY_END, r->key_end, r->klen);
	if (!del) {
		if (r->verdict) {
			/* The chain's number: kinds / pick-chains turn it into a goto. */
			struct chain_ent *c = r->verdict == RV_GOTO ? chain_find(s, r->fam, r->chain)
								    : NULL;
			uint32_t id = c ? chain_id(s, c) : 0;
			data_value(nlh, NFTA_SET_ELEM_DATA, &id, 4);
		} else if (r->dlen) {
			data_value(nlh, NFTA_SET_ELEM_DATA, r->data, r->dlen);
		}
		const struct nftnl_udata_buf *ud = r->set == RS_HAIRPIN ? NULL
						 : r->set == RS_CLUSTER_IPS ? ec->name : ec->full;
		if (ud)
			mnl_attr_put(nlh, NFTA_SET_ELEM_USERDATA, nftnl_udata_buf_len(ud),
				     nftnl_udata_buf_data(ud));
	}
	mnl_attr_nest_end(nlh, el);
}

/*
 * One message per run of elements of the same set (one Service's):
 *   add element ip ferry dnat-ips { 198.19.0.1 . tcp . 80 . 0x0 : 198.18.0.2 . 8080 }
 *   delete element ip ferry dnat-ips { 198.19.0.1 . tcp . 80 . 0x0 }
 */
int elems_emit(struct nft_sync *s, struct nbatch *bt, const struct relem *v, size_t n,
	       const char *svc, bool del)
{
	struct ecomment ec;
	struct elist *l = NULL;
	int r = ecomment_init(&ec, svc, del);

	for (size_t i = 0; i < n && !r; i++) {
		if (!l && !(l = elist_new(v[i].fam, v[i].set, n))) {
			r = -ENOMEM;
			break;
		}
		if (l->fam != v[i].fam || l->set != v[i].set || elist_full(l)) {
			r = elist_flush(bt, l, svc, del);
			l->fam = v[i].fam;
			l->set = v[i].set;
		}
		if (!r)
			elem_encode(s, l, &v[i], &ec, del);
	}
	if (l && !r)
		r = elist_flush(bt, l, svc, del);
	free(l);
	ecomment_free(&ec);
	return r;
}

/*
 * Cold syncs put the elements of many Services into one message per set, as
 * nft does: per message the kernel pays more than per element. The price is
 * that an error names a set, not a Service; then the next rebuild runs with
 * one message per Service to find it (see `precise` in sync.c).
 */

/* Sends what is left, or (after an error) just frees it; the first error. */
int coalesce_flush_all(struct nbatch *bt, struct coalesce *c)
{
	int r = 0;
	for (int f = 0; f < RFAM_N; f++)
		for (int i = 0; i < RS_COUNT; i++) {
			struct elist *l = c->l[f][i];
			if (l && !r)
				r = elist_flush(bt, l, rset_name(i), false);
			free(l);
			c->l[f][i] = NULL;
		}
	return r;
}

int elems_coalesce(struct nft_sync *s, struct nbatch *bt, struct coalesce *c,
		   const struct relem *v, size_t n, const char *svc)
{
	struct ecomment ec;
	int r = ecomment_init(&ec, svc, false);

	for (size_t i = 0; i < n && !r; i++) {
		int f = v[i].fam, set = v[i].set;
		struct elist *l = c->l[f][set];
		if (!l && !(l = c->l[f][set] = elist_new(f, set, SIZE_MAX))) {
			r = -ENOMEM;
			break;
		}
		if (elist_full(l))
			r = elist_flush(bt, l, rset_name(set), false);
		if (!r)
			elem_encode(s, l, &v[i], &ec, false);
	}
	ecomment_free(&ec);
	return r;
}
