/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One sync: read the ruleset generation, decide between a full rebuild and
 * an incremental change, build the batch (skeleton.c, elems.c), send it
 * (batch.c), and on success record what the kernel now has (installed.c).
 * The shape of the tables is described at the top of skeleton.c.
 */
#include "nft/internal.h"
#include "core/log.h"
#include "core/loop.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/table.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>

struct nft_sync *nft_sync_new(void)
{
	struct nft_sync *s = calloc(1, sizeof(*s));
	int one = 1;

	if (!s)
		return NULL;
	s->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!s->nl || mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int err = errno;
		log_err("nft", "cannot open netlink", "err=%s", log_q(strerror(err)));
		if (s->nl)
			mnl_socket_close(s->nl);
		free(s);
		return NULL;
	}
	/* Errors carry only the header of the refused message, not a copy,
	 * and the kernel's own explanation when it has one. */
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
	htab_free(&s->app);
	fnode_free(&s->node);
	vec_free(&s->chains);
	hairpin_clear(s);
	vec_free(&s->quar);
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

static int build_full(struct nft_sync *s, struct nbatch *bt, const struct fnode *node,
		      const struct fsvc *const *list, size_t n)
{
	struct relem_vec vec = { 0 };
	struct coalesce co = { 0 };
	int r = skeleton_build(s, bt, node);

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
	err_keep(&r, coalesce_flush_all(bt, &co));
	relem_vec_free(&vec);
	return r;
}

/* The difference of one Service: `old` and `new` may be NULL. */
struct svc_diff { const char *key; struct relem_vec del, add; };

static int relem_push(struct relem_vec *to, const struct relem *e)
{
	if (vec_grow((void **)&to->v, &to->cap, to->n + 1, sizeof(*to->v)))
		return -ENOMEM;
	to->v[to->n++] = *e;
	return 0;
}

static int diff_svc(const struct fsvc *old, const struct fsvc *nw, struct svc_diff *d)
{
	struct relem_vec a = { 0 }, b = { 0 };
	int r = 0;

	if ((old && render_both(old, &a)) || (nw && render_both(nw, &b)))
		r = -ENOMEM;
	size_t i = 0, j = 0;
	while (!r && (i < a.n || j < b.n)) {
		int c = i == a.n ? 1 : j == b.n ? -1 : relem_cmp(&a.v[i], &b.v[j]);
		if (c < 0) {
			r = relem_push(&d->del, &a.v[i++]);
		} else if (c > 0) {
			r = relem_push(&d->add, &b.v[j++]);
		} else {
			if (!relem_equal(&a.v[i], &b.v[j])) {	/* a new value: replace */
				r = relem_push(&d->del, &a.v[i]);
				if (!r)
					r = relem_push(&d->add, &b.v[j]);
			}
			i++;
			j++;
		}
	}
	relem_vec_free(&a);
	relem_vec_free(&b);
	return r;
}

/* A Service that changed between what the kernel has and what is wanted:
 * `old` is what we installed (NULL: new), `nw` what is wanted (NULL: gone). */
struct pair { const struct fsvc *old, *nw; };
typedef VEC(struct pair) pairs_t;

static int build_incremental(struct nft_sync *s, struct nbatch *bt, const pairs_t *ps,
			     struct svc_diff **out, size_t *n_out)
{
	struct svc_diff *ds = calloc(ps->n + 1, sizeof(*ds));
	size_t n = ps->n;
	int r = 0;

