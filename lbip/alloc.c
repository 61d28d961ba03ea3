// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The LoadBalancer IP allocator (see alloc.h for the rules).
 *
 * State: one svcent per Service holding addresses (a->svcs, by ns/name) and
 * one ipent per address in use (a->ips, by address) listing its Services.
 * Every user of one address has the same sharing and backend keys (the
 * sharing check guarantees it), so an ipent with a sharing key is also in
 * a->shared under that key: a Service with key K finds the addresses it
 * could share without looking at the others.
 *
 * Each range of each pool has a cursor: every address below it is in use
 * (or a .0/.255 the pool avoids). Picking advances it; freeing an address
 * below it moves it back. So picking the lowest usable address of a range
 * is min(first unused at the cursor, lowest shareable of a->shared[K]).
 *
 * Where this differs from MetalLB on purpose: an address that left every
 * pool stays with its Service (MetalLB takes it away at once); equal
 * priorities and the general pools go in configuration order (MetalLB:
 * Go map order, i.e. random); namespaceSelectors that match no namespace
 * still restrict the pool (MetalLB then lets every namespace in).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/vec.h"
#include "lbip/alloc.h"

struct svcent;

struct ipent {
	struct hnode node;		/* a->ips */
	struct hnode snode;		/* a->shared, when the users have a sharing key */
	bool in_shared;
	struct lb_addr addr;
	int pool;			/* index in a->pools, -1: in no pool */
	struct svcent **users;
	size_t n_users, cap_users;
};

struct svcent {
	struct hnode node;		/* a->svcs */
	char *ns, *name, *pool, *sharing, *backend;
	struct lb_port *ports;
	size_t n_ports;
	struct lb_addr ips[2];
	struct ipent *ents[2];
	size_t n_ips;
	bool orphan;
};

struct rstate {
	struct lb_addr cur;
	bool end;			/* every address of the range is used */
	bool valid;			/* lo/hi of one family, lo <= hi */
};

struct pstate {
	const struct lb_pool *p;
	struct rstate *r;		/* one per p->ranges */
	uint64_t in_use_v4, in_use_v6;
};

struct lb_alloc {
	const struct lb_config *cfg;
	struct pstate *pools;
	size_t n_pools;
	struct htab svcs, ips, shared;
	size_t n_orphans;
};

/* What the sharing check needs to know about the Service asking. */
struct who {
	const char *ns, *name, *sharing, *backend;
	const struct lb_port *ports;
	size_t n_ports;
};

static const char *nz(const char *s)
{
	return s ? s : "";
}

static void say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* ---- addresses ---- */

static size_t alen(uint8_t family)
{
	return family == 4 ? 4 : 16;
}

static bool addr_inc(struct lb_addr *a)
{
	for (size_t i = alen(a->family); i-- > 0;)
		if (++a->b[i])
			return true;
	return false;
}

static bool is_buggy(const struct lb_addr *a)
{
	return a->family == 4 && (a->b[3] == 0 || a->b[3] == 255);
}

static uint64_t addr_hash(const struct lb_addr *a)
{
	return hash_bytes(a->b, alen(a->family), hash_bytes(&a->family, 1, HASH_SEED));
}

static bool in_range(const struct lb_range *r, const struct lb_addr *x)
{
	return x->family == r->lo.family && lb_addr_cmp(&r->lo, x) <= 0 &&
	       lb_addr_cmp(x, &r->hi) <= 0;
}

static void fmt_ips(const struct lb_addr *ips, size_t n, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = 0;
	for (size_t i = 0; i < n && off < len; i++) {
		char s[64];

		lb_addr_format(&ips[i], s, sizeof(s));
		off += snprintf(buf + off, len - off, "%s%s", i ? ", " : "", s);
	}
}

static const char *l4_name(uint8_t p)
{
	return p == LB_UDP ? "UDP" : p == LB_SCTP ? "SCTP" : "TCP";
}

/* ---- pools ---- */

static bool pool_has(const struct pstate *ps, const struct lb_addr *x)
{
	if (ps->p->avoid_buggy_ips && is_buggy(x))
		return false;
	for (size_t i = 0; i < ps->p->n_ranges; i++)
		if (ps->r[i].valid && in_range(&ps->p->ranges[i], x))
			return true;
	return false;
}

/* The first pool holding every one of ips, -1 if none. */
static int pool_for(const struct lb_alloc *a, const struct lb_addr *ips, size_t n)
{
	for (size_t i = 0; i < a->n_pools; i++) {
		size_t k = 0;

		while (k < n && pool_has(&a->pools[i], &ips[k]))
			k++;
		if (n && k == n)
			return (int)i;
	}
	return -1;
}

static int pool_by_name(const struct lb_alloc *a, const char *name)
{
	for (size_t i = 0; i < a->n_pools; i++)
		if (a->pools[i].p->name && !strcmp(a->pools[i].p->name, name))
			return (int)i;
	return -1;
}

