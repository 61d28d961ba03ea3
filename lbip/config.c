/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * MetalLB configuration -> struct lb_config (lbip/configparse.h).
 *
 * Text is loaded into a libyaml document (JSON is YAML flow style, so the
 * API's JSON goes through the same reader) and walked by hand. Each format
 * fills a `part`: a config plus, per pool/advertisement/peer, the path its
 * errors are reported under. Checks that need the whole picture (overlaps,
 * duplicate names, community names, aggregation lengths, BFD profiles) run
 * in lb_config_finish on the part that wins.
 */
#include "lbip/configparse.h"
#include "lbip/range.h"
#include "core/vec.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define PATH_MAX_LEN 512

/* ---- error list ---- */

#define LB_MAX_FINDINGS 1000	/* kept in a list; the rest are only counted */

static void add_finding(struct lb_errors *e, bool warning, const char *path, const char *fmt, va_list ap)
{
	struct lb_error *x;
	char *msg;

	if (e->n > LB_MAX_FINDINGS) {
		e->n_errors += !warning;
		return;
	}
	if (e->n == LB_MAX_FINDINGS) {
		path = "";
		fmt = "too many findings; the rest are not shown";
	}

	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	if (vec_grow((void **)&e->v, &e->cap, e->n + 1, sizeof(*e->v))) {
		free(msg);
		if (!warning)
			e->n_errors++;	/* still refuses the config */
		return;
	}
	x = &e->v[e->n++];
	x->path = strdup(path ? path : "");
	x->msg = msg;
	x->warning = warning;
	if (!warning)
		e->n_errors++;
}

static void __attribute__((format(printf, 3, 4)))
err_at(struct lb_errors *e, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_finding(e, false, path, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 3, 4)))
warn_at(struct lb_errors *e, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_finding(e, true, path, fmt, ap);
	va_end(ap);
}

void lb_errors_free(struct lb_errors *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->v[i].path);
		free(e->v[i].msg);
	}
	free(e->v);
	memset(e, 0, sizeof(*e));
}

/* ---- the configuration ---- */

/* Append one zeroed element to an array of lb_config, which has no
 * capacity field: the capacity is implied by the count, as vec_grow
 * leaves it (8, then doubling), so appends stay amortised O(1). */
static void *push(void *arrp, size_t *n, size_t size)
{
	void **arr = arrp;
	size_t cap = 0;
	char *p;

	if (*arr)
		for (cap = 8; cap < *n; cap *= 2)
			;
	if (vec_grow(arr, &cap, *n + 1, size))
		return NULL;
	p = (char *)*arr + *n * size;
	memset(p, 0, size);
	(*n)++;
	return p;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void lb_config_free(struct lb_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_pools; i++) {
		struct lb_pool *p = &c->pools[i];

		free(p->name);
		free(p->ranges);
		free_strv(p->namespaces, p->n_namespaces);
		lb_selectors_free(p->namespace_selectors, p->n_namespace_selectors);
		lb_selectors_free(p->service_selectors, p->n_service_selectors);
		for (size_t j = 0; j < p->n_labels; j++) {
			free((char *)p->labels[j].key);
			free((char *)p->labels[j].value);
		}
		free(p->labels);
	}
	free(c->pools);
	for (size_t i = 0; i < c->n_l2_advs; i++) {
		struct lb_l2_adv *a = &c->l2_advs[i];

		free(a->name);
		free_strv(a->pools, a->n_pools);
		lb_selectors_free(a->pool_selectors, a->n_pool_selectors);
		lb_selectors_free(a->node_selectors, a->n_node_selectors);
		free_strv(a->interfaces, a->n_interfaces);
	}
	free(c->l2_advs);
	for (size_t i = 0; i < c->n_bgp_advs; i++) {
		struct lb_bgp_adv *a = &c->bgp_advs[i];

		free(a->name);
		free(a->communities);
		free_strv(a->pools, a->n_pools);
		lb_selectors_free(a->pool_selectors, a->n_pool_selectors);
		lb_selectors_free(a->node_selectors, a->n_node_selectors);
		free_strv(a->peers, a->n_peers);
		free(a->pool);
	}
	free(c->bgp_advs);
	for (size_t i = 0; i < c->n_peers; i++) {
		struct lb_peer *p = &c->peers[i];

		free(p->name);
		free(p->password);
		free(p->bfd_profile);
		lb_selectors_free(p->node_selectors, p->n_node_selectors);
	}
	free(c->peers);
	free_strv(c->bfd_profiles, c->n_bfd_profiles);
	free(c);
}

/* ---- builder ---- */

struct named_community {
	char *name, *where;
	struct lb_community c;
};

/* The raw community strings of one BGP advertisement, resolved at finish. */
struct adv_communities {
	char **v;
	size_t n;
};

/* Bounds on what one configuration may hold: aliases let a small text
 * name a huge tree, and the whole checks compare pairs. */
#define LB_MAX_ITEMS 200000		/* list entries and map pairs walked */
#define LB_MAX_FIELDS 64		/* fields of one object */
#define LB_MAX_OBJECTS 4096		/* pools, advertisements */
#define LB_MAX_SMALL 1024		/* peers, BFD profiles, named communities */

struct part {
	struct lb_config *c;
	bool legacy, used, too_big;
	size_t items;
	VEC(char *) pool_where;		/* "address-pools[1]" / "IPAddressPool ns/a: spec" */
	VEC(char *) badv_where;
	VEC(char *) peer_where;
	VEC(char *) bfd_where;
	VEC(struct adv_communities) badv_comms;
	VEC(struct named_community) communities;
	struct lb_errors errs;
};

struct lb_config_builder {
	struct part cm, crd;
};

static void part_clear(struct part *p)
{
	lb_config_free(p->c);
	p->c = NULL;
#define FREE_WHERE(vec) do { for (size_t i = 0; i < (vec).n; i++) free((vec).v[i]); vec_free(&(vec)); } while (0)
	FREE_WHERE(p->pool_where);
	FREE_WHERE(p->badv_where);
	FREE_WHERE(p->peer_where);
	FREE_WHERE(p->bfd_where);
#undef FREE_WHERE
	for (size_t i = 0; i < p->badv_comms.n; i++)
		free_strv(p->badv_comms.v[i].v, p->badv_comms.v[i].n);
	vec_free(&p->badv_comms);
	for (size_t i = 0; i < p->communities.n; i++) {
		free(p->communities.v[i].name);
		free(p->communities.v[i].where);
	}
	vec_free(&p->communities);
	lb_errors_free(&p->errs);
	p->used = false;
}

static int part_init(struct part *p, bool legacy)
{
	memset(p, 0, sizeof(*p));
	p->legacy = legacy;
	p->c = calloc(1, sizeof(*p->c));
	if (!p->c)
		return -ENOMEM;
	p->c->source = legacy ? LB_SRC_CONFIGMAP : LB_SRC_CRDS;
	return 0;
}

struct lb_config_builder *lb_config_builder_new(void)
{
	struct lb_config_builder *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	if (part_init(&b->cm, true) || part_init(&b->crd, false)) {
		lb_config_builder_free(b);
		return NULL;
	}
	return b;
}

void lb_config_builder_free(struct lb_config_builder *b)
{
	if (!b)
		return;
	part_clear(&b->cm);
	part_clear(&b->crd);
	free(b);
}

/* ---- YAML helpers ---- */

struct ctx {
	yaml_document_t *doc;
	struct part *p;
	struct lb_errors *e;		/* = &p->errs */
};

/* Paths longer than PATH_MAX_LEN are cut: still good enough to find the field. */
static void __attribute__((format(printf, 2, 3))) path_fmt(char *buf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, PATH_MAX_LEN, fmt, ap);
	va_end(ap);
}

static void join(char *buf, const char *parent, const char *field)
{
	size_t n = strlen(parent);

	if (!n || (n >= 2 && !strcmp(parent + n - 2, ": ")))
		path_fmt(buf, "%s%s", parent, field);
	else
		path_fmt(buf, "%s.%s", parent, field);
}

static void joini(char *buf, const char *parent, size_t i)
{
	path_fmt(buf, "%s[%zu]", parent, i);
}

static bool budget_ok(struct ctx *x)
{
	if (++x->p->items <= LB_MAX_ITEMS)
		return true;
	if (!x->p->too_big)
		err_at(x->e, "", "configuration too large: more than %d list entries (ferry's limit)",
		       LB_MAX_ITEMS);
	x->p->too_big = true;
	return false;
}

static yaml_node_t *node(struct ctx *x, int id)
{
	return yaml_document_get_node(x->doc, id);
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bool plain(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool is_null(yaml_node_t *n)
{
	const char *s = scalar(n);

	if (!n)
		return true;
	return plain(n) && (!*s || !strcmp(s, "~") || !strcmp(s, "null") ||
			    !strcmp(s, "Null") || !strcmp(s, "NULL"));
}

static const char *kind_of(yaml_node_t *n)
{
	if (!n)
		return "nothing";
	return n->type == YAML_MAPPING_NODE ? "a mapping" :
	       n->type == YAML_SEQUENCE_NODE ? "a list" : "a scalar";
}

/* The value under key in a mapping, NULL when absent. */
static yaml_node_t *get(struct ctx *x, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		const char *k = scalar(node(x, pr->key));

		if (k && !strcmp(k, key))
			return node(x, pr->value);
	}
	return NULL;
}

static bool in_list(const char *s, const char *const *list)
{
	for (; list && *list; list++)
		if (!strcmp(s, *list))
			return true;
	return false;
}

/* Strict decoding as MetalLB's yaml.UnmarshalStrict: every key known, none
 * twice. Keys in `unsupported` are MetalLB's but ferry ignores them: warned. */
static bool check_map(struct ctx *x, yaml_node_t *map, const char *path,
		      const char *const *known, const char *const *unsupported)
{
	char sub[PATH_MAX_LEN];

	if (!map || map->type != YAML_MAPPING_NODE) {
		err_at(x->e, path, "must be a mapping, not %s", kind_of(map));
		return false;
	}
	if (map->data.mapping.pairs.top - map->data.mapping.pairs.start > LB_MAX_FIELDS) {
		err_at(x->e, path, "more than %d fields", LB_MAX_FIELDS);
		return false;
	}
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		const char *k = scalar(node(x, pr->key));

		if (!k) {
			err_at(x->e, path, "a key must be a string");
			continue;
		}
		join(sub, path, k);
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pr; q++) {
			const char *qk = scalar(node(x, q->key));

			if (qk && !strcmp(qk, k))
				err_at(x->e, sub, "field given twice");
		}
		if (in_list(k, unsupported))
			warn_at(x->e, sub, "not supported by ferry, ignored");
		else if (!in_list(k, known))
			err_at(x->e, sub, "unknown field");
	}
	/* Bad keys are reported but the known ones are still read, so one
	 * run shows every mistake. */
	return true;
}