	if (!ds)
		return -ENOMEM;
	*out = ds;
	*n_out = n;
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
	for (size_t k = 0; k < s->chains.n && !r; k++) {
		struct chain_ent *c = &s->chains.v[k];
		if (!c->is_static && c->exists && !c->refs)
			r = pick_chain_delete(s, bt, c);
	}
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

/* After a successful incremental sync: the kernel now has the `nw` side. */
static int app_apply(struct nft_sync *s, const pairs_t *ps)
{
	int r = 0;
	for (size_t i = 0; i < ps->n; i++) {
		if (ps->v[i].nw)
			err_keep(&r, app_put(s, ps->v[i].nw));
		else
			app_del(s, ps->v[i].old->key);
	}
	return r;
}

/* ---- one sync ---- */

/* The ruleset is at generation `gen`: if it moved since our last commit,
 * are our tables still ours? Not: the next apply rebuilds. True when a
 * rebuild is due. */
static bool foreign_change(struct nft_sync *s, uint32_t gen)
{
	if (s->need_full || gen == s->genid)
		return s->need_full;
	if (tables_intact(s)) {
		s->genid = gen;		/* someone else's table moved it */
		return false;
	}
	log_warn("nft", "ferry tables changed by someone else, rebuilding", "gen=%u want=%u", gen, s->genid);
	s->need_full = true;
	return true;
}

static int sync_begin(struct nft_sync *s, const struct fnode *node, uint32_t *gen)
{
	memset(&s->stats, 0, sizeof(s->stats));
	int r = nl_get_genid(s->nl, &s->seq, gen);
	if (r < 0) {
		log_err("nft", "cannot read the ruleset generation", "err=%s", log_q(strerror(-r)));
		return r;
	}
	foreign_change(s, *gen);
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
		    const struct fsvc *const *list, size_t n_list, const pairs_t *ps, bool full)
{
	struct nbatch bt;
	struct svc_diff *ds = NULL;
	size_t n_ds = 0;
	const char *bad = NULL;
	int r;

	if ((r = nbatch_init(&bt, ++s->seq, gen, true)))
		return r;
	r = full ? build_full(s, &bt, node, list, n_list) : build_incremental(s, &bt, ps, &ds, &n_ds);
	s->stats.full = full;
	s->stats.messages = nbatch_count(&bt) + 1;
	if (!r && !full && s->stats.messages == 2) {
		/* nothing to say: skip the round trip */
		s->seq = bt.seq;
		nbatch_free(&bt);
		diffs_free(ds, n_ds);
		return 0;
	}
	uint64_t t1 = loop_now_us();
	if (!r)
		r = nbatch_send(s->nl, &bt, "nft", &bad);
	s->stats.kernel_ms = (double)(loop_now_us() - t1) / 1000.0;
	s->seq = bt.seq;
	nbatch_free(&bt);
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
	log_err("nft", "sync failed, previous ruleset kept", "err=%s full=%d",
		log_q(strerror(r < 0 ? -r : r)), full);
	return r < 0 ? r : -r;
}

/*
 * What nft_sync_apply and nft_sync_update end with: after an incremental
 * sync, record the changed Services; then the node settings; free; on any
 * failure the next sync rebuilds.
 */
static int sync_finish(struct nft_sync *s, int r, bool full, const struct fnode *node,
		       const struct fsvc **list, pairs_t *ps, uint64_t t0, size_t services)
{
	if (!r && !full)
		r = app_apply(s, ps);
	if (!r) {
		fnode_free(&s->node);
		r = fnode_copy(&s->node, node);
	}
	free(list);
	vec_free(ps);
	if (r) {
		s->need_full = true;
		return r;
	}
	s->stats.ms = (double)(loop_now_us() - t0) / 1000.0;
	s->stats.quarantined = (uint32_t)s->quar.n;
	/* a rebuild writes every element; a change sync the difference */
	if (s->stats.full)
		s->elements = s->stats.elements_added;
	else
		s->elements += (int64_t)s->stats.elements_added - (int64_t)s->stats.elements_deleted;
	s->stats.objects = s->elements;
	for (size_t i = 0; i < s->chains.n; i++)
		if (s->chains.v[i].exists)
			s->stats.objects += s->chains.v[i].rules;
	log_v(1, "nft", "sync done", "full=%d services=%zu messages=%u added=%u deleted=%u ms=%.2f",
	      s->stats.full, services, s->stats.messages, s->stats.elements_added,
	      s->stats.elements_deleted, s->stats.ms);
	return 0;
}

/* o -> w is a change worth sending (either may be NULL). */
static int pair_if_changed(pairs_t *ps, const struct fsvc *o, const struct fsvc *w)
{
	if (!o && !w)
		return 0;
	if (o && w && fsvc_same(o, w))
		return 0;
	return vec_push(ps, ((struct pair){ o, w }));
}

int nft_sync_verify(struct nft_sync *s)
{
	uint32_t gen;
	int r;

	if (s->need_full)
		return 1;
	if ((r = nl_get_genid(s->nl, &s->seq, &gen)) < 0)
		return r;
	return foreign_change(s, gen);
}

int nft_sync_apply(struct nft_sync *s, const struct fstate *st)
{
	uint64_t t0 = loop_now_us();
	uint32_t gen = 0;
	pairs_t ps = { 0 };
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
			r = pair_if_changed(&ps, o, quarantined(s, w) ? NULL : w);
		}
		APP_WALK(s, e)
			if (!r && e->seen != mark)
				r = vec_push(&ps, ((struct pair){ &e->v, NULL }));
	}
	if (!r)
		r = sync_run(s, gen, &st->node, list, st->n_svcs, &ps, full);
	if (!r && full) {
		app_clear(s);
		for (size_t i = 0; i < st->n_svcs && !r; i++)
			if (!quarantined(s, &st->svcs[i]))
				r = app_put(s, &st->svcs[i]);
	}
	return sync_finish(s, r, full, &st->node, list, &ps, t0, st->n_svcs);
}