/* IPAddressPool.spec.serviceAllocation: does pool p serve s? */
static bool pool_serves(const struct lb_pool *p, const struct lb_svc *s)
{
	if (!p->has_allocation)
		return true;
	if (p->n_namespaces || p->n_namespace_selectors) {
		bool ok = false;

		for (size_t i = 0; i < p->n_namespaces && !ok; i++)
			ok = p->namespaces[i] && !strcmp(p->namespaces[i], nz(s->ns));
		for (size_t i = 0; i < p->n_namespace_selectors && !ok; i++)
			ok = lb_selector_matches(&p->namespace_selectors[i], s->ns_labels, s->n_ns_labels);
		if (!ok)
			return false;
	}
	if (p->n_service_selectors) {
		for (size_t i = 0; i < p->n_service_selectors; i++)
			if (lb_selector_matches(&p->service_selectors[i], s->labels, s->n_labels))
				return true;
		return false;
	}
	return true;
}

/* Free address x: ranges whose cursor is past it go back to it. */
static void cursors_back(struct lb_alloc *a, const struct lb_addr *x)
{
	for (size_t i = 0; i < a->n_pools; i++) {
		struct pstate *ps = &a->pools[i];

		for (size_t k = 0; k < ps->p->n_ranges; k++) {
			struct rstate *r = &ps->r[k];

			if (r->valid && in_range(&ps->p->ranges[k], x) &&
			    (r->end || lb_addr_cmp(x, &r->cur) < 0)) {
				r->cur = *x;
				r->end = false;
			}
		}
	}
}

/* ---- address and Service records ---- */

static struct ipent *ip_find(const struct lb_alloc *a, const struct lb_addr *x)
{
	uint64_t h = addr_hash(x);

	for (struct hnode *n = htab_first(&a->ips, h); n; n = htab_next(n, h)) {
		struct ipent *e = container_of(n, struct ipent, node);

		if (!lb_addr_cmp(&e->addr, x))
			return e;
	}
	return NULL;
}

static uint64_t svc_hash(const char *ns, const char *name)
{
	return hash_str(name, hash_bytes("/", 1, hash_str(ns, HASH_SEED)));
}

static struct svcent *svc_find(const struct lb_alloc *a, const char *ns, const char *name)
{
	uint64_t h = svc_hash(nz(ns), nz(name));

	for (struct hnode *n = htab_first(&a->svcs, h); n; n = htab_next(n, h)) {
		struct svcent *e = container_of(n, struct svcent, node);

		if (!strcmp(e->ns, nz(ns)) && !strcmp(e->name, nz(name)))
			return e;
	}
	return NULL;
}

static void pool_count(struct lb_alloc *a, const struct ipent *e, int delta)
{
	struct pstate *ps;

	if (e->pool < 0)
		return;
	ps = &a->pools[e->pool];
	if (e->addr.family == 4)
		ps->in_use_v4 += delta;
	else
		ps->in_use_v6 += delta;
}

static void ip_unuse(struct lb_alloc *a, struct ipent *e, const struct svcent *s)
{
	for (size_t i = 0; i < e->n_users; i++) {
		if (e->users[i] == s) {
			e->users[i] = e->users[--e->n_users];
			break;
		}
	}
	if (e->n_users)
		return;
	htab_del(&a->ips, &e->node);
	if (e->in_shared)
		htab_del(&a->shared, &e->snode);
	pool_count(a, e, -1);
	cursors_back(a, &e->addr);
	free(e->users);
	free(e);
}

static void svcent_free(struct svcent *s)
{
	free(s->ns);
	free(s->name);
	free(s->pool);
	free(s->sharing);
	free(s->backend);
	free(s->ports);
	free(s);
}

static void svc_drop(struct lb_alloc *a, struct svcent *s)
{
	for (size_t i = 0; i < s->n_ips; i++)
		ip_unuse(a, s->ents[i], s);
	htab_del(&a->svcs, &s->node);
	if (s->orphan)
		a->n_orphans--;
	svcent_free(s);
}

static int ip_use(struct lb_alloc *a, const struct lb_addr *x, struct svcent *s, struct ipent **out)
{
	struct ipent *e = ip_find(a, x);

	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		e->addr = *x;
		e->pool = pool_for(a, x, 1);
		if (htab_add(&a->ips, &e->node, addr_hash(x))) {
			free(e);
			return -ENOMEM;
		}
		if (s->sharing[0]) {
			if (htab_add(&a->shared, &e->snode, hash_str(s->sharing, HASH_SEED))) {
				htab_del(&a->ips, &e->node);
				free(e);
				return -ENOMEM;
			}
			e->in_shared = true;
		}
		pool_count(a, e, +1);
	}
	if (vec_grow((void **)&e->users, &e->cap_users, e->n_users + 1, sizeof(*e->users))) {
		if (!e->n_users)
			ip_unuse(a, e, s);
		return -ENOMEM;
	}
	e->users[e->n_users++] = s;
	*out = e;
	return 0;
}