/* A string field; NULL value leaves *out NULL. */
static bool get_str(struct ctx *x, yaml_node_t *n, const char *path, char **out)
{
	const char *s;

	*out = NULL;
	if (!n || is_null(n))
		return true;
	if (!(s = scalar(n))) {
		err_at(x->e, path, "must be a string, not %s", kind_of(n));
		return false;
	}
	*out = strdup(s);
	if (!*out) {
		err_at(x->e, path, "out of memory");
		return false;
	}
	return true;
}

static bool get_bool(struct ctx *x, yaml_node_t *n, const char *path, bool *out)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", NULL };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", NULL };
	const char *s = scalar(n);

	if (!n || is_null(n))
		return true;
	if (plain(n) && in_list(s, yes))
		*out = true;
	else if (plain(n) && in_list(s, no))
		*out = false;
	else {
		err_at(x->e, path, "must be true or false");
		return false;
	}
	return true;
}

/* A decimal integer in [min, max]. */
static bool get_int(struct ctx *x, yaml_node_t *n, const char *path, long long min, long long max,
		    long long *out)
{
	const char *s = scalar(n);
	char *end;
	long long v;

	if (!plain(n) || !*s) {
		err_at(x->e, path, "must be an integer, not %s", s ? "a string" : kind_of(n));
		return false;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end || errno) {
		err_at(x->e, path, "\"%s\" is not an integer", s);
		return false;
	}
	if (v < min || v > max) {
		err_at(x->e, path, "%lld is out of range %lld..%lld", v, min, max);
		return false;
	}
	*out = v;
	return true;
}

static bool get_strv(struct ctx *x, yaml_node_t *n, const char *path, char ***out, size_t *nout)
{
	char sub[PATH_MAX_LEN];
	bool ok = true;

	if (!n || is_null(n))
		return true;
	if (n->type != YAML_SEQUENCE_NODE) {
		err_at(x->e, path, "must be a list, not %s", kind_of(n));
		return false;
	}
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top && budget_ok(x); it++) {
		char **slot;

		joini(sub, path, it - n->data.sequence.items.start);
		slot = push(out, nout, sizeof(**out));
		if (!slot) {
			err_at(x->e, sub, "out of memory");
			return false;
		}
		if (!get_str(x, node(x, *it), sub, slot) || !*slot) {
			if (!*slot && ok)
				err_at(x->e, sub, "must be a string");
			ok = false;
			free(*slot);
			(*nout)--;	/* the lists never hold NULL */
		}
	}
	return ok;
}

/* MetalLB's validateDuplicate. */
static void no_duplicates(struct ctx *x, char **v, size_t n, const char *path)
{
	char sub[PATH_MAX_LEN];

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (v[i] && v[j] && !strcmp(v[i], v[j])) {
				joini(sub, path, i);
				err_at(x->e, sub, "duplicate definition of \"%s\"", v[i]);
				break;
			}
}

/* Iterate a list node; wrong type is reported once. */
static bool is_list(struct ctx *x, yaml_node_t *n, const char *path)
{
	if (!n || is_null(n))
		return false;
	if (n->type != YAML_SEQUENCE_NODE) {
		err_at(x->e, path, "must be a list, not %s", kind_of(n));
		return false;
	}
	return true;
}

#define FOR_ITEMS(n, it, i) \
	for (yaml_node_item_t *it = (n)->data.sequence.items.start; \
	     it < (n)->data.sequence.items.top && budget_ok(x); it++) \
		for (size_t i = it - (n)->data.sequence.items.start, _once = 1; _once; _once = 0)

/* ---- shared value parsers ---- */

int lb_parse_duration(const char *s, uint64_t *seconds)
{
	static const struct { const char *u; double sec; } units[] = {
		{ "ns", 1e-9 }, { "us", 1e-6 }, { "\xc2\xb5s", 1e-6 }, { "\xce\xbcs", 1e-6 },
		{ "ms", 1e-3 }, { "s", 1 }, { "m", 60 }, { "h", 3600 },
	};
	double total = 0;

	if (*s == '+')
		s++;
	if (!strcmp(s, "0")) {
		*seconds = 0;
		return 0;
	}
	if (!*s)
		return -EINVAL;
	while (*s) {
		double v = 0, frac = 0.1;
		bool digits = false;
		size_t best = 0, ui = 0;

		while (*s >= '0' && *s <= '9')
			v = v * 10 + (*s++ - '0'), digits = true;
		if (*s == '.') {
			s++;
			while (*s >= '0' && *s <= '9')
				v += (*s++ - '0') * frac, frac /= 10, digits = true;
		}
		if (!digits)
			return -EINVAL;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t l = strlen(units[i].u);

			if (!strncmp(s, units[i].u, l) && l > best)
				best = l, ui = i;
		}
		if (!best)
			return -EINVAL;
		s += best;
		total += v * units[ui].sec;
	}
	/* Go's Duration is int64 nanoseconds: about 292 years. */
	if (!isfinite(total) || total > 9.2e9)
		return -EINVAL;
	*seconds = (uint64_t)floor(total + 1e-9);
	return 0;
}

