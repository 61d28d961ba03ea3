/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The desired-state model: building, copying, comparing, endpoint choice. */
#include "nft/model.h"
#include "core/log.h"
#include "core/vec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fstate_init(struct fstate *s)
{
	memset(s, 0, sizeof(*s));
}

void fsvc_free(struct fsvc *v)
{
	free(v->key);
	free(v->cluster_ips);
	free(v->external_ips);
	free(v->lb_ips);
	free(v->source_ranges);
	free(v->eps);
}

void fnode_free(struct fnode *n)
{
	free(n->node_ips);
	free(n->nodeport_cidrs);
	free(n->pod_cidrs);
	free(n->service_cidrs);
}

void fstate_free(struct fstate *s)
{
	for (size_t i = 0; i < s->n_svcs; i++)
		fsvc_free(&s->svcs[i]);
	free(s->svcs);
	fnode_free(&s->node);
	fstate_init(s);
}

struct fsvc *fstate_add_svc(struct fstate *s, const char *key)
{
	if (strlen(key) > FSVC_KEY_MAX)
		return NULL;
	if (vec_grow((void **)&s->svcs, &s->cap_svcs, s->n_svcs + 1, sizeof(*s->svcs)))
		return NULL;
	struct fsvc *v = &s->svcs[s->n_svcs];
	memset(v, 0, sizeof(*v));
	/* the key on its own: most are far shorter than FSVC_KEY_MAX, and a
	 * state is held up to three times at 10,000s of ports */
	if (!(v->key = strdup(key)))
		return NULL;
	s->n_svcs++;
	return v;
}

int fsvc_add_addr(struct faddr **list, size_t *n, const struct faddr *a)
{
	struct faddr *l = realloc(*list, (*n + 1) * sizeof(*l));
	if (!l)
		return -ENOMEM;
	l[(*n)++] = *a;
	*list = l;
	return 0;
}

struct fendpoint *fsvc_add_ep(struct fsvc *v)
{
	struct fendpoint *e = realloc(v->eps, (v->n_eps + 1) * sizeof(*e));
	if (!e)
		return NULL;
	v->eps = e;
	e = &v->eps[v->n_eps++];
	memset(e, 0, sizeof(*e));
	return e;
}

/* Copies an array into *dst (NULL when empty or out of memory); the first
 * failure stays in *err. Always sets *dst, so a half-made copy frees cleanly. */
static void dup_arr(int *err, void **dst, const void *src, size_t n, size_t sz)
{
	*dst = NULL;
	if (!n)
		return;
	*dst = malloc(n * sz);
	if (!*dst) {
		if (!*err)
			*err = -ENOMEM;
		return;
	}
	memcpy(*dst, src, n * sz);
}

int fsvc_copy(struct fsvc *d, const struct fsvc *v)
{
	int r = 0;
	*d = *v;
	d->key = strdup(v->key);
	if (!d->key)
		r = -ENOMEM;
	dup_arr(&r, (void **)&d->cluster_ips, v->cluster_ips, v->n_cluster_ips, sizeof(struct faddr));
	dup_arr(&r, (void **)&d->external_ips, v->external_ips, v->n_external_ips, sizeof(struct faddr));
	dup_arr(&r, (void **)&d->lb_ips, v->lb_ips, v->n_lb_ips, sizeof(struct faddr));
	dup_arr(&r, (void **)&d->source_ranges, v->source_ranges, v->n_source_ranges, sizeof(struct faddr));
	dup_arr(&r, (void **)&d->eps, v->eps, v->n_eps, sizeof(struct fendpoint));
	if (r) {
		fsvc_free(d);
		memset(d, 0, sizeof(*d));
		return -ENOMEM;
	}
	return 0;
}

int fnode_copy(struct fnode *d, const struct fnode *n)
{
	int r = 0;
	*d = *n;
	dup_arr(&r, (void **)&d->node_ips, n->node_ips, n->n_node_ips, sizeof(struct faddr));
	dup_arr(&r, (void **)&d->nodeport_cidrs, n->nodeport_cidrs, n->n_nodeport_cidrs, sizeof(struct faddr));
	dup_arr(&r, (void **)&d->pod_cidrs, n->pod_cidrs, n->n_pod_cidrs, sizeof(struct faddr));
	dup_arr(&r, (void **)&d->service_cidrs, n->service_cidrs, n->n_service_cidrs, sizeof(struct faddr));
	if (r) {
		fnode_free(d);
		memset(d, 0, sizeof(*d));
		return -ENOMEM;
	}
	return 0;
}

