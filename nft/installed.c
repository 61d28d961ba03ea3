/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the kernel has, as far as ferry knows: the Services last installed
 * (by key), the chains and how many rules and references each has, the
 * reference counts of shared hairpin elements, and the Services left out
 * after the kernel refused them. Also the check that nobody else changed
 * the tables behind our back.
 */
#include "nft/internal.h"
#include "core/log.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- quarantine: Services the kernel refused, until they change ---- */

static uint64_t svc_content(const struct fsvc *v)
{
	uint64_t h = hash_str(v->key, HASH_SEED);
	h = hash_bytes(&v->proto, 1, h);
	h = hash_bytes(&v->port, 2, h);
	h = hash_bytes(&v->node_port, 2, h);
	h = hash_bytes(&v->external_policy, sizeof(v->external_policy), h);
	h = hash_bytes(&v->internal_policy, sizeof(v->internal_policy), h);
	h = hash_bytes(&v->affinity_timeout, 4, h);
	h = hash_bytes(v->cluster_ips, v->n_cluster_ips * sizeof(struct faddr), h);
	h = hash_bytes(v->external_ips, v->n_external_ips * sizeof(struct faddr), h);
	h = hash_bytes(v->lb_ips, v->n_lb_ips * sizeof(struct faddr), h);
	h = hash_bytes(v->source_ranges, v->n_source_ranges * sizeof(struct faddr), h);
	for (size_t i = 0; i < v->n_eps; i++) {
		const struct fendpoint *e = &v->eps[i];
		uint8_t f[5] = { e->ready, e->serving, e->terminating, e->local, e->hinted_away };
		h = hash_bytes(&e->addr, sizeof(e->addr), h);
		h = hash_bytes(&e->port, 2, h);
		h = hash_bytes(f, sizeof(f), h);
	}
	return h;
}

bool quarantined(const struct nft_sync *s, const struct fsvc *v)
{
	for (size_t i = 0; i < s->quar.n; i++)
		if (!strcmp(s->quar.v[i].key, v->key))
			return s->quar.v[i].content == svc_content(v);
	return false;
}

void quarantine_add(struct nft_sync *s, const struct fsvc *v)
{
	struct quarantine q = { .content = svc_content(v) };
	size_t i = 0;

	while (i < s->quar.n && strcmp(s->quar.v[i].key, v->key))
		i++;
	if (i < s->quar.n) {
		s->quar.v[i].content = q.content;	/* refused again, new content */
	} else {
		snprintf(q.key, sizeof(q.key), "%s", v->key);
		if (vec_push(&s->quar, q))
			return;		/* it will be refused again, and named again */
	}
	log_err("nft", "service left out until it changes", "service=%s", log_q(v->key));
}

/* ---- hairpin elements ---- */

/* Hairpin elements are shared by every Service with the same local
 * endpoint address, cluster-ips elements by the ports of a Service: count
 * them (by set and first address), install on 0->1, delete on 1->0. */
struct hp_ent {
	struct hnode node;
	uint8_t fam, set, a[16];
	uint32_t count;
};

static uint32_t *hp_slot(struct nft_sync *s, int fam, int set, const uint8_t *a, bool create)
{
	uint8_t k[16] = { 0 };
	memcpy(k, a, (size_t)rfam_alen(fam));
	uint64_t h = hash_bytes(k, 16, (uint64_t)(fam * RS_COUNT + set));

	for (struct hnode *n = htab_first(&s->hairpin, h); n; n = htab_next(n, h)) {
		struct hp_ent *e = container_of(n, struct hp_ent, node);
		if (e->fam == fam && e->set == set && !memcmp(e->a, k, 16))
			return &e->count;
	}
	if (!create)
		return NULL;
	struct hp_ent *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->fam = (uint8_t)fam;
	e->set = (uint8_t)set;
	memcpy(e->a, k, 16);
	if (htab_add(&s->hairpin, &e->node, h)) {
		free(e);
		return NULL;
	}
	return &e->count;
}

void hairpin_clear(struct nft_sync *s)
{
	HTAB_WALK(&s->hairpin, n) {
		htab_del(&s->hairpin, n);
		free(container_of(n, struct hp_ent, node));
	}
	htab_free(&s->hairpin);
}

/* ---- chains ---- */

struct chain_ent *chain_find(struct nft_sync *s, int fam, const char *name)
{
	for (size_t i = 0; i < s->chains.n; i++)
		if (s->chains.v[i].fam == fam && !strcmp(s->chains.v[i].name, name))
			return &s->chains.v[i];
	return NULL;
}

/* Only appends, so a chain's number never changes. Pointers into the
 * array are valid until the next chain_add. */
struct chain_ent *chain_add(struct nft_sync *s, int fam, const char *name)
{
	struct chain_ent *c = chain_find(s, fam, name), n = { .fam = (uint8_t)fam };

	if (c)
		return c;
	snprintf(n.name, sizeof(n.name), "%s", name);
	if (vec_push(&s->chains, n))
		return NULL;
	return &s->chains.v[s->chains.n - 1];
}