static bool parse_uint_part(const char *s, size_t len, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;

	if (!len || len > 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v > max)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* "a:b" (16-bit each) or "large:a:b:c" (32-bit each). -EINVAL on a bad
 * value, -ENOENT when the text has neither shape (could be a name). */
static int parse_community(const char *s, struct lb_community *c)
{
	const char *f[5];
	size_t nf = 0;

	memset(c, 0, sizeof(*c));
	f[nf++] = s;
	for (const char *p = s; *p; p++)
		if (*p == ':') {
			if (nf == 5)
				return -ENOENT;
			f[nf++] = p + 1;
		}
#define FLEN(i) ((i) + 1 < nf ? (size_t)(f[(i) + 1] - f[i] - 1) : strlen(f[i]))
	if (nf == 2) {
		for (size_t i = 0; i < 2; i++)
			if (!parse_uint_part(f[i], FLEN(i), 65535, &c->v[i]))
				return -EINVAL;
		return 0;
	}
	if (nf == 4 && FLEN(0) == 5 && !strncmp(s, "large", 5)) {
		c->large = true;
		for (size_t i = 1; i < 4; i++)
			if (!parse_uint_part(f[i], FLEN(i), UINT32_MAX, &c->v[i - 1]))
				return -EINVAL;
		return 0;
	}
#undef FLEN
	return nf == 4 ? -EINVAL : -ENOENT;
}

static bool parse_addr_field(struct ctx *x, yaml_node_t *n, const char *path, bool required,
			     bool v4_only, struct lb_addr *out)
{
	const char *s = scalar(n);

	memset(out, 0, sizeof(*out));
	if (!n || is_null(n)) {
		if (required)
			err_at(x->e, path, "missing");
		return !required;
	}
	if (!s || lb_addr_parse(s, out) || (v4_only && out->family != 4)) {
		err_at(x->e, path, "\"%s\" is not %s", s ? s : "", v4_only ? "an IPv4 address" : "an IP address");
		memset(out, 0, sizeof(*out));
		return false;
	}
	return true;
}

static const char *const sel_keys_legacy[] = { "match-labels", "match-expressions", NULL };
static const char *const sel_keys[] = { "matchLabels", "matchExpressions", NULL };
static const char *const sel_expr_keys[] = { "key", "operator", "values", NULL };

static void parse_selector(struct ctx *x, yaml_node_t *n, const char *path, struct lb_selector *sel)
{
	static const char *const ops[] = { "In", "NotIn", "Exists", "DoesNotExist", NULL };
	const char *const *keys = x->p->legacy ? sel_keys_legacy : sel_keys;
	char sub[PATH_MAX_LEN], sub2[PATH_MAX_LEN], sub3[PATH_MAX_LEN];
	yaml_node_t *v;

	if (!check_map(x, n, path, keys, NULL))
		return;
	join(sub, path, keys[0]);
	v = get(x, n, keys[0]);
	if (v && !is_null(v)) {
		if (v->type != YAML_MAPPING_NODE)
			err_at(x->e, sub, "must be a mapping of label to value");
		else
			for (yaml_node_pair_t *pr = v->data.mapping.pairs.start;
			     pr < v->data.mapping.pairs.top && budget_ok(x); pr++) {
				const char *k = scalar(node(x, pr->key)), *val = scalar(node(x, pr->value));
				struct lb_sel_req *r;

				if (!k || !val) {
					err_at(x->e, sub, "labels and values must be strings");
					continue;
				}
				r = push(&sel->reqs, &sel->n_reqs, sizeof(*r));
				if (!r || !(r->key = strdup(k)) || !push(&r->values, &r->n_values, sizeof(char *)) ||
				    !(r->values[0] = strdup(val))) {
					err_at(x->e, sub, "out of memory");
					return;
				}
				r->op = LB_SEL_IN;
			}
	}
	join(sub, path, keys[1]);
	v = get(x, n, keys[1]);
	if (!is_list(x, v, sub))
		return;
	FOR_ITEMS(v, it, i) {
		yaml_node_t *e = node(x, *it);
		struct lb_sel_req *r;
		const char *op;
		size_t oi;

		joini(sub2, sub, i);
		if (!check_map(x, e, sub2, sel_expr_keys, NULL))
			continue;
		r = push(&sel->reqs, &sel->n_reqs, sizeof(*r));
		if (!r) {
			err_at(x->e, sub2, "out of memory");
			return;
		}
		join(sub3, sub2, "key");
		get_str(x, get(x, e, "key"), sub3, &r->key);
		if (!r->key || !*r->key)
			err_at(x->e, sub3, "missing");
		join(sub3, sub2, "operator");
		op = scalar(get(x, e, "operator"));
		for (oi = 0; op && ops[oi] && strcmp(op, ops[oi]); oi++)
			;
		if (!op || !ops[oi]) {
			err_at(x->e, sub3, "\"%s\" is not a valid selector operator (In, NotIn, Exists, DoesNotExist)",
			       op ? op : "");
			continue;
		}
		r->op = (enum lb_sel_op)oi;
		join(sub3, sub2, "values");
		get_strv(x, get(x, e, "values"), sub3, &r->values, &r->n_values);
		if ((r->op == LB_SEL_IN || r->op == LB_SEL_NOT_IN) && !r->n_values)
			err_at(x->e, sub3, "must be non-empty for operator %s", op);
		if ((r->op == LB_SEL_EXISTS || r->op == LB_SEL_DOES_NOT_EXIST) && r->n_values)
			err_at(x->e, sub3, "must be empty for operator %s", op);
	}
}

static bool selectors_equal(const struct lb_selector *a, size_t na, const struct lb_selector *b, size_t nb);

static void parse_selectors(struct ctx *x, yaml_node_t *n, const char *path,
			    struct lb_selector **out, size_t *nout)
{
	char sub[PATH_MAX_LEN];

	if (!is_list(x, n, path))
		return;
	FOR_ITEMS(n, it, i) {
		struct lb_selector *s = push(out, nout, sizeof(**out));

		joini(sub, path, i);
		if (!s) {
			err_at(x->e, sub, "out of memory");
			return;
		}
		parse_selector(x, node(x, *it), sub, s);
	}
	/* MetalLB's validateLabelSelectorDuplicate (resources); a budget
	 * stop may leave fewer selectors than items, hence the bound. */
	if (x->p->legacy || *nout > LB_MAX_FIELDS)
		return;
	for (size_t i = 1; i < *nout; i++)
		for (size_t j = 0; j < i; j++)
			if (selectors_equal(&(*out)[i], 1, &(*out)[j], 1)) {
				joini(sub, path, i);
				err_at(x->e, sub, "duplicate definition of a selector");
				break;
			}
}

static bool where_push(struct ctx *x, void *vecp, const char *path)
{
	VEC(char *) *vec = vecp;
	char *s = strdup(path);

	if (!s || vec_push(vec, s)) {
		free(s);
		err_at(x->e, path, "out of memory");
		return false;
	}
	return true;
}

/* ---- pools ---- */

static void parse_addresses(struct ctx *x, yaml_node_t *n, const char *path, struct lb_pool *pool)
{
	char sub[PATH_MAX_LEN], why[160];

	if (!n || is_null(n) || (n->type == YAML_SEQUENCE_NODE &&
				 n->data.sequence.items.start == n->data.sequence.items.top)) {
		err_at(x->e, path, "pool has no addresses");
		return;
	}
	if (!is_list(x, n, path))
		return;
	FOR_ITEMS(n, it, i) {
		const char *s = scalar(node(x, *it));
		struct lb_range r;

		joini(sub, path, i);
		if (!s) {
			err_at(x->e, sub, "must be a string");
			continue;
		}
		if (lb_range_parse(s, &r, why, sizeof(why))) {
			err_at(x->e, sub, "\"%s\": %s", s, why);
			continue;
		}
		struct lb_range *slot = push(&pool->ranges, &pool->n_ranges, sizeof(r));
		if (!slot) {
			err_at(x->e, sub, "out of memory");
			return;
		}
		*slot = r;
	}
}

/* ---- BGP advertisements ---- */

static struct lb_bgp_adv *new_bgp_adv(struct ctx *x, const char *path)
{
	struct lb_config *c = x->p->c;
	struct lb_bgp_adv *a = push(&c->bgp_advs, &c->n_bgp_advs, sizeof(*a));
	struct adv_communities none = { 0 };

	if (!a || vec_push(&x->p->badv_comms, none) || !where_push(x, &x->p->badv_where, path)) {
		if (a)
			c->n_bgp_advs--;
		err_at(x->e, path, "out of memory");
		return NULL;
	}
	a->aggregation_length = 32;
	a->aggregation_length_v6 = 128;
	return a;
}

/* The fields both formats share, under their own names. */
static void parse_bgp_adv_common(struct ctx *x, yaml_node_t *n, const char *path, struct lb_bgp_adv *a,
				 const char *k_agg, const char *k_agg6, const char *k_pref)
{
	char sub[PATH_MAX_LEN];
	struct adv_communities *ac = &x->p->badv_comms.v[x->p->badv_comms.n - 1];
	long long v;
	yaml_node_t *f;

	join(sub, path, k_agg);
	/* The resource's schema says aggregationLength >= 1. */
	if ((f = get(x, n, k_agg)) && !is_null(f) && get_int(x, f, sub, x->p->legacy ? 0 : 1, 32, &v))
		a->aggregation_length = (int)v;
	join(sub, path, k_agg6);
	if ((f = get(x, n, k_agg6)) && !is_null(f) && get_int(x, f, sub, 0, 128, &v))
		a->aggregation_length_v6 = (int)v;
	join(sub, path, k_pref);
	if ((f = get(x, n, k_pref)) && !is_null(f) && get_int(x, f, sub, 0, UINT32_MAX, &v))
		a->localpref = (uint32_t)v;
	join(sub, path, "communities");
	get_strv(x, get(x, n, "communities"), sub, &ac->v, &ac->n);
	no_duplicates(x, ac->v, ac->n, sub);
}

/* ---- peers ---- */

static void peer_timers(struct ctx *x, yaml_node_t *n, const char *path, struct lb_peer *p,
			const char *k_hold, const char *k_ka)
{
	char sub[PATH_MAX_LEN], sub2[PATH_MAX_LEN];
	const char *hs = scalar(get(x, n, k_hold)), *ks = scalar(get(x, n, k_ka));
	uint64_t h = 90, k = 30;

	join(sub, path, k_hold);
	join(sub2, path, k_ka);
	if (hs && *hs && lb_parse_duration(hs, &h)) {
		err_at(x->e, sub, "invalid hold time \"%s\" (a duration like 90s)", hs);
		return;
	}
	if (hs && *hs && h && h < 3) {
		err_at(x->e, sub, "invalid hold time \"%s\": must be 0 or >=3s", hs);
		return;
	}
	k = h / 3;
	if (ks && *ks && lb_parse_duration(ks, &k)) {
		err_at(x->e, sub2, "invalid keepalive time \"%s\" (a duration like 30s)", ks);
		return;
	}
	/* Only keepalive given (resources): MetalLB derives hold = 3 x keepalive. */
	if (!x->p->legacy && ks && *ks && !(hs && *hs))
		h = k * 3;
	if (k > h) {
		err_at(x->e, sub2, "invalid keepalive time \"%s\": must not exceed the hold time", ks);
		return;
	}
	p->hold_time_s = (uint32_t)(h > UINT32_MAX ? UINT32_MAX : h);
	p->keepalive_time_s = (uint32_t)(k > UINT32_MAX ? UINT32_MAX : k);
}

struct peer_keys {
	const char *my_asn, *peer_asn, *addr, *src, *port, *hold, *ka, *rid, *pass, *multihop,
		*bfd, *nodesel;
};

static void parse_peer_common(struct ctx *x, yaml_node_t *n, const char *path, struct lb_peer *p,
			      const struct peer_keys *k)
{
	char sub[PATH_MAX_LEN];
	long long v;
	yaml_node_t *f;

	p->peer_port = 179;
	join(sub, path, k->my_asn);
	f = get(x, n, k->my_asn);
	if (!f || is_null(f))
		err_at(x->e, sub, "missing local ASN");
	else if (get_int(x, f, sub, 0, UINT32_MAX, &v) && !(p->my_asn = (uint32_t)v))
		err_at(x->e, sub, "missing local ASN (0 is not an ASN)");
	join(sub, path, k->peer_asn);
	f = get(x, n, k->peer_asn);
	if (!f || is_null(f))
		err_at(x->e, sub, "missing peer ASN");
	else if (get_int(x, f, sub, 0, UINT32_MAX, &v) && !(p->peer_asn = (uint32_t)v))
		err_at(x->e, sub, "missing peer ASN (0 is not an ASN)");
	join(sub, path, k->addr);
	parse_addr_field(x, get(x, n, k->addr), sub, true, false, &p->peer_address);
	join(sub, path, k->src);
	parse_addr_field(x, get(x, n, k->src), sub, false, false, &p->source_address);
	join(sub, path, k->rid);
	parse_addr_field(x, get(x, n, k->rid), sub, false, true, &p->router_id);
	join(sub, path, k->port);
	/* ConfigMap: 0 means the default; the resource's schema: 1..16384. */
	if ((f = get(x, n, k->port)) && !is_null(f) &&
	    get_int(x, f, sub, x->p->legacy ? 0 : 1, x->p->legacy ? 65535 : 16384, &v) && v)
		p->peer_port = (uint16_t)v;
	peer_timers(x, n, path, p, k->hold, k->ka);
	join(sub, path, k->pass);
	get_str(x, get(x, n, k->pass), sub, &p->password);
	join(sub, path, k->multihop);
	get_bool(x, get(x, n, k->multihop), sub, &p->ebgp_multihop);
	if (p->ebgp_multihop && p->my_asn && p->my_asn == p->peer_asn)
		err_at(x->e, sub, "invalid ebgp-multihop parameter set for an ibgp peer");
	join(sub, path, k->bfd);
	get_str(x, get(x, n, k->bfd), sub, &p->bfd_profile);
	if (p->bfd_profile && !*p->bfd_profile) {
		free(p->bfd_profile);
		p->bfd_profile = NULL;
	}
	if (p->bfd_profile)
		warn_at(x->e, sub, "BFD is not supported by ferry; the session runs without BFD");
	join(sub, path, k->nodesel);
	parse_selectors(x, get(x, n, k->nodesel), sub, &p->node_selectors, &p->n_node_selectors);
}

static struct lb_peer *new_peer(struct ctx *x, const char *path)
{
	struct lb_config *c = x->p->c;
	struct lb_peer *p = push(&c->peers, &c->n_peers, sizeof(*p));

	if (!p || !where_push(x, &x->p->peer_where, path)) {
		if (p)
			c->n_peers--;
		err_at(x->e, path, "out of memory");
		return NULL;
	}
	return p;
}

/* ---- BFD profiles ---- */

struct bfd_keys {
	const char *rx, *tx, *mult, *echo_iv, *ttl;
};

static void parse_bfd_common(struct ctx *x, yaml_node_t *n, const char *path, const char *name,
			     const struct bfd_keys *k)
{
	struct lb_config *c = x->p->c;
	char sub[PATH_MAX_LEN];
	long long v;
	yaml_node_t *f;
	char **slot;

	struct { const char *key; long long lo, hi; } lim[] = {
		{ k->rx, 10, 60000 }, { k->tx, 10, 60000 }, { k->mult, 2, 255 },
		{ k->echo_iv, 10, 60000 }, { k->ttl, 1, 254 },
	};
	for (size_t i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
		join(sub, path, lim[i].key);
		if ((f = get(x, n, lim[i].key)) && !is_null(f))
			get_int(x, f, sub, lim[i].lo, lim[i].hi, &v);
	}
	slot = push(&c->bfd_profiles, &c->n_bfd_profiles, sizeof(char *));
	if (!slot || !(*slot = strdup(name)) || !where_push(x, &x->p->bfd_where, path))
		err_at(x->e, path, "out of memory");
}

/* ---- the legacy ConfigMap ---- */

static const char *const legacy_pool_keys[] = { "name", "protocol", "addresses", "avoid-buggy-ips",
	"auto-assign", "bgp-advertisements", NULL };
static const char *const legacy_adv_keys[] = { "aggregation-length", "aggregation-length-v6",
	"localpref", "communities", NULL };

static void legacy_pool(struct ctx *x, yaml_node_t *n, const char *path)
{
	struct lb_config *c = x->p->c;
	char sub[PATH_MAX_LEN], sub2[PATH_MAX_LEN];
	struct lb_pool *pool;
	const char *proto;
	yaml_node_t *advs;

	if (!check_map(x, n, path, legacy_pool_keys, NULL))
		return;
	pool = push(&c->pools, &c->n_pools, sizeof(*pool));
	if (!pool || !where_push(x, &x->p->pool_where, path)) {
		if (pool)
			c->n_pools--;
		err_at(x->e, path, "out of memory");
		return;
	}
	pool->auto_assign = true;
	join(sub, path, "name");
	get_str(x, get(x, n, "name"), sub, &pool->name);
	if (!pool->name || !*pool->name)
		err_at(x->e, sub, "missing pool name");
	join(sub, path, "protocol");
	proto = scalar(get(x, n, "protocol"));
	if (!proto || !*proto)
		err_at(x->e, sub, "address pool is missing the protocol field");
	else if (!strcmp(proto, "layer2"))
		pool->protocol = LB_PROTO_LAYER2;
	else if (!strcmp(proto, "bgp"))
		pool->protocol = LB_PROTO_BGP;
	else
		err_at(x->e, sub, "unknown protocol \"%s\" (layer2 or bgp)", proto);
	join(sub, path, "addresses");
	parse_addresses(x, get(x, n, "addresses"), sub, pool);
	join(sub, path, "avoid-buggy-ips");
	get_bool(x, get(x, n, "avoid-buggy-ips"), sub, &pool->avoid_buggy_ips);
	join(sub, path, "auto-assign");
	get_bool(x, get(x, n, "auto-assign"), sub, &pool->auto_assign);

	join(sub, path, "bgp-advertisements");
	advs = get(x, n, "bgp-advertisements");
	if (advs && !is_null(advs) && pool->protocol == LB_PROTO_LAYER2) {
		err_at(x->e, sub, "cannot have bgp-advertisements in a layer2 address pool");
		return;
	}
	char *pname = pool->name ? pool->name : "";
	if (pool->protocol == LB_PROTO_LAYER2) {
		struct lb_l2_adv *l2 = push(&c->l2_advs, &c->n_l2_advs, sizeof(*l2));

		if (!l2 || !(l2->pools = calloc(1, sizeof(char *))) || !(l2->pools[0] = strdup(pname)))
			err_at(x->e, path, "out of memory");
		else
			l2->n_pools = 1;
		return;
	}
	if (pool->protocol != LB_PROTO_BGP)
		return;
	size_t n_advs = advs && advs->type == YAML_SEQUENCE_NODE ?
		(size_t)(advs->data.sequence.items.top - advs->data.sequence.items.start) : 0;
	/* A bgp pool without advertisements gets MetalLB's default one. */
	for (size_t i = 0; i < (n_advs ? n_advs : 1); i++) {
		yaml_node_t *an = n_advs ? node(x, advs->data.sequence.items.start[i]) : NULL;
		struct lb_bgp_adv *a;

		joini(sub2, sub, i);
		if (an && !check_map(x, an, sub2, legacy_adv_keys, NULL))
			continue;
		if (!(a = new_bgp_adv(x, sub2)))
			return;
		if (!(a->pool = strdup(pname)) || !(a->pools = calloc(1, sizeof(char *))) ||
		    !(a->pools[0] = strdup(pname))) {
			err_at(x->e, sub2, "out of memory");
			return;
		}
		a->n_pools = 1;
		if (an)
			parse_bgp_adv_common(x, an, sub2, a, "aggregation-length", "aggregation-length-v6",
					     "localpref");
	}
	if (advs && !is_null(advs) && !n_advs)
		is_list(x, advs, sub);
}

static const char *const legacy_peer_keys[] = { "my-asn", "peer-asn", "peer-address", "source-address",
	"peer-port", "hold-time", "keepalive-time", "router-id", "node-selectors", "password",
	"bfd-profile", "ebgp-multihop", NULL };
static const char *const legacy_peer_ignored[] = { "vrf", NULL };

static void legacy_peer(struct ctx *x, yaml_node_t *n, const char *path, size_t idx)
{
	static const struct peer_keys k = { "my-asn", "peer-asn", "peer-address", "source-address",
		"peer-port", "hold-time", "keepalive-time", "router-id", "password", "ebgp-multihop",
		"bfd-profile", "node-selectors" };
	struct lb_peer *p;

	if (!check_map(x, n, path, legacy_peer_keys, legacy_peer_ignored) || !(p = new_peer(x, path)))
		return;
	if (asprintf(&p->name, "peers[%zu]", idx) < 0)
		p->name = NULL;
	parse_peer_common(x, n, path, p, &k);
}

static const char *const legacy_bfd_keys[] = { "name", "receive-interval", "transmit-interval",
	"detect-multiplier", "echo-interval", "echo-mode", "passive-mode", "minimum-ttl", NULL };

static void legacy_bfd(struct ctx *x, yaml_node_t *n, const char *path)
{
	static const struct bfd_keys k = { "receive-interval", "transmit-interval", "detect-multiplier",
		"echo-interval", "minimum-ttl" };
	char sub[PATH_MAX_LEN];
	const char *name;
	bool b;

	if (!check_map(x, n, path, legacy_bfd_keys, NULL))
		return;
	join(sub, path, "name");
	name = scalar(get(x, n, "name"));
	if (!name || !*name) {
		err_at(x->e, sub, "missing bfd profile name");
		return;
	}
	join(sub, path, "echo-mode");
	get_bool(x, get(x, n, "echo-mode"), sub, &b);
	join(sub, path, "passive-mode");
	get_bool(x, get(x, n, "passive-mode"), sub, &b);
	parse_bfd_common(x, n, path, name, &k);
}

static void add_named_community(struct ctx *x, const char *name, const char *value, const char *path)
{
	struct named_community nc = { 0 };
	int r = parse_community(value, &nc.c);

	if (r) {
		err_at(x->e, path, "\"%s\" is not a community (a:b with 16-bit numbers, or "
		       "large:a:b:c with 32-bit numbers)", value);
		return;
	}
	nc.name = strdup(name);
	nc.where = strdup(path);
	if (!nc.name || !nc.where || vec_push(&x->p->communities, nc)) {
		free(nc.name);
		free(nc.where);
		err_at(x->e, path, "out of memory");
	}
}

static const char *const legacy_keys[] = { "peers", "bgp-communities", "address-pools", "bfd-profiles", NULL };

static void parse_legacy(struct ctx *x, yaml_node_t *root, const char *prefix)
{
	char sub[PATH_MAX_LEN], sub2[PATH_MAX_LEN];
	yaml_node_t *n;

	if (!root || is_null(root))
		return;		/* an empty config is a valid, empty one */
	if (!check_map(x, root, prefix, legacy_keys, NULL))
		return;
	join(sub, prefix, "bfd-profiles");
	if (is_list(x, (n = get(x, root, "bfd-profiles")), sub))
		FOR_ITEMS(n, it, i) {
			joini(sub2, sub, i);
			legacy_bfd(x, node(x, *it), sub2);
		}
	join(sub, prefix, "peers");
	if (is_list(x, (n = get(x, root, "peers")), sub))
		FOR_ITEMS(n, it, i) {
			joini(sub2, sub, i);
			legacy_peer(x, node(x, *it), sub2, i);
		}
	join(sub, prefix, "bgp-communities");
	n = get(x, root, "bgp-communities");
	if (n && !is_null(n)) {
		if (n->type != YAML_MAPPING_NODE)
			err_at(x->e, sub, "must be a mapping of name to community");
		else
			for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
			     pr < n->data.mapping.pairs.top && budget_ok(x); pr++) {
				const char *k = scalar(node(x, pr->key)), *v = scalar(node(x, pr->value));

				if (!k || !v) {
					err_at(x->e, sub, "names and communities must be strings");
					continue;
				}
				join(sub2, sub, k);
				add_named_community(x, k, v, sub2);
			}
	}
	join(sub, prefix, "address-pools");
	if (is_list(x, (n = get(x, root, "address-pools")), sub))
		FOR_ITEMS(n, it, i) {
			joini(sub2, sub, i);
			legacy_pool(x, node(x, *it), sub2);
		}
}