/* Record w's use of ips from pool (name, may be NULL/"" = orphan). */
static int svc_record(struct lb_alloc *a, const struct who *w, const struct lb_addr *ips,
		      size_t n, const char *pool)
{
	struct svcent *s = calloc(1, sizeof(*s));
	int pi = pool_for(a, ips, n);

	if (!s)
		return -ENOMEM;
	s->ns = strdup(nz(w->ns));
	s->name = strdup(nz(w->name));
	s->pool = strdup(pi >= 0 ? nz(a->pools[pi].p->name) : nz(pool));
	s->sharing = strdup(nz(w->sharing));
	s->backend = strdup(nz(w->backend));
	s->n_ports = w->n_ports;
	s->ports = w->n_ports ? malloc(w->n_ports * sizeof(*s->ports)) : NULL;
	s->orphan = pi < 0;
	if (!s->ns || !s->name || !s->pool || !s->sharing || !s->backend ||
	    (w->n_ports && !s->ports) || htab_add(&a->svcs, &s->node, svc_hash(s->ns, s->name))) {
		svcent_free(s);
		return -ENOMEM;
	}
	if (s->orphan)
		a->n_orphans++;
	if (w->n_ports)
		memcpy(s->ports, w->ports, w->n_ports * sizeof(*s->ports));
	for (size_t i = 0; i < n && i < 2; i++) {
		s->ips[i] = ips[i];
		if (ip_use(a, &ips[i], s, &s->ents[i])) {
			svc_drop(a, s);
			return -ENOMEM;
		}
		s->n_ips = i + 1;
	}
	return 0;
}

/* ---- sharing (MetalLB's checkSharing) ---- */

/* Can w use address e (NULL: unused)? 0, or -1 with why. w's own earlier
 * record does not count: a sole user may change its keys in place. */
static int sharing_ok(const struct ipent *e, const struct who *w, char *why, size_t len)
{
	const struct svcent *o = NULL;
	char ip[64];

	if (!e)
		return 0;
	for (size_t i = 0; i < e->n_users; i++) {
		if (strcmp(e->users[i]->ns, nz(w->ns)) || strcmp(e->users[i]->name, nz(w->name))) {
			o = e->users[i];
			break;
		}
	}
	if (!o)
		return 0;
	lb_addr_format(&e->addr, ip, sizeof(ip));
#define NO(...) do { if (why) { int _n = snprintf(why, len, \
	"IP %s is in use by %s/%s and cannot be shared: ", ip, o->ns, o->name); \
	if (_n >= 0 && (size_t)_n < len) say(why + _n, len - _n, __VA_ARGS__); } \
	return -1; } while (0)
	if (!o->sharing[0])
		NO("it does not allow sharing");
	if (!nz(w->sharing)[0])
		NO("this Service does not allow sharing");
	if (strcmp(o->sharing, w->sharing))
		NO("sharing keys \"%s\" and \"%s\" differ", w->sharing, o->sharing);
	if (strcmp(o->backend, nz(w->backend)))
		NO("backends differ (externalTrafficPolicy Local needs the same selector on both)");
	for (size_t u = 0; u < e->n_users; u++) {
		o = e->users[u];
		if (!strcmp(o->ns, nz(w->ns)) && !strcmp(o->name, nz(w->name)))
			continue;
		for (size_t i = 0; i < w->n_ports; i++)
			for (size_t k = 0; k < o->n_ports; k++)
				if (w->ports[i].port == o->ports[k].port &&
				    w->ports[i].proto == o->ports[k].proto)
					NO("port %u/%s clashes", w->ports[i].port, l4_name(w->ports[i].proto));
	}
#undef NO
	return 0;
}

/* ---- picking ---- */

/* The lowest unused address of range k of ps at or after its cursor. */
static bool first_unused(const struct lb_alloc *a, struct pstate *ps, size_t k, struct lb_addr *out)
{
	struct rstate *r = &ps->r[k];
	const struct lb_addr *hi = &ps->p->ranges[k].hi;

	while (r->valid && !r->end) {
		if (!(ps->p->avoid_buggy_ips && is_buggy(&r->cur)) && !ip_find(a, &r->cur)) {
			*out = r->cur;
			return true;
		}
		if (!lb_addr_cmp(&r->cur, hi) || !addr_inc(&r->cur))
			r->end = true;
	}
	return false;
}

/* The lowest address of family fam in pool ps that w may use, ranges in
 * their configured order. */