int fstate_copy(struct fstate *dst, const struct fstate *src)
{
	int r = 0;

	fstate_init(dst);
	dst->node = src->node;
	dup_arr(&r, (void **)&dst->node.node_ips, src->node.node_ips, src->node.n_node_ips, sizeof(struct faddr));
	dup_arr(&r, (void **)&dst->node.nodeport_cidrs, src->node.nodeport_cidrs, src->node.n_nodeport_cidrs, sizeof(struct faddr));
	dup_arr(&r, (void **)&dst->node.pod_cidrs, src->node.pod_cidrs, src->node.n_pod_cidrs, sizeof(struct faddr));
	dup_arr(&r, (void **)&dst->node.service_cidrs, src->node.service_cidrs, src->node.n_service_cidrs, sizeof(struct faddr));
	dup_arr(&r, (void **)&dst->svcs, src->svcs, src->n_svcs, sizeof(struct fsvc));
	if (r) {
		dst->n_svcs = 0;
		fstate_free(dst);
		return -ENOMEM;
	}
	dst->cap_svcs = src->n_svcs;
	/* fsvc_copy leaves a failed entry empty: every entry up to n is owned */
	for (size_t i = 0; i < src->n_svcs; i++, dst->n_svcs++)
		if (fsvc_copy(&dst->svcs[i], &src->svcs[i]) && !r)
			r = -ENOMEM;
	if (r) {
		fstate_free(dst);
		return -ENOMEM;
	}
	return 0;
}

static int svc_cmp(const void *a, const void *b)
{
	return strcmp(((const struct fsvc *)a)->key, ((const struct fsvc *)b)->key);
}

void fstate_sort(struct fstate *s)
{
	vec_sort(s->svcs, s->n_svcs, sizeof(*s->svcs), svc_cmp);
}

/* The first index whose key is not below `key` (with its first n bytes). */
static size_t lower_bound(const struct fstate *s, const char *key, size_t n)
{
	size_t lo = 0, hi = s->n_svcs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strncmp(s->svcs[mid].key, key, n) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct fsvc *fstate_find(const struct fstate *s, const char *key)
{
	size_t i = lower_bound(s, key, FSVC_KEY_MAX + 2);

	return i < s->n_svcs && !strcmp(s->svcs[i].key, key) ? &s->svcs[i] : NULL;
}

void fstate_service_range(const struct fstate *s, const char *svc, size_t *lo, size_t *hi)
{
	char prefix[FSVC_KEY_MAX + 2];
	int n = snprintf(prefix, sizeof(prefix), "%s:", svc);

	if (n < 0 || (size_t)n >= sizeof(prefix)) {
		*lo = *hi = 0;
		return;
	}
	*lo = lower_bound(s, prefix, (size_t)n);
	/* keys with the prefix compare equal on its n bytes: skip them */
	for (*hi = *lo; *hi < s->n_svcs && !strncmp(s->svcs[*hi].key, prefix, (size_t)n); ++*hi)
		;
}

struct range { size_t lo, hi; };

static int range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The non-empty ranges of `svcs` in `s`, in index order; their total size. */
static struct range *service_ranges(const struct fstate *s, const char *const *svcs, size_t n,
				    size_t *n_r, size_t *total)
{
	struct range *r = calloc(n + 1, sizeof(*r));

	*n_r = *total = 0;
	if (!r)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		fstate_service_range(s, svcs[i], &r[*n_r].lo, &r[*n_r].hi);
		if (r[*n_r].hi > r[*n_r].lo) {
			*total += r[*n_r].hi - r[*n_r].lo;
			++*n_r;
		}
	}
	/* "a/b-c:" sorts before "a/b:" though "a/b" sorts before "a/b-c" */
	vec_sort(r, *n_r, sizeof(*r), range_cmp);
	return r;
}

int fstate_dropped_keys(const struct fstate *s, const char *const *svcs, size_t n,
			const struct fstate *ports, const char ***keys, size_t *n_keys)
{
	size_t n_r, total;
	struct range *r = service_ranges(s, svcs, n, &n_r, &total);

	*keys = r ? calloc(total + 1, sizeof(**keys)) : NULL;
	*n_keys = 0;
	if (!*keys) {
		free(r);
		return -ENOMEM;
	}
	for (size_t k = 0; k < n_r; k++)
		for (size_t i = r[k].lo; i < r[k].hi; i++)
			if (!fstate_find(ports, s->svcs[i].key))
				(*keys)[(*n_keys)++] = s->svcs[i].key;
	free(r);
	return 0;
}

int fstate_replace_services(struct fstate *s, const char *const *svcs, size_t n,
			    struct fstate *ports, struct fstate *old)
{
	size_t n_r, total;
	struct range *r = service_ranges(s, svcs, n, &n_r, &total);
	struct fsvc *merged = r ? calloc(s->n_svcs - total + ports->n_svcs + 1, sizeof(*merged)) : NULL;
	struct fsvc *gone = merged ? calloc(total + 1, sizeof(*gone)) : NULL;
	size_t i = 0, j = 0, k = 0, m = 0, g = 0;