/* ---- metallb.io resources ---- */

static const char *const pool_keys[] = { "addresses", "autoAssign", "avoidBuggyIPs", "serviceAllocation", NULL };
static const char *const pool_sa_keys[] = { "priority", "namespaces", "namespaceSelectors",
	"serviceSelectors", NULL };

static void crd_pool(struct ctx *x, yaml_node_t *spec, const char *path, const char *name,
		     yaml_node_t *md)
{
	yaml_node_t *labels = get(x, md, "labels");
	struct lb_config *c = x->p->c;
	char sub[PATH_MAX_LEN], sub2[PATH_MAX_LEN];
	struct lb_pool *pool;
	yaml_node_t *sa, *f;
	long long v;

	if (!check_map(x, spec, path, pool_keys, NULL))
		return;
	pool = push(&c->pools, &c->n_pools, sizeof(*pool));
	if (!pool || !where_push(x, &x->p->pool_where, path) || !(pool->name = strdup(name))) {
		err_at(x->e, path, "out of memory");
		return;
	}
	pool->auto_assign = true;
	join(sub, path, "addresses");
	parse_addresses(x, get(x, spec, "addresses"), sub, pool);
	join(sub, path, "autoAssign");
	get_bool(x, get(x, spec, "autoAssign"), sub, &pool->auto_assign);
	join(sub, path, "avoidBuggyIPs");
	get_bool(x, get(x, spec, "avoidBuggyIPs"), sub, &pool->avoid_buggy_ips);
	if (labels && labels->type == YAML_MAPPING_NODE)
		for (yaml_node_pair_t *pr = labels->data.mapping.pairs.start;
		     pr < labels->data.mapping.pairs.top && budget_ok(x); pr++) {
			const char *k = scalar(node(x, pr->key)), *lv = scalar(node(x, pr->value));
			struct lb_label *l;

			if (!k || !lv)
				continue;
			l = push(&pool->labels, &pool->n_labels, sizeof(*l));
			if (!l || !(l->key = strdup(k)) || !(l->value = strdup(lv))) {
				err_at(x->e, path, "out of memory");
				return;
			}
		}
	join(sub, path, "serviceAllocation");
	sa = get(x, spec, "serviceAllocation");
	if (!sa || is_null(sa) || !check_map(x, sa, sub, pool_sa_keys, NULL))
		return;
	pool->has_allocation = true;
	join(sub2, sub, "priority");
	if ((f = get(x, sa, "priority")) && !is_null(f) && get_int(x, f, sub2, INT32_MIN, INT32_MAX, &v))
		pool->priority = (int)v;
	join(sub2, sub, "namespaces");
	get_strv(x, get(x, sa, "namespaces"), sub2, &pool->namespaces, &pool->n_namespaces);
	no_duplicates(x, pool->namespaces, pool->n_namespaces, sub2);
	join(sub2, sub, "namespaceSelectors");
	parse_selectors(x, get(x, sa, "namespaceSelectors"), sub2, &pool->namespace_selectors,
			&pool->n_namespace_selectors);
	join(sub2, sub, "serviceSelectors");
	parse_selectors(x, get(x, sa, "serviceSelectors"), sub2, &pool->service_selectors,
			&pool->n_service_selectors);
}