static bool pick(const struct lb_alloc *a, struct pstate *ps, uint8_t fam, const struct who *w,
		 struct lb_addr *out)
{
	for (size_t k = 0; k < ps->p->n_ranges; k++) {
		const struct lb_range *rg = &ps->p->ranges[k];
		bool found;

		if (!ps->r[k].valid || rg->lo.family != fam)
			continue;
		found = first_unused(a, ps, k, out);
		if (nz(w->sharing)[0]) {
			uint64_t h = hash_str(w->sharing, HASH_SEED);

			for (struct hnode *n = htab_first(&a->shared, h); n; n = htab_next(n, h)) {
				struct ipent *e = container_of(n, struct ipent, snode);

				if (!in_range(rg, &e->addr) || !pool_has(ps, &e->addr) ||
				    (found && lb_addr_cmp(&e->addr, out) >= 0) ||
				    sharing_ok(e, w, NULL, 0))
					continue;
				*out = e->addr;
				found = true;
			}
		}
		if (found)
			return true;
	}
	return false;
}

/* The Service's family: 4, 6, or 46 for dual stack. */
static int svc_family(const struct lb_svc *s)
{
	if (s->n_families >= 2 && s->policy != LB_SINGLE_STACK && s->families[0] != s->families[1])
		return 46;
	return s->n_families && s->families[0] == 6 ? 6 : 4;
}

static int ips_family(const struct lb_addr *ips, size_t n)
{
	if (n == 2)
		return ips[0].family != ips[1].family ? 46 : 0;
	return n == 1 ? ips[0].family : 0;
}

/* The picks of one pool: [0] IPv4, [1] IPv6. */
struct picks {
	int pool;
	bool have[2];
	struct lb_addr ip[2];
};

static void pick_pool(const struct lb_alloc *a, int pi, int fam, const struct who *w, struct picks *pk)
{
	memset(pk, 0, sizeof(*pk));
	pk->pool = pi;
	if (fam != 6)
		pk->have[0] = pick(a, &a->pools[pi], 4, w, &pk->ip[0]);
	if (fam != 4)
		pk->have[1] = pick(a, &a->pools[pi], 6, w, &pk->ip[1]);
}

/* MetalLB's selectIPsForFamilyAndPolicy: IPv4 first. */
static size_t take(const struct picks *pk, int fam, enum lb_family_policy pol, struct lb_addr out[2])
{
	size_t n = 0;

	if (fam != 46) {
		if (pk->have[fam == 6])
			out[n++] = pk->ip[fam == 6];
		return n;
	}
	if (pol == LB_REQUIRE_DUAL_STACK && !(pk->have[0] && pk->have[1]))
		return 0;
	for (int i = 0; i < 2; i++)
		if (pk->have[i])
			out[n++] = pk->ip[i];
	return n;
}

/* MetalLB's findBestPoolForService over pools (indices, in order). */
static bool best_pool(const struct lb_alloc *a, const int *pools, size_t n, const struct lb_svc *s,
		      int fam, const struct who *w, struct picks *out)
{
	struct picks pk, prim = { .pool = -1 }, sec = { .pool = -1 };
	int p = s->n_families && s->families[0] == 6 ? 1 : 0;

	for (size_t i = 0; i < n; i++) {
		pick_pool(a, pools[i], fam, w, &pk);
		if (fam != 46 && pk.have[fam == 6]) {
			*out = pk;
			return true;
		}
		if (fam != 46)
			continue;
		if (pk.have[0] && pk.have[1]) {
			*out = pk;
			return true;
		}
		if (s->policy != LB_PREFER_DUAL_STACK)
			continue;
		if (pk.have[p] && prim.pool < 0)
			prim = pk;
		if (pk.have[!p] && sec.pool < 0)
			sec = pk;
	}
	if (prim.pool >= 0 || sec.pool >= 0) {
		*out = prim.pool >= 0 ? prim : sec;
		return true;
	}
	return false;
}

static int prio_key(const struct lb_pool *p)
{
	return p->priority > 0 ? p->priority : INT_MAX;
}

/* ---- the Service's request ---- */

static int parse_one(const char *txt, size_t len, struct lb_addr *out)
{
	char buf[64];

	while (len && (*txt == ' ' || *txt == '\t'))
		txt++, len--;
	while (len && (txt[len - 1] == ' ' || txt[len - 1] == '\t'))
		len--;
	if (!len || len >= sizeof(buf))
		return -1;
	memcpy(buf, txt, len);
	buf[len] = 0;
	return lb_addr_parse(buf, out) ? -1 : 0;
}