int nft_sync_update(struct nft_sync *s, const struct fnode *node,
		    const struct fsvc *upsert, size_t n_upsert,
		    const char *const *remove, size_t n_remove)
{
	uint64_t t0 = loop_now_us();
	uint32_t gen = 0;
	pairs_t ps = { 0 };
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
		list = calloc(s->app.count + 1, sizeof(*list));
		size_t n = 0;
		if (list)
			APP_WALK(s, e)
				list[n++] = &e->v;
		if (!r && !list)
			r = -ENOMEM;
		if (!r)
			r = sync_run(s, gen, node, list, n, NULL, true);
	} else {
		for (size_t i = 0; i < n_remove && !r; i++)
			r = pair_if_changed(&ps, app_find(s, remove[i], 0), NULL);
		for (size_t i = 0; i < n_upsert && !r; i++) {
			const struct fsvc *w = &upsert[i];
			r = pair_if_changed(&ps, app_find(s, w->key, 0), quarantined(s, w) ? NULL : w);
		}
		if (!r)
			r = sync_run(s, gen, node, NULL, 0, &ps, false);
	}
	return sync_finish(s, r, full, node, list, &ps, t0, s->app.count);
}

/* add table ip ferry; delete table ip ferry (no error when absent) */
static int cleanup_build(struct nbatch *bt)
{
	int r = 0;

	for (int fam = 0; fam < RFAM_N && !r; fam++) {
		struct nftnl_table *t = nftnl_table_alloc();
		if (!t || nftnl_table_set_str(t, NFTNL_TABLE_NAME, TABLE) < 0) {
			r = -ENOMEM;
		} else {
			nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, (uint32_t)nfproto_of(fam));
			r = nbatch_put(bt, NFT_MSG_NEWTABLE, nfproto_of(fam), NLM_F_CREATE, "table", false,
				       NOBJ_TABLE, t);
			if (!r)
				r = nbatch_put(bt, NFT_MSG_DELTABLE, nfproto_of(fam), 0, "table", false,
					       NOBJ_TABLE, t);
		}
		if (t)
			nftnl_table_free(t);
	}
	return r;
}

int nft_cleanup(void)
{
	struct nft_sync *s = nft_sync_new();
	struct nbatch bt;
	int r;

	if (!s)
		return -ENOTCONN;
	r = nbatch_init(&bt, ++s->seq, 0, false);
	if (!r) {
		r = cleanup_build(&bt);
		if (!r)
			r = nbatch_send(s->nl, &bt, "nft", NULL);
		nbatch_free(&bt);
	}
	nft_sync_free(s);
	return r;
}