/* What an advertisement applies to: pools by name and by selector, and
 * the nodes it runs on (L2Advertisement and BGPAdvertisement alike). */
static void parse_adv_targets(struct ctx *x, yaml_node_t *spec, const char *path,
			      char ***pools, size_t *n_pools,
			      struct lb_selector **pool_sel, size_t *n_pool_sel,
			      struct lb_selector **node_sel, size_t *n_node_sel)
{
	char sub[PATH_MAX_LEN];

	join(sub, path, "ipAddressPools");
	get_strv(x, get(x, spec, "ipAddressPools"), sub, pools, n_pools);
	no_duplicates(x, *pools, *n_pools, sub);
	join(sub, path, "ipAddressPoolSelectors");
	parse_selectors(x, get(x, spec, "ipAddressPoolSelectors"), sub, pool_sel, n_pool_sel);
	join(sub, path, "nodeSelectors");
	parse_selectors(x, get(x, spec, "nodeSelectors"), sub, node_sel, n_node_sel);
}

static const char *const l2adv_keys[] = { "ipAddressPools", "ipAddressPoolSelectors", "nodeSelectors",
	"interfaces", NULL };

static void crd_l2(struct ctx *x, yaml_node_t *spec, const char *path, const char *name,
		   yaml_node_t *md)
{
	struct lb_config *c = x->p->c;
	char sub[PATH_MAX_LEN];
	struct lb_l2_adv *a;

	/* An L2Advertisement with no spec at all announces every pool. */
	if (spec && !is_null(spec) && !check_map(x, spec, path, l2adv_keys, NULL))
		return;
	a = push(&c->l2_advs, &c->n_l2_advs, sizeof(*a));
	if (!a || !(a->name = strdup(name))) {
		err_at(x->e, path, "out of memory");
		return;
	}
	parse_adv_targets(x, spec, path, &a->pools, &a->n_pools, &a->pool_selectors,
			  &a->n_pool_selectors, &a->node_selectors, &a->n_node_selectors);
	join(sub, path, "interfaces");
	get_strv(x, get(x, spec, "interfaces"), sub, &a->interfaces, &a->n_interfaces);
	no_duplicates(x, a->interfaces, a->n_interfaces, sub);
}

static const char *const bgpadv_keys[] = { "aggregationLength", "aggregationLengthV6", "localPref",
	"communities", "ipAddressPools", "ipAddressPoolSelectors", "nodeSelectors", "peers", NULL };

static void crd_bgpadv(struct ctx *x, yaml_node_t *spec, const char *path, const char *name,
		       yaml_node_t *md)
{
	char sub[PATH_MAX_LEN];
	struct lb_bgp_adv *a;

	if (spec && !is_null(spec) && !check_map(x, spec, path, bgpadv_keys, NULL))
		return;
	if (!(a = new_bgp_adv(x, path)))
		return;
	if (!(a->name = strdup(name))) {
		err_at(x->e, path, "out of memory");
		return;
	}
	parse_bgp_adv_common(x, spec, path, a, "aggregationLength", "aggregationLengthV6", "localPref");
	parse_adv_targets(x, spec, path, &a->pools, &a->n_pools, &a->pool_selectors,
			  &a->n_pool_selectors, &a->node_selectors, &a->n_node_selectors);
	join(sub, path, "peers");
	get_strv(x, get(x, spec, "peers"), sub, &a->peers, &a->n_peers);
	no_duplicates(x, a->peers, a->n_peers, sub);
}

static const char *const community_keys[] = { "communities", NULL };
static const char *const community_item_keys[] = { "name", "value", NULL };

static void crd_community(struct ctx *x, yaml_node_t *spec, const char *path, const char *obj_name,
			  yaml_node_t *md)
{
	char sub[PATH_MAX_LEN], sub2[PATH_MAX_LEN];
	yaml_node_t *n;

	if (!spec || is_null(spec))
		return;
	if (!check_map(x, spec, path, community_keys, NULL))
		return;
	join(sub, path, "communities");
	if (!is_list(x, (n = get(x, spec, "communities")), sub))
		return;
	FOR_ITEMS(n, it, i) {
		yaml_node_t *e = node(x, *it);
		const char *name, *value;

		joini(sub2, sub, i);
		if (!check_map(x, e, sub2, community_item_keys, NULL))
			continue;
		name = scalar(get(x, e, "name"));
		value = scalar(get(x, e, "value"));
		if (!name || !*name || !value || !*value) {
			err_at(x->e, sub2, "a community needs a name and a value");
			continue;
		}
		add_named_community(x, name, value, sub2);
	}
}

static const char *const bgppeer_keys[] = { "myASN", "peerASN", "peerAddress", "sourceAddress", "peerPort",
	"holdTime", "keepaliveTime", "routerID", "nodeSelectors", "password", "bfdProfile",
	"ebgpMultiHop", "enableGracefulRestart", NULL };