int lb_svc_requested(const struct lb_svc *s, struct lb_addr ips[2], size_t *n, char *reason, size_t len)
{
	const char *ann = nz(s->lb_ips_annotation), *spec = nz(s->load_balancer_ip);

	*n = 0;
	if (ann[0] && spec[0]) {
		say(reason, len, "both spec.loadBalancerIP and the loadBalancerIPs annotation are set");
		return -1;
	}
	if (spec[0]) {
		if (parse_one(spec, strlen(spec), &ips[0])) {
			say(reason, len, "invalid spec.loadBalancerIP \"%.64s\"", spec);
			return -1;
		}
		*n = 1;
		return 0;
	}
	for (const char *p = ann; ann[0];) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);
		struct lb_addr x;

		if (parse_one(p, l, &x)) {
			say(reason, len, "invalid loadBalancerIPs \"%.128s\"", ann);
			return -1;
		}
		if (*n == 2 || (*n == 1 && ips[0].family == x.family)) {
			say(reason, len, "loadBalancerIPs \"%.128s\": at most one address per family", ann);
			return -1;
		}
		ips[(*n)++] = x;
		if (!c)
			break;
		p = c + 1;
	}
	return 0;
}

static int label_cmp(const void *x, const void *y)
{
	const struct lb_label *a = x, *b = y;

	return strcmp(nz(a->key), nz(b->key));
}

/* k8salloc.BackendKey: the selector as "k=v,k2=v2" (sorted) when Local. */
static char *backend_key(const struct lb_svc *s)
{
	struct lb_label *l;
	size_t len = 1, off = 0;
	char *out;

	if (!s->local || !s->n_selector)
		return strdup("");
	l = malloc(s->n_selector * sizeof(*l));
	if (!l)
		return NULL;
	memcpy(l, s->selector, s->n_selector * sizeof(*l));
	vec_sort(l, s->n_selector, sizeof(*l), label_cmp);
	for (size_t i = 0; i < s->n_selector; i++)
		len += strlen(nz(l[i].key)) + strlen(nz(l[i].value)) + 2;
	out = malloc(len);
	if (out) {
		out[0] = 0;
		for (size_t i = 0; i < s->n_selector; i++)
			off += snprintf(out + off, len - off, "%s%s=%s", i ? "," : "",
					nz(l[i].key), nz(l[i].value));
	}
	free(l);
	return out;
}

static bool same_set(const struct lb_addr *x, size_t nx, const struct lb_addr *y, size_t ny)
{
	if (nx != ny)
		return false;
	for (size_t i = 0; i < nx; i++) {
		bool f = false;

		for (size_t k = 0; k < ny && !f; k++)
			f = !lb_addr_cmp(&x[i], &y[k]);
		if (!f)
			return false;
	}
	return true;
}

static void fill(const struct svcent *e, struct lb_result *out)
{
	struct lb_addr t;

	memset(out, 0, sizeof(*out));
	out->n_ips = e->n_ips;
	memcpy(out->ips, e->ips, e->n_ips * sizeof(e->ips[0]));
	if (out->n_ips == 2 && lb_addr_cmp(&out->ips[0], &out->ips[1]) > 0) {
		t = out->ips[0];
		out->ips[0] = out->ips[1];
		out->ips[1] = t;
	}
	snprintf(out->pool, sizeof(out->pool), "%s", e->pool);
	out->orphan = e->orphan;
}

/* Does s still fit its recorded allocation e? (MetalLB's convergeBalancer
 * checks before allocating, except that an orphan stays.) */
static bool keep(const struct lb_alloc *a, const struct svcent *e, const struct lb_svc *s,
		 const struct who *w, const struct lb_addr *req, size_t n_req)
{
	int fam = svc_family(s), have = ips_family(e->ips, e->n_ips);
	int pi = pool_for(a, e->ips, e->n_ips);
	const char *want_pool = nz(s->pool);

	if (have != fam && !(fam == 46 && s->policy == LB_PREFER_DUAL_STACK && have))
		return false;
	if (pi >= 0 && !pool_serves(a->pools[pi].p, s))
		return false;
	for (size_t i = 0; i < e->n_ips; i++)
		if (sharing_ok(e->ents[i], w, NULL, 0))
			return false;
	if (want_pool[0] && strcmp(want_pool, pi >= 0 ? nz(a->pools[pi].p->name) : e->pool))
		return false;
	if (n_req && !same_set(req, n_req, e->ips, e->n_ips))
		return false;
	return true;
}

static int fail(struct lb_result *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
	out->n_ips = 0;
	return -1;
}

static int record_and_fill(struct lb_alloc *a, const struct who *w, const struct lb_addr *ips,
			   size_t n, const char *pool, struct lb_result *out)
{
	struct svcent *e;

	if (svc_record(a, w, ips, n, pool))
		return -ENOMEM;
	e = svc_find(a, w->ns, w->name);
	fill(e, out);
	return 0;
}

