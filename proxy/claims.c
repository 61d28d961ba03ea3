/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "proxy/claims.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/vec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* the order is the rank of a claim of one Service: a ClusterIP first */
enum { F_CLUSTER, F_EXTERNAL, F_LB, F_COUNT };
static const char *const field_names[F_COUNT] = {
	"clusterIPs", "externalIPs", "status.loadBalancer.ingress",
};

/* what the kernel keys one element by; no padding, hashed as bytes */
struct ckey {
	uint8_t family, proto;
	uint16_t port;
	uint8_t a[16];
};

struct csvc;

struct claimant {
	struct csvc *svc;
	uint8_t field;
	bool reported;		/* its loss was logged (and sent as an Event) */
};

struct centry {
	struct hnode node;
	struct ckey k;
	VEC(struct claimant) who;	/* best first: who.v[0] wins */
	uint64_t gen;			/* the update that touched it last */
	char *was;			/* during an update: the winner before it */
};

struct cclaim {
	struct ckey k;
	uint8_t field;
};
typedef VEC(struct cclaim) claim_vec;

struct csvc {
	struct hnode node;
	char *name;			/* "namespace/name" */
	int64_t created;		/* unix seconds; INT64_MAX: unknown */
	claim_vec claims;		/* sorted by key, each key once */
};

struct claims {
	struct htab keys, svcs;
	size_t conflicts;
	uint64_t gen;
};

struct claims *claims_new(void)
{
	return calloc(1, sizeof(struct claims));
}

static void reset(struct claims *c)
{
	HTAB_WALK(&c->keys, n) {
		struct centry *e = container_of(n, struct centry, node);

		htab_del(&c->keys, n);
		vec_free(&e->who);
		free(e->was);
		free(e);
	}
	HTAB_WALK(&c->svcs, n) {
		struct csvc *s = container_of(n, struct csvc, node);

		htab_del(&c->svcs, n);
		vec_free(&s->claims);
		free(s->name);
		free(s);
	}
	c->conflicts = 0;
}

void claims_free(struct claims *c)
{
	if (!c)
		return;
	reset(c);
	htab_free(&c->keys);
	htab_free(&c->svcs);
	free(c);
}

size_t claims_conflicts(const struct claims *c)
{
	return c->conflicts;
}