static const char *const bgppeer_ignored[] = { "dynamicASN", "passwordSecret", "vrf", "interface",
	"connectTime", "disableMP", "dualStackAddressFamily", NULL };

static void crd_peer(struct ctx *x, yaml_node_t *spec, const char *path, const char *name,
		     yaml_node_t *md)
{
	static const struct peer_keys k = { "myASN", "peerASN", "peerAddress", "sourceAddress", "peerPort",
		"holdTime", "keepaliveTime", "routerID", "password", "ebgpMultiHop", "bfdProfile",
		"nodeSelectors" };
	char sub[PATH_MAX_LEN];
	struct lb_peer *p;

	if (!check_map(x, spec, path, bgppeer_keys, bgppeer_ignored) || !(p = new_peer(x, path)))
		return;
	if (!(p->name = strdup(name)))
		err_at(x->e, path, "out of memory");
	parse_peer_common(x, spec, path, p, &k);
	join(sub, path, "enableGracefulRestart");
	get_bool(x, get(x, spec, "enableGracefulRestart"), sub, &p->graceful_restart);
}

static const char *const bfdprofile_keys[] = { "receiveInterval", "transmitInterval", "detectMultiplier",
	"echoInterval", "echoMode", "passiveMode", "minimumTtl", NULL };

static void crd_bfd(struct ctx *x, yaml_node_t *spec, const char *path, const char *name,
		    yaml_node_t *md)
{
	static const struct bfd_keys k = { "receiveInterval", "transmitInterval", "detectMultiplier",
		"echoInterval", "minimumTtl" };
	char sub[PATH_MAX_LEN];
	bool b;

	if (spec && !is_null(spec) && !check_map(x, spec, path, bfdprofile_keys, NULL))
		return;
	join(sub, path, "echoMode");
	get_bool(x, get(x, spec, "echoMode"), sub, &b);
	join(sub, path, "passiveMode");
	get_bool(x, get(x, spec, "passiveMode"), sub, &b);
	parse_bfd_common(x, spec, path, name, &k);
}

/* The kinds and their readers, in lb_config_kinds' order. */
static void (*const crd_parsers[])(struct ctx *x, yaml_node_t *spec, const char *path, const char *name,
				   yaml_node_t *md) = {
	crd_pool, crd_l2, crd_bgpadv, crd_community, crd_peer, crd_bfd,
};

const struct lb_config_kind lb_config_kinds[] = {
	{ "IPAddressPool", false, "addresses to allocate from, and to whom" },
	{ "L2Advertisement", false, "announce pools' addresses over ARP/NDP" },
	{ "BGPAdvertisement", false, "announce pools' addresses to BGP peers" },
	{ "Community", false, "names for BGP communities" },
	{ "BGPPeer", true, "a BGP session" },
	{ "BFDProfile", false, "checked only: ferry has no BFD" },
	{ .kind = NULL },
};
_Static_assert(sizeof(crd_parsers) / sizeof(crd_parsers[0]) ==
	       sizeof(lb_config_kinds) / sizeof(lb_config_kinds[0]) - 1, "a kind without its reader");

/* Every object the parser reads and the very key lists check_map holds it
 * to: the reference is made from these. */
const struct lb_config_object lb_config_objects[] = {
	{ "ConfigMap", "config", "the top level", legacy_keys, NULL },
	{ "ConfigMap", "address-pools[]", "a pool; layer2 pools are announced on every node",
	  legacy_pool_keys, NULL },
	{ "ConfigMap", "address-pools[].bgp-advertisements[]", "how a bgp pool is announced",
	  legacy_adv_keys, NULL },
	{ "ConfigMap", "bgp-communities", "a map of name to community (a:b or large:a:b:c)", NULL, NULL },
	{ "ConfigMap", "peers[]", "a BGP session", legacy_peer_keys, legacy_peer_ignored },
	{ "ConfigMap", "peers[].node-selectors[]", "nodes that hold the session", sel_keys_legacy, NULL },
	{ "ConfigMap", "peers[].node-selectors[].match-expressions[]", "one requirement", sel_expr_keys,
	  NULL },
	{ "ConfigMap", "bfd-profiles[]", "checked only: ferry has no BFD", legacy_bfd_keys, NULL },
	{ "IPAddressPool", "metadata", "`name` names the pool; ipAddressPoolSelectors select its `labels`",
	  NULL, NULL },
	{ "IPAddressPool", "spec", NULL, pool_keys, NULL },
	{ "IPAddressPool", "spec.serviceAllocation", "which Services a pool serves, and its priority",
	  pool_sa_keys, NULL },
	{ "L2Advertisement", "spec", "no spec: every pool", l2adv_keys, NULL },
	{ "BGPAdvertisement", "spec", NULL, bgpadv_keys, NULL },
	{ "Community", "spec", NULL, community_keys, NULL },
	{ "Community", "spec.communities[]", NULL, community_item_keys, NULL },
	{ "BGPPeer", "spec", NULL, bgppeer_keys, bgppeer_ignored },
	{ "BFDProfile", "spec", NULL, bfdprofile_keys, NULL },
	{ "*", "*Selectors[]", "a label selector (namespaceSelectors, serviceSelectors, "
	  "ipAddressPoolSelectors, nodeSelectors)", sel_keys, NULL },
	{ "*", "*Selectors[].matchExpressions[]", "one requirement", sel_expr_keys, NULL },
	{ .kind = NULL },
};

static void parse_crd(struct ctx *x, yaml_node_t *root, const char *prefix)
{
	const char *api = scalar(get(x, root, "apiVersion")), *kind = scalar(get(x, root, "kind"));
	yaml_node_t *md = get(x, root, "metadata"), *spec = get(x, root, "spec");
	const char *name = scalar(get(x, md, "name")), *ns = scalar(get(x, md, "namespace"));
	char where[PATH_MAX_LEN - 16], sub[PATH_MAX_LEN];

	const struct lb_config_kind *k;

	for (k = lb_config_kinds; k->kind && (!kind || strcmp(k->kind, kind)); k++)
		;
	if (!k->kind) {
		size_t pl = strlen(prefix), n = 0;
		char at[PATH_MAX_LEN], kinds[160];

		path_fmt(at, "%.*s", (int)(pl >= 2 ? pl - 2 : 0), prefix);	/* without ": " */
		for (k = lb_config_kinds; k->kind && n < sizeof(kinds); k++)
			n += snprintf(kinds + n, sizeof(kinds) - n, "%s%s", k == lb_config_kinds ? "" : ", ", k->kind);
		err_at(x->e, at, "kind \"%s\" is not a metallb.io resource (%s)", kind ? kind : "", kinds);
		return;
	}
	snprintf(where, sizeof(where), "%s%s %s%s%s", prefix, kind, ns && *ns ? ns : "",
		 ns && *ns ? "/" : "", name ? name : "(unnamed)");
	if (!api || (strcmp(api, "metallb.io/v1beta1") &&
		     !(k->v1beta2 && !strcmp(api, "metallb.io/v1beta2")))) {
		err_at(x->e, where, "apiVersion \"%s\" is not served for %s (metallb.io/v1beta1%s)",
		       api ? api : "", kind, k->v1beta2 ? " or v1beta2" : "");
		return;
	}
	if (!name || !*name) {
		err_at(x->e, where, "metadata.name is missing");
		return;
	}
	x->p->used = true;
	snprintf(sub, sizeof(sub), "%s: spec", where);
	crd_parsers[k - lb_config_kinds](x, spec, sub, name, md);
}

/* ---- loading text ---- */

/* Load the next document of the parser; false at the end of the stream or
 * on a syntax error (reported under path). */
static bool load_doc(yaml_parser_t *ps, yaml_document_t *doc, struct lb_errors *e, const char *path,
		     bool *bad)
{
	if (!yaml_parser_load(ps, doc)) {
		err_at(e, path, "YAML: %s at line %zu column %zu", ps->problem ? ps->problem : "syntax error",
		       ps->problem_mark.line + 1, ps->problem_mark.column + 1);
		*bad = true;
		return false;
	}
	if (!yaml_document_get_root_node(doc)) {
		yaml_document_delete(doc);
		return false;
	}
	return true;
}

static void copy_new(struct lb_errors *to, struct lb_errors *from, size_t first);

static int finish_add(struct part *p, struct lb_errors *e, size_t errors_before)
{
	(void)e;
	return p->errs.n_errors > errors_before ? -EINVAL : 0;
}

static int add_configmap_doc(struct lb_config_builder *b, yaml_document_t *doc, yaml_node_t *root,
			     const char *prefix)
{
	struct ctx x = { doc, &b->cm, &b->cm.errs };
	size_t before = b->cm.errs.n_errors;

	b->cm.used = true;
	parse_legacy(&x, root, prefix);
	return finish_add(&b->cm, NULL, before);
}

/* After an out-of-memory in lb_config_finish a part may lack its config. */
static bool part_ready(struct part *p)
{
	if (!p->c && !(p->c = calloc(1, sizeof(*p->c))))
		return false;
	p->c->source = p->legacy ? LB_SRC_CONFIGMAP : LB_SRC_CRDS;
	return true;
}

static int cm_text(struct lb_config_builder *b, const char *text, size_t len, const char *prefix,
		   struct lb_errors *e)
{
	yaml_parser_t ps;
	yaml_document_t doc;
	size_t before = b->cm.errs.n_errors, first = b->cm.errs.n;
	bool bad = false;