static int allocate(struct lb_alloc *a, const struct lb_svc *s, const struct who *w,
		    const struct lb_addr *req, size_t n_req, struct lb_result *out)
{
	int fam = svc_family(s);
	const char *want_pool = nz(s->pool);
	struct lb_addr ips[2];
	struct picks pk;
	char txt[128];
	size_t n;

	if (n_req) {
		int pi;

		fmt_ips(req, n_req, txt, sizeof(txt));
		if (ips_family(req, n_req) != fam)
			return fail(out, "requested IP(s) %s do not match the Service's IP families", txt);
		pi = pool_for(a, req, n_req);
		if (pi < 0) {
			for (size_t i = 0; i < n_req; i++) {
				if (pool_for(a, &req[i], 1) < 0) {
					fmt_ips(&req[i], 1, txt, sizeof(txt));
					return fail(out, "requested IP %s is not in any pool", txt);
				}
			}
			return fail(out, "requested IPs %s are not in one pool", txt);
		}
		if (!pool_serves(a->pools[pi].p, s))
			return fail(out, "pool \"%s\" of requested IP(s) %s does not serve %s/%s",
				    nz(a->pools[pi].p->name), txt, nz(s->ns), nz(s->name));
		for (size_t i = 0; i < n_req; i++)
			if (sharing_ok(ip_find(a, &req[i]), w, out->reason, sizeof(out->reason)))
				return -1;
		if (want_pool[0] && strcmp(want_pool, nz(a->pools[pi].p->name)))
			return fail(out, "requested IP(s) %s not in the requested pool \"%s\"", txt, want_pool);
		return record_and_fill(a, w, req, n_req, NULL, out);
	}

	if (want_pool[0]) {
		int pi = pool_by_name(a, want_pool);

		if (pi < 0)
			return fail(out, "pool \"%s\" does not exist", want_pool);
		if (!pool_serves(a->pools[pi].p, s))
			return fail(out, "pool \"%s\" does not serve %s/%s", want_pool, nz(s->ns), nz(s->name));
		pick_pool(a, pi, fam, w, &pk);
		n = take(&pk, fam, s->policy, ips);
		if (!n)
			return fail(out, fam == 46 && (pk.have[0] || pk.have[1]) ?
				    "pool \"%s\" has no free address of one of the families" :
				    "pool \"%s\" is exhausted", want_pool);
		return record_and_fill(a, w, ips, n, NULL, out);
	}

	/* Pools that serve the Service by serviceAllocation, by priority, then
	 * the general ones; only autoAssign pools. */
	int *order = malloc((a->n_pools + 1) * sizeof(*order));
	size_t n_pinned = 0, n_all;

	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < a->n_pools; i++) {
		const struct lb_pool *p = a->pools[i].p;
		size_t k;

		if (!p->auto_assign || !p->has_allocation || !pool_serves(p, s))
			continue;
		for (k = n_pinned; k > 0 && prio_key(a->pools[order[k - 1]].p) > prio_key(p); k--)
			order[k] = order[k - 1];
		order[k] = (int)i;
		n_pinned++;
	}
	n_all = n_pinned;
	for (size_t i = 0; i < a->n_pools; i++)
		if (a->pools[i].p->auto_assign && !a->pools[i].p->has_allocation)
			order[n_all++] = (int)i;
	n = 0;
	if (best_pool(a, order, n_pinned, s, fam, w, &pk))
		n = take(&pk, fam, s->policy, ips);
	if (!n && best_pool(a, order + n_pinned, n_all - n_pinned, s, fam, w, &pk))
		n = take(&pk, fam, s->policy, ips);
	free(order);
	if (!n)
		return fail(out, "no available IPs");
	return record_and_fill(a, w, ips, n, NULL, out);
}

int lb_alloc_assign(struct lb_alloc *a, const struct lb_svc *s, struct lb_result *out)
{
	struct lb_addr req[2];
	size_t n_req;
	struct svcent *e;
	struct who w = {
		.ns = nz(s->ns), .name = nz(s->name), .sharing = nz(s->sharing_key),
		.ports = s->ports, .n_ports = s->n_ports,
	};
	char *backend;
	int rc;

	memset(out, 0, sizeof(*out));
	e = svc_find(a, s->ns, s->name);
	if (lb_svc_requested(s, req, &n_req, out->reason, sizeof(out->reason))) {
		if (e)
			svc_drop(a, e);
		return -1;
	}
	backend = backend_key(s);
	if (!backend)
		return -ENOMEM;
	w.backend = backend;
	if (!e && s->n_status_ips) {
		struct lb_result r;

		if (lb_alloc_restore(a, s, &r) == -ENOMEM) {
			free(backend);
			return -ENOMEM;
		}
		e = svc_find(a, s->ns, s->name);
	}
	if (e && keep(a, e, s, &w, req, n_req)) {
		struct lb_addr ips[2];
		size_t n = e->n_ips;
		char *pool = strdup(e->pool);

		memcpy(ips, e->ips, sizeof(ips));
		/* PreferDualStack holding one family: add the other from the
		 * same pool when it has one. */
		if (n == 1 && svc_family(s) == 46 && !e->orphan && !n_req) {
			int pi = pool_for(a, ips, 1);
			struct picks pk;

			if (pi >= 0) {
				pick_pool(a, pi, ips[0].family == 4 ? 6 : 4, &w, &pk);
				if (pk.have[ips[0].family == 4])
					ips[n++] = pk.ip[ips[0].family == 4];
			}
		}
		/* Re-record: ports and keys may have changed. */
		svc_drop(a, e);
		rc = pool ? record_and_fill(a, &w, ips, n, pool, out) : -ENOMEM;
		free(pool);
		free(backend);
		return rc;
	}
	if (e)
		svc_drop(a, e);
	rc = allocate(a, s, &w, req, n_req, out);
	free(backend);
	return rc;
}