	if (!gone) {
		free(merged);
		free(r);
		return -ENOMEM;
	}
	/* The same keys as before (endpoints or addresses changed, the usual
	 * case): swap in place, O(changes) rather than a merge of everything. */
	bool same_keys = total == ports->n_svcs;
	for (k = 0; k < n_r && same_keys; k++)
		for (i = r[k].lo; i < r[k].hi && same_keys; i++)
			same_keys = !strcmp(s->svcs[i].key, ports->svcs[j++].key);
	if (same_keys) {
		for (k = 0, j = 0; k < n_r; k++)
			for (i = r[k].lo; i < r[k].hi; i++) {
				gone[g++] = s->svcs[i];
				s->svcs[i] = ports->svcs[j++];
			}
		free(merged);
		goto done;
	}
	i = j = k = 0;
	/* a merge of `s` without the ranges and `ports`, both sorted */
	while (i < s->n_svcs || j < ports->n_svcs) {
		if (k < n_r && i == r[k].lo) {
			while (i < r[k].hi)
				gone[g++] = s->svcs[i++];
			k++;
		} else if (j == ports->n_svcs ||
			   (i < s->n_svcs && strcmp(s->svcs[i].key, ports->svcs[j].key) < 0)) {
			merged[m++] = s->svcs[i++];
		} else {
			merged[m++] = ports->svcs[j++];
		}
	}
	free(s->svcs);
	s->svcs = merged;
	s->n_svcs = s->cap_svcs = m;
done:
	ports->n_svcs = 0;
	fstate_free(old);
	old->svcs = gone;
	old->n_svcs = old->cap_svcs = g;
	free(r);
	return 0;
}

static bool addrs_equal(const struct faddr *a, size_t na, const struct faddr *b, size_t nb)
{
	return na == nb && (!na || !memcmp(a, b, na * sizeof(*a)));
}

bool fsvc_equal(const struct fsvc *a, const struct fsvc *b)
{
	if (strcmp(a->key, b->key) || a->proto != b->proto || a->port != b->port ||
	    a->node_port != b->node_port || a->external_policy != b->external_policy ||
	    a->internal_policy != b->internal_policy || a->affinity_timeout != b->affinity_timeout)
		return false;
	if (a->n_eps != b->n_eps)
		return false;
	for (size_t i = 0; i < a->n_eps; i++) {
		const struct fendpoint *x = &a->eps[i], *y = &b->eps[i];
		if (memcmp(&x->addr, &y->addr, sizeof(x->addr)) || x->port != y->port ||
		    x->ready != y->ready || x->serving != y->serving ||
		    x->terminating != y->terminating || x->local != y->local ||
		    x->hinted_away != y->hinted_away)
			return false;
	}
	return addrs_equal(a->cluster_ips, a->n_cluster_ips, b->cluster_ips, b->n_cluster_ips) &&
	       addrs_equal(a->external_ips, a->n_external_ips, b->external_ips, b->n_external_ips) &&
	       addrs_equal(a->lb_ips, a->n_lb_ips, b->lb_ips, b->n_lb_ips) &&
	       addrs_equal(a->source_ranges, a->n_source_ranges, b->source_ranges, b->n_source_ranges);
}

bool fsvc_same(const struct fsvc *a, const struct fsvc *b)
{
	if (a->version && a->version == b->version)
		return !strcmp(a->key, b->key);
	return fsvc_equal(a, b);
}

bool fnode_equal(const struct fnode *a, const struct fnode *b)
{
	return a->masquerade_all == b->masquerade_all && fnode_masq_mark(a) == fnode_masq_mark(b) &&
	       !strcmp(a->pod_iface, b->pod_iface) && a->pod_iface_prefix == b->pod_iface_prefix &&
	       addrs_equal(a->service_cidrs, a->n_service_cidrs, b->service_cidrs, b->n_service_cidrs) &&
	       addrs_equal(a->node_ips, a->n_node_ips, b->node_ips, b->n_node_ips) &&
	       addrs_equal(a->nodeport_cidrs, a->n_nodeport_cidrs, b->nodeport_cidrs, b->n_nodeport_cidrs) &&
	       addrs_equal(a->pod_cidrs, a->n_pod_cidrs, b->pod_cidrs, b->n_pod_cidrs);
}