	b->cm.used = true;
	if (!part_ready(&b->cm) || !yaml_parser_initialize(&ps)) {
		err_at(&b->cm.errs, "config", "out of memory");
		goto out;
	}
	yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
	if (load_doc(&ps, &doc, &b->cm.errs, *prefix ? prefix : "config", &bad)) {
		add_configmap_doc(b, &doc, yaml_document_get_root_node(&doc), prefix);
		yaml_document_delete(&doc);
		if (!bad && load_doc(&ps, &doc, &b->cm.errs, "config", &bad)) {
			err_at(&b->cm.errs, "config", "more than one YAML document");
			yaml_document_delete(&doc);
		}
	}
	yaml_parser_delete(&ps);
out:
	/* The caller sees this piece's findings now. */
	copy_new(e, &b->cm.errs, first);
	return b->cm.errs.n_errors > before ? -EINVAL : 0;
}

int lb_config_add_configmap_text(struct lb_config_builder *b, const char *text, size_t len,
				 struct lb_errors *e)
{
	return cm_text(b, text, len, "", e);
}

static void copy_new(struct lb_errors *to, struct lb_errors *from, size_t first)
{
	for (size_t i = first; to && i < from->n; i++) {
		if (from->v[i].warning)
			warn_at(to, from->v[i].path, "%s", from->v[i].msg);
		else
			err_at(to, from->v[i].path, "%s", from->v[i].msg);
	}
}

int lb_config_add_resource(struct lb_config_builder *b, const char *text, size_t len, struct lb_errors *e)
{
	struct part *p = &b->crd;
	yaml_parser_t ps;
	yaml_document_t doc;
	size_t before = p->errs.n_errors, first = p->errs.n;
	bool bad = false;

	if (!part_ready(p) || !yaml_parser_initialize(&ps)) {
		err_at(&p->errs, "resource", "out of memory");
		goto out;
	}
	yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
	if (load_doc(&ps, &doc, &p->errs, "resource", &bad)) {
		struct ctx x = { &doc, p, &p->errs };

		parse_crd(&x, yaml_document_get_root_node(&doc), "");
		yaml_document_delete(&doc);
		if (!bad && load_doc(&ps, &doc, &p->errs, "resource", &bad)) {
			err_at(&p->errs, "resource", "more than one YAML document");
			yaml_document_delete(&doc);
		}
	} else if (!bad)
		err_at(&p->errs, "resource", "empty");
	yaml_parser_delete(&ps);
out:
	copy_new(e, &p->errs, first);
	return p->errs.n_errors > before ? -EINVAL : 0;
}

/* One object of a check-config file; top: a List's items are objects too. */
static void stream_object(struct lb_config_builder *b, struct ctx *x, yaml_node_t *n, const char *prefix,
			  bool top)
{
	const char *kind = scalar(get(x, n, "kind"));
	char where[PATH_MAX_LEN];
	yaml_node_t *items;

	path_fmt(where, "%.*s", (int)strlen(prefix) - 2, prefix);	/* without ": " */
	if (kind && !strcmp(kind, "ConfigMap")) {
		const char *cfg = scalar(get(x, get(x, n, "data"), "config"));

		if (!cfg)
			err_at(&b->cm.errs, where, "ConfigMap without data.config");
		else
			cm_text(b, cfg, strlen(cfg), prefix, NULL);
	} else if (top && kind && !strcmp(kind, "List") &&
		   (items = get(x, n, "items")) && items->type == YAML_SEQUENCE_NODE) {
		FOR_ITEMS(items, it, i) {
			char sub[PATH_MAX_LEN];

			path_fmt(sub, "%sitems[%zu]: ", prefix, i);
			stream_object(b, x, node(x, *it), sub, false);
		}
	} else if (kind) {
		parse_crd(x, n, prefix);
	} else if (top && (n->type == YAML_MAPPING_NODE || is_null(n))) {
		add_configmap_doc(b, x->doc, n, prefix);
	} else {
		err_at(&b->crd.errs, where, "neither a ConfigMap, a metallb.io resource nor a MetalLB config");
	}
}

int lb_config_add_stream(struct lb_config_builder *b, const char *name, const char *text, size_t len,
			 struct lb_errors *e)
{
	yaml_parser_t ps;
	yaml_document_t doc;
	size_t cm_first = b->cm.errs.n, crd_first = b->crd.errs.n;
	size_t cm_before = b->cm.errs.n_errors, crd_before = b->crd.errs.n_errors;
	char prefix[PATH_MAX_LEN];
	bool bad = false;
	int ndoc = 0;

	if (!part_ready(&b->cm) || !part_ready(&b->crd) || !yaml_parser_initialize(&ps)) {
		err_at(&b->crd.errs, name, "out of memory");
		goto out;
	}
	yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
	/* Syntax errors go to the CRD part: a broken file fails whatever it was meant to be. */
	while (load_doc(&ps, &doc, &b->crd.errs, name, &bad)) {
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		struct ctx x = { &doc, &b->crd, &b->crd.errs };

		ndoc++;
		snprintf(prefix, sizeof(prefix), "%s#%d: ", name, ndoc);
		stream_object(b, &x, root, prefix, true);
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&ps);
	if (!ndoc && !bad)
		warn_at(&b->crd.errs, name, "no YAML document");
out:
	copy_new(e, &b->cm.errs, cm_first);
	copy_new(e, &b->crd.errs, crd_first);
	return b->cm.errs.n_errors > cm_before || b->crd.errs.n_errors > crd_before ? -EINVAL : 0;
}

/* ---- whole-configuration checks ---- */

static const struct named_community *find_community(struct part *p, const char *name)
{
	for (size_t i = 0; i < p->communities.n; i++)
		if (!strcmp(p->communities.v[i].name, name))
			return &p->communities.v[i];
	return NULL;
}

static bool selectors_equal(const struct lb_selector *a, size_t na, const struct lb_selector *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		if (a[i].n_reqs != b[i].n_reqs)
			return false;
		for (size_t j = 0; j < a[i].n_reqs; j++) {
			const struct lb_sel_req *r = &a[i].reqs[j], *s = &b[i].reqs[j];

			if (r->op != s->op || r->n_values != s->n_values || strcmp(r->key ? r->key : "", s->key ? s->key : ""))
				return false;
			for (size_t k = 0; k < r->n_values; k++)
				if (strcmp(r->values[k], s->values[k]))
					return false;
		}
	}
	return true;
}

/* MetalLB's legacy check is reflect.DeepEqual of the parsed peers. */
static bool peers_equal(const struct lb_peer *a, const struct lb_peer *b)
{
	return !lb_addr_cmp(&a->peer_address, &b->peer_address) &&
	       !lb_addr_cmp(&a->source_address, &b->source_address) &&
	       !lb_addr_cmp(&a->router_id, &b->router_id) &&
	       a->peer_asn == b->peer_asn && a->my_asn == b->my_asn && a->peer_port == b->peer_port &&
	       a->hold_time_s == b->hold_time_s && a->keepalive_time_s == b->keepalive_time_s &&
	       !strcmp(a->password ? a->password : "", b->password ? b->password : "") &&
	       a->ebgp_multihop == b->ebgp_multihop &&
	       !strcmp(a->bfd_profile ? a->bfd_profile : "", b->bfd_profile ? b->bfd_profile : "") &&
	       selectors_equal(a->node_selectors, a->n_node_selectors, b->node_selectors, b->n_node_selectors);
}

struct range_ref {
	const struct lb_range *r;
	size_t pool, idx;		/* definition order */
};

static int range_ref_cmp(const void *a, const void *b)
{
	const struct range_ref *x = a, *y = b;
	int c = lb_addr_cmp(&x->r->lo, &y->r->lo);

	if (c)
		return c;
	if (x->pool != y->pool)
		return x->pool < y->pool ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static bool defined_before(const struct range_ref *a, const struct range_ref *b)
{
	return a->pool < b->pool || (a->pool == b->pool && a->idx < b->idx);
}

/* No address in two ranges, within a pool or across pools: sort by first
 * address and sweep, remembering the range reaching furthest. The later
 * definition of an overlapping pair is the one reported. */
static void check_overlaps(struct part *p)
{
	struct lb_config *c = p->c;
	struct range_ref *v, *far = NULL;
	size_t n = 0, k = 0;
	char sub[PATH_MAX_LEN], tmp[PATH_MAX_LEN], a[100], b[100];

	for (size_t i = 0; i < c->n_pools; i++)
		n += c->pools[i].n_ranges;
	if (!n)
		return;
	if (!(v = calloc(n, sizeof(*v)))) {
		err_at(&p->errs, "", "out of memory");
		return;
	}
	for (size_t i = 0; i < c->n_pools; i++)
		for (size_t j = 0; j < c->pools[i].n_ranges; j++)
			v[k++] = (struct range_ref){ &c->pools[i].ranges[j], i, j };
	vec_sort(v, n, sizeof(*v), range_ref_cmp);
	for (k = 0; k < n; k++) {
		struct range_ref *cur = &v[k];

		if (far && far->r->lo.family == cur->r->lo.family &&
		    lb_addr_cmp(&cur->r->lo, &far->r->hi) <= 0) {
			const struct range_ref *later = defined_before(far, cur) ? cur : far;
			const struct range_ref *other = later == cur ? far : cur;

			lb_range_format(later->r, a, sizeof(a));
			lb_range_format(other->r, b, sizeof(b));
			join(tmp, p->pool_where.v[later->pool], "addresses");
			joini(sub, tmp, later->idx);
			err_at(&p->errs, sub, "%s overlaps with %s of pool \"%s\"", a, b,
			       c->pools[other->pool].name ? c->pools[other->pool].name : "");
		}
		if (!far || far->r->lo.family != cur->r->lo.family ||
		    lb_addr_cmp(&cur->r->hi, &far->r->hi) > 0)
			far = cur;
	}
	free(v);
}

struct pool_name {
	const char *name;
	size_t idx;
};

static int pool_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct pool_name *)a)->name, ((const struct pool_name *)b)->name);
}