int lb_alloc_restore(struct lb_alloc *a, const struct lb_svc *s, struct lb_result *out)
{
	struct lb_result tmp;
	struct lb_addr ips[2];
	size_t n = 0;
	struct who w = {
		.ns = nz(s->ns), .name = nz(s->name), .sharing = nz(s->sharing_key),
		.ports = s->ports, .n_ports = s->n_ports,
	};
	char *backend;
	int rc;

	if (!out)
		out = &tmp;
	memset(out, 0, sizeof(*out));
	if (svc_find(a, s->ns, s->name) || !s->n_status_ips)
		return 0;
	for (size_t i = 0; i < s->n_status_ips; i++) {
		const struct lb_addr *x = &s->status_ips[i];

		if (x->family != 4 && x->family != 6)
			return fail(out, "status holds an address of no family");
		size_t k = 0;

		while (k < n && ips[k].family != x->family)
			k++;
		if (k < n) {
			if (!lb_addr_cmp(&ips[k], x))
				continue;	/* listed twice */
			return fail(out, "status holds two addresses of one family");
		}
		ips[n++] = *x;
	}
	backend = backend_key(s);
	if (!backend)
		return -ENOMEM;
	w.backend = backend;
	for (size_t i = 0; i < n; i++) {
		if (sharing_ok(ip_find(a, &ips[i]), &w, out->reason, sizeof(out->reason))) {
			free(backend);
			return -1;
		}
	}
	rc = record_and_fill(a, &w, ips, n, NULL, out);
	free(backend);
	return rc;
}

void lb_alloc_release(struct lb_alloc *a, const char *ns, const char *name)
{
	struct svcent *e = svc_find(a, ns, name);

	if (e)
		svc_drop(a, e);
}

bool lb_alloc_get(const struct lb_alloc *a, const char *ns, const char *name, struct lb_result *out)
{
	struct svcent *e = svc_find(a, ns, name);

	if (!e)
		return false;
	fill(e, out);
	return true;
}

int lb_svc_cmp_age(const struct lb_svc *x, const struct lb_svc *y)
{
	int c;

	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	c = strcmp(nz(x->ns), nz(y->ns));
	return c ? c : strcmp(nz(x->name), nz(y->name));
}

/* ---- configuration ---- */

static void pools_free(struct pstate *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(p[i].r);
	free(p);
}

int lb_alloc_set_config(struct lb_alloc *a, const struct lb_config *cfg)
{
	size_t n = cfg ? cfg->n_pools : 0;
	struct pstate *np = n ? calloc(n, sizeof(*np)) : NULL;

	if (n && !np)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct lb_pool *p = &cfg->pools[i];

		np[i].p = p;
		np[i].r = p->n_ranges ? calloc(p->n_ranges, sizeof(*np[i].r)) : NULL;
		if (p->n_ranges && !np[i].r) {
			pools_free(np, n);
			return -ENOMEM;
		}
		for (size_t k = 0; k < p->n_ranges; k++) {
			const struct lb_range *r = &p->ranges[k];
			struct rstate *rs = &np[i].r[k];

			rs->valid = (r->lo.family == 4 || r->lo.family == 6) &&
				    r->lo.family == r->hi.family && lb_addr_cmp(&r->lo, &r->hi) <= 0;
			rs->cur = r->lo;
		}
	}
	pools_free(a->pools, a->n_pools);
	a->cfg = cfg;
	a->pools = np;
	a->n_pools = n;

	/* Re-home every address and Service under the new pools. */
	HTAB_WALK(&a->ips, hn) {
		struct ipent *e = container_of(hn, struct ipent, node);

		e->pool = pool_for(a, &e->addr, 1);
		pool_count(a, e, +1);
	}
	a->n_orphans = 0;
	HTAB_WALK(&a->svcs, hn) {
		struct svcent *e = container_of(hn, struct svcent, node);
		int pi = pool_for(a, e->ips, e->n_ips);

		e->orphan = pi < 0;
		a->n_orphans += e->orphan;
		if (pi >= 0 && strcmp(e->pool, nz(a->pools[pi].p->name))) {
			char *nm = strdup(nz(a->pools[pi].p->name));

			if (nm) {	/* else keep the old name: cosmetic */
				free(e->pool);
				e->pool = nm;
			}
		}
	}
	return 0;
}