int faddr_parse(struct faddr *a, const char *s)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);

	memset(a, 0, sizeof(*a));
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = 0;
	if (inet_pton(AF_INET, buf, a->a) == 1) {
		a->family = AF_INET;
		a->plen = 32;
	} else if (inet_pton(AF_INET6, buf, a->a) == 1) {
		a->family = AF_INET6;
		a->plen = 128;
	} else {
		return -EINVAL;
	}
	if (slash) {
		char *end;
		long p = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || p < 0 || p > a->plen)
			return -EINVAL;
		a->plen = (uint8_t)p;
		/* Keep only the network part: equal prefixes compare equal. */
		for (int bit = a->plen; bit < (a->family == AF_INET ? 32 : 128); bit++)
			a->a[bit / 8] &= (uint8_t)~(0x80 >> (bit % 8));
	}
	return 0;
}

const char *faddr_str(const struct faddr *a, char *buf, size_t len)
{
	char t[INET6_ADDRSTRLEN];
	int full = a->family == AF_INET ? 32 : 128;

	if (!inet_ntop(a->family, a->a, t, sizeof(t)))
		snprintf(t, sizeof(t), "?");
	if (a->plen == full)
		snprintf(buf, len, "%s", t);
	else
		snprintf(buf, len, "%s/%u", t, a->plen);
	return buf;
}

const char *fproto_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	case IPPROTO_SCTP: return "sctp";
	}
	return "?";
}

int fproto_parse(const char *s)
{
	if (!strcasecmp(s, "tcp")) return IPPROTO_TCP;
	if (!strcasecmp(s, "udp")) return IPPROTO_UDP;
	if (!strcasecmp(s, "sctp")) return IPPROTO_SCTP;
	return -1;
}

size_t fsvc_pick_eps(const struct fsvc *v, int family, bool local_only,
		     const struct fendpoint **out)
{
	size_t n = 0;

	for (size_t i = 0; i < v->n_eps; i++) {
		const struct fendpoint *e = &v->eps[i];
		if (e->addr.family == family && e->ready &&
		    (local_only ? e->local : !e->hinted_away))
			out[n++] = e;
	}
	if (n)
		return n;
	/* No ready endpoint: fall back to serving, terminating ones. */
	for (size_t i = 0; i < v->n_eps; i++) {
		const struct fendpoint *e = &v->eps[i];
		if (e->addr.family == family && e->serving && e->terminating &&
		    (!local_only || e->local))
			out[n++] = e;
	}
	return n;
}

static bool addrs_ok(const struct faddr *l, size_t n, bool host)
{
	for (size_t i = 0; i < n; i++) {
		int full = l[i].family == AF_INET ? 32 : 128;

		if ((l[i].family != AF_INET && l[i].family != AF_INET6) || (host && l[i].plen != full))
			return false;
	}
	return true;
}

/* What is wrong with one service port, or NULL. */
static const char *svc_problem(const struct fsvc *v)
{
	if (!v->key || !v->key[0])
		return "no key";
	if (v->proto != IPPROTO_TCP && v->proto != IPPROTO_UDP && v->proto != IPPROTO_SCTP)
		return "protocol";
	if (!v->port)
		return "port 0";
	if (!addrs_ok(v->cluster_ips, v->n_cluster_ips, true))
		return "clusterIPs";
	if (!addrs_ok(v->external_ips, v->n_external_ips, true))
		return "externalIPs";
	if (!addrs_ok(v->lb_ips, v->n_lb_ips, true))
		return "loadBalancerIPs";
	if (!addrs_ok(v->source_ranges, v->n_source_ranges, false))
		return "sourceRanges";
	for (size_t k = 0; k < v->n_eps; k++) {
		const struct fendpoint *e = &v->eps[k];
		int full = e->addr.family == AF_INET ? 32 : 128;

		if ((e->addr.family != AF_INET && e->addr.family != AF_INET6) ||
		    e->addr.plen != full || !e->port)
			return "endpoint";
	}
	return NULL;
}

int fstate_check(const struct fstate *s)
{
	for (size_t i = 0; i < s->n_svcs; i++) {
		const struct fsvc *v = &s->svcs[i];
		const char *why = svc_problem(v);

		if (!why && i > 0 && !strcmp(s->svcs[i - 1].key, v->key))
			why = "duplicate";
		if (why) {
			log_err("nft", "bad service", "service=%s field=%s", log_q(v->key), why);
			return -EINVAL;
		}
	}
	return 0;
}

size_t fstate_drop_bad(struct fstate *s)
{
	size_t kept = 0, n = s->n_svcs;

	for (size_t i = 0; i < n; i++) {
		struct fsvc *v = &s->svcs[i];
		const char *why = svc_problem(v);

		if (!why && kept && !strcmp(s->svcs[kept - 1].key, v->key))
			why = "duplicate";
		if (why) {
			log_warn("nft", "service port left out; the others are programmed",
				 "service=%s field=%s", log_q(v->key ? v->key : ""), why);
			fsvc_free(v);
			continue;
		}
		if (kept != i)
			s->svcs[kept] = *v;
		kept++;
	}
	s->n_svcs = kept;
	return n - kept;
}