void claim_set_free(struct claim_set *s)
{
	for (size_t i = 0; i < s->n_own; i++)
		free(s->own[i]);
	free(s->own);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* ---- lookups ---- */

static uint64_t key_hash(const struct ckey *k)
{
	return hash_bytes(k, sizeof(*k), HASH_SEED);
}

static void make_key(struct ckey *k, const struct faddr *a, uint8_t proto, uint16_t port)
{
	memset(k, 0, sizeof(*k));
	k->family = a->family;
	k->proto = proto;
	k->port = port;
	memcpy(k->a, a->a, a->family == AF_INET ? 4 : 16);
}

static struct centry *entry_find(const struct claims *c, const struct ckey *k)
{
	uint64_t h = key_hash(k);

	for (struct hnode *n = htab_first(&c->keys, h); n; n = htab_next(n, h)) {
		struct centry *e = container_of(n, struct centry, node);
		if (!memcmp(&e->k, k, sizeof(*k)))
			return e;
	}
	return NULL;
}

static struct centry *entry_get(struct claims *c, const struct ckey *k)
{
	struct centry *e = entry_find(c, k);

	if (e)
		return e;
	if (!(e = calloc(1, sizeof(*e))))
		return NULL;
	e->k = *k;
	if (htab_add(&c->keys, &e->node, key_hash(k)) < 0) {
		free(e);
		return NULL;
	}
	return e;
}

static struct csvc *svc_find(const struct claims *c, const char *name, size_t len)
{
	uint64_t h = hash_bytes(name, len, HASH_SEED);

	for (struct hnode *n = htab_first(&c->svcs, h); n; n = htab_next(n, h)) {
		struct csvc *s = container_of(n, struct csvc, node);
		if (!strncmp(s->name, name, len) && !s->name[len])
			return s;
	}
	return NULL;
}

/* the rule of the header: ClusterIP, then oldest, then name */
static int rank_cmp(const struct claimant *a, const struct claimant *b)
{
	bool ca = a->field == F_CLUSTER, cb = b->field == F_CLUSTER;

	if (ca != cb)
		return ca ? -1 : 1;
	if (a->svc->created != b->svc->created)
		return a->svc->created < b->svc->created ? -1 : 1;
	return strcmp(a->svc->name, b->svc->name);
}

static int entry_insert(struct centry *e, struct csvc *s, uint8_t field)
{
	struct claimant x = { .svc = s, .field = field };
	size_t at = 0;

	/* exact sizes: almost every key has one claimant, and there is one
	 * key per ClusterIP and port of every Service */
	if (e->who.n == e->who.cap) {
		struct claimant *nv = realloc(e->who.v, (e->who.n + 1) * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		e->who.v = nv;
		e->who.cap = e->who.n + 1;
	}
	while (at < e->who.n && rank_cmp(&e->who.v[at], &x) < 0)
		at++;
	memmove(&e->who.v[at + 1], &e->who.v[at], (e->who.n - at) * sizeof(x));
	e->who.v[at] = x;
	e->who.n++;
	return 0;
}

static void entry_remove(struct centry *e, const struct csvc *s)
{
	for (size_t i = 0; i < e->who.n; i++)
		if (e->who.v[i].svc == s) {
			memmove(&e->who.v[i], &e->who.v[i + 1], (e->who.n - i - 1) * sizeof(e->who.v[0]));
			e->who.n--;
			return;
		}
}

static struct claimant *claimant_of(struct centry *e, const struct csvc *s)
{
	for (size_t i = 0; i < e->who.n; i++)
		if (e->who.v[i].svc == s)
			return &e->who.v[i];
	return NULL;
}

/* ---- updating ---- */

typedef VEC(struct centry *) entry_vec;
typedef VEC(char *) name_vec;

static int claim_cmp(const void *a, const void *b)
{
	const struct cclaim *x = a, *y = b;
	int r = memcmp(&x->k, &y->k, sizeof(x->k));

	return r ? r : (int)x->field - (int)y->field;
}

/* What the ports of Service `name` in `out` claim, sorted, each key once
 * with its best field. */
static int claims_of(const struct fstate *out, const char *name, claim_vec *cv)
{
	size_t lo, hi, w = 0;

	fstate_service_range(out, name, &lo, &hi);
	for (size_t i = lo; i < hi; i++) {
		const struct fsvc *v = &out->svcs[i];
		const struct faddr *lists[F_COUNT] = { v->cluster_ips, v->external_ips, v->lb_ips };
		size_t ns[F_COUNT] = { v->n_cluster_ips, v->n_external_ips, v->n_lb_ips };

		for (int f = 0; f < F_COUNT; f++)
			for (size_t j = 0; j < ns[f]; j++) {
				struct cclaim x = { .field = (uint8_t)f };

				make_key(&x.k, &lists[f][j], v->proto, v->port);
				if (vec_push(cv, x))
					return -ENOMEM;
			}
	}
	vec_sort(cv->v, cv->n, sizeof(*cv->v), claim_cmp);
	for (size_t r = 0; r < cv->n; r++)
		if (!w || memcmp(&cv->v[w - 1].k, &cv->v[r].k, sizeof(cv->v[r].k)))
			cv->v[w++] = cv->v[r];
	cv->n = w;
	return 0;
}

static int64_t created_of(const struct proxy_input *in, const char *name)
{
	char ns[256];
	const struct kube_object *o;

	if (!in->get || !proxy_split_key(name, ns, sizeof(ns)))
		return INT64_MAX;
	o = in->get(in->services, ns, name + strlen(ns) + 1);
	return o && o->created > 0 ? o->created : INT64_MAX;
}

static const char *winner(const struct centry *e)
{
	return e->who.n ? e->who.v[0].svc->name : NULL;
}

/* First touch of an entry in this update: remember its winner. */
static int touch(struct claims *c, struct centry *e, entry_vec *touched)
{
	if (e->gen == c->gen)
		return 0;
	if (vec_push(touched, e))
		return -ENOMEM;
	e->gen = c->gen;
	c->conflicts -= e->who.n ? e->who.n - 1 : 0;
	e->was = NULL;
	if (e->who.n && !(e->was = strdup(winner(e))))
		return -ENOMEM;
	return 0;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool listed(const char *const *names, size_t n, const char *name)
{
	return n && bsearch(&name, names, n, sizeof(*names), str_cmp);
}

/* A name for `others` unless the sync builds it already. */
static int add_other(name_vec *others, const char *const *names, size_t n, const char *name)
{
	char *copy;

	if (!name || listed(names, n, name))
		return 0;
	for (size_t i = 0; i < others->n; i++)
		if (!strcmp(others->v[i], name))
			return 0;
	if (!(copy = strdup(name)) || vec_push(others, copy)) {
		free(copy);
		return -ENOMEM;
	}
	return 0;
}

static bool same_claims(const claim_vec *x, const claim_vec *b)
{
	if (x->n != b->n)
		return false;
	for (size_t i = 0; i < x->n; i++)
		if (x->v[i].field != b->v[i].field || memcmp(&x->v[i].k, &b->v[i].k, sizeof(b->v[i].k)))
			return false;
	return true;
}

static int update_one(struct claims *c, const char *name, const struct fstate *out,
		      const struct proxy_input *in, entry_vec *touched)
{
	claim_vec cv = { 0 };
	struct csvc *s = svc_find(c, name, strlen(name));
	int64_t created = created_of(in, name);

	if (claims_of(out, name, &cv))
		goto oom;
	if (s ? s->created == created && same_claims(&s->claims, &cv) : !cv.n) {
		vec_free(&cv);
		return 0;	/* nothing moved: flags (reported) stay */
	}
	if (s)
		for (size_t i = 0; i < s->claims.n; i++) {
			struct centry *e = entry_find(c, &s->claims.v[i].k);
			if (e && touch(c, e, touched))
				goto oom;
		}
	for (size_t i = 0; i < cv.n; i++) {
		struct centry *e = entry_get(c, &cv.v[i].k);
		if (!e || touch(c, e, touched))
			goto oom;
	}
	if (s) {
		for (size_t i = 0; i < s->claims.n; i++)
			entry_remove(entry_find(c, &s->claims.v[i].k), s);
		vec_free(&s->claims);
	} else if (cv.n) {
		if (!(s = calloc(1, sizeof(*s))) || !(s->name = strdup(name)) ||
		    htab_add(&c->svcs, &s->node, hash_str(name, HASH_SEED)) < 0) {
			if (s)
				free(s->name);
			free(s);
			goto oom;
		}
	}
	if (!cv.n) {
		htab_del(&c->svcs, &s->node);
		free(s->name);
		free(s);
		return 0;
	}
	if (cv.cap > cv.n) {
		struct cclaim *tight = realloc(cv.v, cv.n * sizeof(*cv.v));

		if (tight) {
			cv.v = tight;
			cv.cap = cv.n;
		}
	}
	s->claims.v = cv.v;
	s->claims.n = cv.n;
	s->claims.cap = cv.cap;
	s->created = created;
	for (size_t i = 0; i < cv.n; i++)
		if (entry_insert(entry_find(c, &cv.v[i].k), s, cv.v[i].field))
			return -ENOMEM;
	return 0;
oom:
	vec_free(&cv);
	return -ENOMEM;
}

/*
 * The Services `names` (sorted, each once) now claim what their ports in
 * `out` hold. With `others`, the Services outside `names` whose winning
 * moved are appended there. On failure the index is emptied: the caller
 * rebuilds everything, which fills it again.
 */
static int claims_update(struct claims *c, const char *const *names, size_t n,
			 const struct fstate *out, const struct proxy_input *in, name_vec *others)
{
	entry_vec touched = { 0 };
	int err = 0;

	c->gen++;
	for (size_t i = 0; i < n && !err; i++)
		err = update_one(c, names[i], out, in, &touched);
	for (size_t i = 0; i < touched.n; i++) {
		struct centry *e = touched.v[i];
		const char *now = winner(e);

		bool moved = !e->was || !now || strcmp(e->was, now);

		c->conflicts += e->who.n ? e->who.n - 1 : 0;
		if (moved && now)
			e->who.v[0].reported = false;	/* losing it again is news */
		if (!err && others && moved &&
		    (add_other(others, names, n, e->was) || add_other(others, names, n, now)))
			err = -ENOMEM;
		free(e->was);
		e->was = NULL;
		if (!e->who.n) {
			htab_del(&c->keys, &e->node);
			vec_free(&e->who);
			free(e);
		}
	}
	vec_free(&touched);
	if (err) {
		log_err("proxy", "out of memory indexing address claims; rebuilding", "");
		reset(c);
	}
	return err;
}

/* Every Service of `out` and of the index, sorted, each once. */
static int all_names(const struct claims *c, const struct fstate *out, name_vec *names)
{
	size_t w = 0;

	for (size_t i = 0; i < out->n_svcs; i++) {
		const char *k = out->svcs[i].key;
		char *copy = strndup(k, strcspn(k, ":"));

		if (!copy || vec_push(names, copy)) {
			free(copy);
			return -ENOMEM;
		}
	}
	HTAB_WALK(&c->svcs, n) {
		char *copy = strdup(container_of(n, struct csvc, node)->name);

		if (!copy || vec_push(names, copy)) {
			free(copy);
			return -ENOMEM;
		}
	}
	vec_sort(names->v, names->n, sizeof(*names->v), str_cmp);
	for (size_t r = 0; r < names->n; r++) {
		if (w && !strcmp(names->v[w - 1], names->v[r]))
			free(names->v[r]);
		else
			names->v[w++] = names->v[r];
	}
	names->n = w;
	return 0;
}

/* ---- resolving ---- */

static void fill_loss(struct claim_loss *l, struct faddr *a, const struct centry *e,
		      const struct csvc *s, uint8_t field)
{
	memset(a, 0, sizeof(*a));
	a->family = e->k.family;
	a->plen = e->k.family == AF_INET ? 32 : 128;
	memcpy(a->a, e->k.a, sizeof(a->a));
	*l = (struct claim_loss){
		.svc = s->name, .winner = winner(e), .winner_cluster = e->who.v[0].field == F_CLUSTER,
		.field = field_names[field], .addr = a, .proto = e->k.proto, .port = e->k.port,
	};
}

/* Leaves out of `list` the addresses another Service wins. */
static void filter(struct claims *c, struct csvc *s, const struct fsvc *v, int field,
		   struct faddr *list, size_t *n, claims_lost_fn lost, void *arg)
{
	size_t w = 0;

	for (size_t i = 0; i < *n; i++) {
		struct ckey k;
		struct centry *e;

		make_key(&k, &list[i], v->proto, v->port);
		e = entry_find(c, &k);
		if (!e || !e->who.n || e->who.v[0].svc == s) {
			list[w++] = list[i];
			continue;
		}
		struct claimant *me = claimant_of(e, s);
		if (me && !me->reported) {
			struct claim_loss l;
			struct faddr a;

			me->reported = true;
			fill_loss(&l, &a, e, s, (uint8_t)field);
			if (lost)
				lost(arg, &l);
		}
	}
	*n = w;
}

static void claims_resolve(struct claims *c, struct fstate *out, claims_lost_fn lost, void *arg)
{
	struct csvc *s = NULL;
	const char *prev = NULL;
	size_t prev_len = 0;

	if (!c->conflicts)
		return;		/* the common case: no key has two claimants */
	for (size_t i = 0; i < out->n_svcs; i++) {
		struct fsvc *v = &out->svcs[i];
		size_t len = strcspn(v->key, ":");

		if (!prev || len != prev_len || strncmp(prev, v->key, len))
			s = svc_find(c, v->key, len);
		prev = v->key;
		prev_len = len;
		if (!s)
			continue;
		filter(c, s, v, F_CLUSTER, v->cluster_ips, &v->n_cluster_ips, lost, arg);
		filter(c, s, v, F_EXTERNAL, v->external_ips, &v->n_external_ips, lost, arg);
		filter(c, s, v, F_LB, v->lb_ips, &v->n_lb_ips, lost, arg);
	}
}

void claims_lost_of(const struct claims *c, const char *svc, uint8_t proto, uint16_t port,
		    claims_lost_fn fn, void *arg)
{
	const struct csvc *s = svc_find(c, svc, strlen(svc));

	for (size_t i = 0; s && i < s->claims.n; i++) {
		const struct cclaim *x = &s->claims.v[i];
		const struct centry *e;
		struct claim_loss l;
		struct faddr a;

		if (x->k.proto != proto || x->k.port != port ||
		    !(e = entry_find(c, &x->k)) || !e->who.n || e->who.v[0].svc == s)
			continue;
		fill_loss(&l, &a, e, s, x->field);
		fn(arg, &l);
	}
}

/* ---- the build ---- */

int claims_build(struct claims *c, const struct proxy_config *cfg, const struct proxy_input *in,
		 struct fstate *out, struct proxy_stats *st, struct claim_set *covered,
		 claims_lost_fn lost, void *arg)
{
	name_vec names = { 0 };
	int err;

	memset(covered, 0, sizeof(*covered));
	if ((err = proxy_build(cfg, in, out, st)) < 0)
		return err;
	fstate_drop_bad(out);
	if (!in->only) {
		if (!(err = all_names(c, out, &names)))
			err = claims_update(c, (const char *const *)names.v, names.n, out, in, NULL);
		for (size_t i = 0; i < names.n; i++)
			free(names.v[i]);
		vec_free(&names);
		goto resolve;
	}
	/* names: the Services whose winning moved, for `covered` */
	err = claims_update(c, in->only, in->n_only, out, in, &names);
	covered->own = names.v;
	covered->n_own = names.n;
	if (err < 0)
		goto fail;
	if (!(covered->v = malloc((in->n_only + names.n + 1) * sizeof(*covered->v)))) {
		err = -ENOMEM;
		goto fail;
	}
	if (in->n_only)
		memcpy(covered->v, in->only, in->n_only * sizeof(*covered->v));
	if (names.n)
		memcpy(covered->v + in->n_only, names.v, names.n * sizeof(*covered->v));
	covered->n = in->n_only + names.n;
	if (names.n) {
		struct proxy_input more = *in;

		/* only the names of others were added, never one of `only` */
		vec_sort(covered->v, covered->n, sizeof(*covered->v), str_cmp);
		more.only = covered->v;
		more.n_only = covered->n;
		if ((err = proxy_build(cfg, &more, out, st)) < 0)
			goto fail;
		fstate_drop_bad(out);
	}
resolve:
	if (err < 0)
		goto fail;
	claims_resolve(c, out, lost, arg);
	return 0;
fail:
	claim_set_free(covered);
	fstate_free(out);
	fstate_init(out);
	return err;
}