struct lb_alloc *lb_alloc_new(void)
{
	return calloc(1, sizeof(struct lb_alloc));
}

void lb_alloc_free(struct lb_alloc *a)
{
	if (!a)
		return;
	HTAB_WALK(&a->svcs, hn)
		svc_drop(a, container_of(hn, struct svcent, node));
	htab_free(&a->svcs);
	htab_free(&a->ips);
	htab_free(&a->shared);
	pools_free(a->pools, a->n_pools);
	free(a);
}

/* ---- statistics ---- */

/* Addresses in [lo, hi], saturating at UINT64_MAX. */
static uint64_t range_size(const struct lb_range *r)
{
	uint64_t lo = 0, hi = 0;
	size_t l = alen(r->lo.family);

	for (size_t i = 0; i < l; i++) {
		if (l == 16 && i < 8 && r->lo.b[i] != r->hi.b[i])
			return UINT64_MAX;
		if (l == 4 || i >= 8) {
			lo = lo << 8 | r->lo.b[i];
			hi = hi << 8 | r->hi.b[i];
		}
	}
	return hi - lo + 1 ? hi - lo + 1 : UINT64_MAX;
}

/* IPv4 addresses in [0, x] ending in .0 or .255. */
static int64_t buggy_upto(int64_t x)
{
	return x < 0 ? 0 : x / 256 + 1 + (x + 1) / 256;
}

static uint64_t sat_add(uint64_t x, uint64_t y)
{
	return x > UINT64_MAX - y ? UINT64_MAX : x + y;
}

size_t lb_alloc_n_pools(const struct lb_alloc *a)
{
	return a->n_pools;
}

void lb_alloc_pool_stats(const struct lb_alloc *a, size_t i, struct lb_pool_stats *out)
{
	const struct pstate *ps = &a->pools[i];

	memset(out, 0, sizeof(*out));
	out->name = ps->p->name;
	for (size_t k = 0; k < ps->p->n_ranges; k++) {
		const struct lb_range *r = &ps->p->ranges[k];
		uint64_t sz;

		if (!ps->r[k].valid)
			continue;
		sz = range_size(r);
		if (r->lo.family == 4) {
			if (ps->p->avoid_buggy_ips) {
				int64_t lo = (int64_t)r->lo.b[0] << 24 | r->lo.b[1] << 16 | r->lo.b[2] << 8 | r->lo.b[3];
				int64_t hi = (int64_t)r->hi.b[0] << 24 | r->hi.b[1] << 16 | r->hi.b[2] << 8 | r->hi.b[3];

				sz -= buggy_upto(hi) - buggy_upto(lo - 1);
			}
			out->size_v4 = sat_add(out->size_v4, sz);
		} else {
			out->size_v6 = sat_add(out->size_v6, sz);
		}
	}
	out->size = sat_add(out->size_v4, out->size_v6);
	out->in_use_v4 = ps->in_use_v4;
	out->in_use_v6 = ps->in_use_v6;
	out->in_use = ps->in_use_v4 + ps->in_use_v6;
}

size_t lb_alloc_n_orphans(const struct lb_alloc *a)
{
	return a->n_orphans;
}

static int ent_cmp(const void *x, const void *y)
{
	const struct svcent *a = *(struct svcent *const *)x, *b = *(struct svcent *const *)y;
	int c = strcmp(a->ns, b->ns);

	return c ? c : strcmp(a->name, b->name);
}

int lb_alloc_walk(const struct lb_alloc *a,
		  void (*fn)(void *ctx, const struct lb_alloc_entry *e), void *ctx)
{
	struct svcent **v = a->svcs.count ? malloc(a->svcs.count * sizeof(*v)) : NULL;
	size_t n = 0;

	if (a->svcs.count && !v)
		return -ENOMEM;
	HTAB_WALK(&a->svcs, hn)
		v[n++] = container_of(hn, struct svcent, node);
	vec_sort(v, n, sizeof(*v), ent_cmp);
	for (size_t i = 0; i < n; i++) {
		struct lb_result r;
		struct lb_alloc_entry e;

		fill(v[i], &r);
		e = (struct lb_alloc_entry){ .ns = v[i]->ns, .name = v[i]->name, .pool = v[i]->pool,
					     .orphan = v[i]->orphan, .ips = r.ips, .n_ips = r.n_ips };
		fn(ctx, &e);
	}
	free(v);
	return 0;
}