/* An element jumps to `name`: a pick chain is created the first time. */
static int chain_ref(struct nft_sync *s, struct nbatch *bt, int fam, const char *name)
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
	if (!c)
		return -ENOMEM;
	return pick_chain_emit(s, bt, c, &p);
}

static void chain_unref(struct nft_sync *s, int fam, const char *name)
{
	struct chain_ent *c = chain_find(s, fam, name);
	if (c && !c->is_static && c->refs)
		c->refs--;
}

/* Filters a Service's element list through the shared-element counts and
 * the chain references; compacts `vec` to what must reach the kernel. */
int account(struct nft_sync *s, struct nbatch *bt, struct relem_vec *vec, bool del)
{
	size_t o = 0;
	for (size_t i = 0; i < vec->n; i++) {
		struct relem *e = &vec->v[i];
		if (e->set == RS_HAIRPIN || e->set == RS_CLUSTER_IPS) {
			uint32_t *cnt = hp_slot(s, e->fam, e->set, e->key, !del);
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

/* ---- nobody else touched our tables? ---- */

struct rule_count { struct nft_sync *s; int fam; uint32_t *counts; bool unknown; };

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rule_count *rc = data;
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (!r)
		return MNL_CB_ERROR;	/* errno is ENOMEM */
	if (nftnl_rule_nlmsg_parse(nlh, r) == 0) {
		const char *ch = nftnl_rule_get_str(r, NFTNL_RULE_CHAIN);
		struct chain_ent *c = ch ? chain_find(rc->s, rc->fam, ch) : NULL;
		if (c)
			rc->counts[c - rc->s->chains.v]++;
		else
			rc->unknown = true;
	}
	nftnl_rule_free(r);
	return MNL_CB_OK;
}

/* After someone else changed the ruleset: are our tables still as we left
 * them? Counting rules per chain catches a flushed or deleted table or
 * chain and any added or removed rule, without dumping the big maps.
 * Anything unsure (no memory) says no: the caller rebuilds. */
bool tables_intact(struct nft_sync *s)
{
	uint32_t *counts = calloc(s->chains.n + 1, sizeof(*counts));
	bool ok = counts != NULL;

	for (int fam = 0; fam < RFAM_N && ok; fam++) {
		/* zeroed: libmnl (1.0.4) leaves attribute padding unwritten */
		char buf[1024] = { 0 };
		struct nftnl_rule *r = nftnl_rule_alloc();
		if (!r || nftnl_rule_set_str(r, NFTNL_RULE_TABLE, TABLE) < 0) {
			if (r)	/* libnftnl's free functions do not take NULL */
				nftnl_rule_free(r);
			ok = false;
			break;
		}
		struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE,
							      (uint16_t)nfproto_of(fam), NLM_F_DUMP, ++s->seq);
		nftnl_rule_nlmsg_build_payload(nlh, r);
		nftnl_rule_free(r);
		struct rule_count rc = { s, fam, counts, false };
		if (nl_talk(s->nl, nlh, rule_cb, &rc) < 0 || rc.unknown)
			ok = false;
	}
	for (size_t i = 0; ok && i < s->chains.n; i++)
		if (s->chains.v[i].exists && counts[i] != s->chains.v[i].rules)
			ok = false;
	free(counts);
	return ok;
}

/* ---- the Services the kernel has, by key ---- */

static struct app_ent *app_lookup(struct nft_sync *s, const char *key, uint64_t h)
{
	for (struct hnode *n = htab_first(&s->app, h); n; n = htab_next(n, h)) {
		struct app_ent *e = container_of(n, struct app_ent, node);
		if (!strcmp(e->v.key, key))
			return e;
	}
	return NULL;
}

const struct fsvc *app_find(struct nft_sync *s, const char *key, uint32_t seen)
{
	struct app_ent *e = app_lookup(s, key, hash_str(key, HASH_SEED));

	if (!e)
		return NULL;
	if (seen)
		e->seen = seen;
	return &e->v;
}

void app_del(struct nft_sync *s, const char *key)
{
	struct app_ent *e = app_lookup(s, key, hash_str(key, HASH_SEED));

	if (!e)
		return;
	htab_del(&s->app, &e->node);
	fsvc_free(&e->v);
	free(e);
}

int app_put(struct nft_sync *s, const struct fsvc *v)
{
	uint64_t h = hash_str(v->key, HASH_SEED);
	struct app_ent *e = app_lookup(s, v->key, h);
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
	e->v = cp;
	if (htab_add(&s->app, &e->node, h)) {
		fsvc_free(&e->v);
		free(e);
		return -ENOMEM;
	}
	return 0;
}

void app_clear(struct nft_sync *s)
{
	HTAB_WALK(&s->app, n) {
		struct app_ent *e = container_of(n, struct app_ent, node);
		htab_del(&s->app, n);
		fsvc_free(&e->v);
		free(e);
	}
}