/* MetalLB refuses an aggregation length shorter than the prefix of a CIDR
 * of the pool (a range counts as the CIDRs covering it exactly). need[2j]
 * and need[2j+1]: pool j's IPv4 and IPv6 requirement, -1 without that family. */
static void check_aggregation(struct part *p, size_t adv, size_t pool, const int *need)
{
	const struct lb_bgp_adv *ad = &p->c->bgp_advs[adv];
	const struct lb_pool *pl = &p->c->pools[pool];
	char sub[PATH_MAX_LEN], a[100];

	for (int v6 = 0; v6 < 2; v6++) {
		int have = v6 ? ad->aggregation_length_v6 : ad->aggregation_length;

		if (have >= need[2 * pool + v6])
			continue;
		/* Name the first range that is too specific. */
		for (size_t k = 0; k < pl->n_ranges; k++) {
			const struct lb_range *r = &pl->ranges[k];
			int want;

			if ((r->lo.family == 6) != v6 || (want = lb_range_min_prefix(r)) <= have)
				continue;
			lb_range_format(r, a, sizeof(a));
			join(sub, p->badv_where.v[adv], v6 ? (p->legacy ? "aggregation-length-v6" : "aggregationLengthV6")
							 : (p->legacy ? "aggregation-length" : "aggregationLength"));
			err_at(&p->errs, sub, "invalid aggregation length %d: prefix %d of %s in pool \"%s\" "
			       "is more specific", have, want, a, pl->name ? pl->name : "");
			break;
		}
	}
}

static void check_whole(struct part *p)
{
	struct lb_config *c = p->c;
	struct lb_errors *e = &p->errs;
	struct pool_name *names;
	char sub[PATH_MAX_LEN];
	int *need;

	if (c->n_pools > LB_MAX_OBJECTS || c->n_bgp_advs > LB_MAX_OBJECTS || c->n_l2_advs > LB_MAX_OBJECTS ||
	    c->n_peers > LB_MAX_SMALL || c->n_bfd_profiles > LB_MAX_SMALL || p->communities.n > LB_MAX_SMALL) {
		err_at(e, "", "configuration too large: more than %d pools or advertisements, or more than "
		       "%d peers, BFD profiles or communities (ferry's limits)", LB_MAX_OBJECTS, LB_MAX_SMALL);
		return;
	}
	/* Pools: unique names, no address in two ranges. */
	for (size_t i = 0; i < c->n_pools; i++) {
		struct lb_pool *pi = &c->pools[i];

		for (size_t j = 0; j < i && pi->name && *pi->name; j++)
			if (c->pools[j].name && !strcmp(c->pools[j].name, pi->name)) {
				join(sub, p->pool_where.v[i], p->legacy ? "name" : "");
				err_at(e, p->legacy ? sub : p->pool_where.v[i],
				       "duplicate definition of pool \"%s\"", pi->name);
				break;
			}
	}
	check_overlaps(p);
	/* Communities: unique names. */
	for (size_t i = 0; i < p->communities.n; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(p->communities.v[i].name, p->communities.v[j].name)) {
				err_at(e, p->communities.v[i].where, "duplicate definition of community \"%s\"",
				       p->communities.v[i].name);
				break;
			}
	/* BGP advertisements: communities, aggregation lengths. Per pool the
	 * longest "shortest prefix" of its ranges, per family, is what an
	 * aggregation length must reach; pools are found by name. */
	names = calloc(c->n_pools + 1, sizeof(*names));
	need = calloc(2 * c->n_pools + 1, sizeof(*need));
	if (!names || !need) {
		free(names);
		free(need);
		err_at(e, "", "out of memory");
		return;
	}
	for (size_t j = 0; j < c->n_pools; j++) {
		names[j] = (struct pool_name){ c->pools[j].name ? c->pools[j].name : "", j };
		need[2 * j] = need[2 * j + 1] = -1;
		for (size_t k = 0; k < c->pools[j].n_ranges; k++) {
			const struct lb_range *r = &c->pools[j].ranges[k];
			int *slot = &need[2 * j + (r->lo.family == 6)], m = lb_range_min_prefix(r);

			if (m > *slot)
				*slot = m;
		}
	}
	vec_sort(names, c->n_pools, sizeof(*names), pool_name_cmp);
	for (size_t i = 0; i < c->n_bgp_advs; i++) {
		struct lb_bgp_adv *ad = &c->bgp_advs[i];
		struct adv_communities *ac = &p->badv_comms.v[i];

		for (size_t k = 0; k < ac->n; k++) {
			const struct named_community *nc = find_community(p, ac->v[k]);
			struct lb_community cv;
			int r = 0;

			join(sub, p->badv_where.v[i], "communities");
			snprintf(sub + strlen(sub), sizeof(sub) - strlen(sub), "[%zu]", k);
			if (nc)
				cv = nc->c;
			else if ((r = parse_community(ac->v[k], &cv)) == -ENOENT) {
				err_at(e, sub, "\"%s\" is neither a community value nor the name of a %s", ac->v[k],
				       p->legacy ? "bgp-communities entry" : "Community");
				continue;
			} else if (r) {
				err_at(e, sub, "invalid community \"%s\"", ac->v[k]);
				continue;
			}
			struct lb_community *slot = push(&ad->communities, &ad->n_communities, sizeof(cv));
			if (!slot) {
				err_at(e, sub, "out of memory");
				break;
			}
			*slot = cv;
		}
		if (!ad->n_pools && !ad->n_pool_selectors)
			for (size_t j = 0; j < c->n_pools; j++)
				check_aggregation(p, i, j, need);
		/* Pools chosen only by selectors are the allocator's to match. */
		for (size_t k = 0; k < ad->n_pools; k++) {
			const struct pool_name key = { ad->pools[k], 0 }, *hit;

			hit = bsearch(&key, names, c->n_pools, sizeof(*names), pool_name_cmp);
			if (hit) {
				check_aggregation(p, i, hit->idx, need);
			} else if (!p->legacy) {
				join(sub, p->badv_where.v[i], "ipAddressPools");
				warn_at(e, sub, "no IPAddressPool named \"%s\"", ad->pools[k]);
			}
		}
	}
	free(names);
	free(need);
	/* BFD profiles: unique names. */
	for (size_t i = 0; i < c->n_bfd_profiles; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(c->bfd_profiles[i], c->bfd_profiles[j])) {
				err_at(e, p->bfd_where.v[i], "duplicate bfd profile name \"%s\"", c->bfd_profiles[i]);
				break;
			}
	/* Peers: their BFD profile exists, no duplicates. */
	for (size_t i = 0; i < c->n_peers; i++) {
		struct lb_peer *pe = &c->peers[i];

		if (pe->bfd_profile) {
			bool found = false;

			for (size_t j = 0; j < c->n_bfd_profiles && !found; j++)
				found = !strcmp(c->bfd_profiles[j], pe->bfd_profile);
			join(sub, p->peer_where.v[i], p->legacy ? "bfd-profile" : "bfdProfile");
			if (!found)
				err_at(e, sub, "no bfd profile named \"%s\"", pe->bfd_profile);
		}
		for (size_t j = 0; j < i; j++) {
			bool dup = p->legacy ? peers_equal(pe, &c->peers[j]) :
				   (pe->name && c->peers[j].name && !strcmp(pe->name, c->peers[j].name));

			if (dup) {
				err_at(e, p->peer_where.v[i], "peer already exists (same as %s)", p->peer_where.v[j]);
				break;
			}
		}
	}
}

int lb_config_finish(struct lb_config_builder *b, struct lb_config **out, struct lb_errors *e)
{
	struct part *p;
	size_t first;
	bool legacy;

	*out = NULL;
	if (b->crd.used) {
		p = &b->crd;
		if (b->cm.used)
			warn_at(e, "config", "the ConfigMap is ignored: metallb.io resources exist "
				"(MetalLB >= 0.13 reads only those)");
	} else if (b->cm.used) {
		p = &b->cm;
	} else {
		/* Nothing usable given: empty, unless a piece failed to parse. */
		if (b->crd.errs.n_errors || b->cm.errs.n_errors)
			return -EINVAL;
		*out = calloc(1, sizeof(**out));
		if (!*out) {
			err_at(e, "config", "out of memory");
			return -ENOMEM;
		}
		(*out)->source = LB_SRC_NONE;
		return 0;
	}
	/* The add calls already reported their findings; report only the
	 * whole-configuration ones, but refuse on any. */
	first = p->errs.n;
	check_whole(p);
	copy_new(e, &p->errs, first);
	if (p->errs.n_errors)
		return -EINVAL;
	*out = p->c;
	p->c = NULL;
	legacy = p->legacy;
	part_clear(p);
	part_init(p, legacy);	/* on failure p->c stays NULL: see part_ready */
	return 0;
}

void lb_config_summary(const struct lb_config *c, char *buf, size_t len)
{
	uint64_t addrs = 0;

	for (size_t i = 0; i < c->n_pools; i++)
		for (size_t j = 0; j < c->pools[i].n_ranges; j++) {
			uint64_t n = lb_range_size(&c->pools[i].ranges[j]);

			addrs = addrs + n < addrs ? UINT64_MAX : addrs + n;
		}
	snprintf(buf, len, "source=%s pools=%zu addresses=%s%llu l2advertisements=%zu "
		 "bgpadvertisements=%zu peers=%zu bfdprofiles=%zu",
		 c->source == LB_SRC_CRDS ? "crds" : c->source == LB_SRC_CONFIGMAP ? "configmap" : "none",
		 c->n_pools, addrs == UINT64_MAX ? ">=" : "", (unsigned long long)addrs, c->n_l2_advs,
		 c->n_bgp_advs, c->n_peers, c->n_bfd_profiles);
}
