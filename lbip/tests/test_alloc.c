// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * lbip/alloc.c, addr.c, selector.c. Most cases are scenarios: a table of
 * pools and a table of steps (assign / release / restore / new config), each
 * step with the addresses or the failure reason it must give.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/test.h"
#include "lbip/alloc.h"
#include "lbip/configparse.h"

/* ---- building pools and Services from short text ---- */

struct tpool {
	const char *name;
	const char *ranges;		/* "a-b,c/n,d" */
	bool no_auto, buggy, alloc;
	int prio;
	const char *ns;			/* serviceAllocation.namespaces, "a,b" */
	const char *nssel, *svcsel;	/* one matchLabels selector each, "k=v" */
};

static char *xstrdup(const char *s)
{
	char *r = strdup(s);

	if (!r)
		abort();
	return r;
}

static void parse_range(const char *t, struct lb_range *r)
{
	char buf[128], *dash, *slash;

	snprintf(buf, sizeof(buf), "%s", t);
	dash = strchr(buf, '-');
	slash = strchr(buf, '/');
	if (dash) {
		*dash = 0;
		CHECK(!lb_addr_parse(buf, &r->lo) && !lb_addr_parse(dash + 1, &r->hi));
	} else if (slash) {
		int bits;

		*slash = 0;
		CHECK(!lb_addr_parse(buf, &r->lo));
		bits = atoi(slash + 1);
		r->hi = r->lo;
		for (int i = 0; i < (r->lo.family == 4 ? 32 : 128); i++) {
			if (i < bits)
				continue;
			r->lo.b[i / 8] &= ~(0x80 >> (i % 8));
			r->hi.b[i / 8] |= 0x80 >> (i % 8);
		}
	} else {
		CHECK(!lb_addr_parse(buf, &r->lo));
		r->hi = r->lo;
	}
}

/* "a,b,c" -> strings; returns the count. */
static size_t split(const char *s, char ***out)
{
	size_t n = 0;
	char *d, *tok, *save;

	*out = NULL;
	if (!s || !*s)
		return 0;
	d = xstrdup(s);
	for (tok = strtok_r(d, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		*out = realloc(*out, (n + 1) * sizeof(**out));
		(*out)[n++] = xstrdup(tok);
	}
	free(d);
	return n;
}

static void free_strs(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* "k=v,k2=v2" as a matchLabels selector (IN with one value each). */
static struct lb_selector *make_sel(const char *s)
{
	struct lb_selector *sel = calloc(1, sizeof(*sel));
	char **kv;
	size_t n = split(s, &kv);

	sel->reqs = calloc(n ? n : 1, sizeof(*sel->reqs));
	sel->n_reqs = n;
	for (size_t i = 0; i < n; i++) {
		char *eq = strchr(kv[i], '=');

		*eq = 0;
		sel->reqs[i].key = xstrdup(kv[i]);
		sel->reqs[i].op = LB_SEL_IN;
		sel->reqs[i].values = calloc(1, sizeof(char *));
		sel->reqs[i].values[0] = xstrdup(eq + 1);
		sel->reqs[i].n_values = 1;
	}
	free_strs(kv, n);
	return sel;
}

static struct lb_config *make_cfg(const struct tpool *tp)
{
	struct lb_config *c = calloc(1, sizeof(*c));
	size_t n = 0;

	while (tp[n].name)
		n++;
	c->pools = calloc(n ? n : 1, sizeof(*c->pools));
	c->n_pools = n;
	for (size_t i = 0; i < n; i++) {
		struct lb_pool *p = &c->pools[i];
		char **r;
		size_t nr = split(tp[i].ranges, &r);

		p->name = xstrdup(tp[i].name);
		p->ranges = calloc(nr ? nr : 1, sizeof(*p->ranges));
		p->n_ranges = nr;
		for (size_t k = 0; k < nr; k++)
			parse_range(r[k], &p->ranges[k]);
		free_strs(r, nr);
		p->auto_assign = !tp[i].no_auto;
		p->avoid_buggy_ips = tp[i].buggy;
		p->has_allocation = tp[i].alloc || tp[i].prio || tp[i].ns || tp[i].nssel || tp[i].svcsel;
		p->priority = tp[i].prio;
		p->n_namespaces = split(tp[i].ns, &p->namespaces);
		if (tp[i].nssel) {
			p->namespace_selectors = make_sel(tp[i].nssel);
			p->n_namespace_selectors = 1;
		}
		if (tp[i].svcsel) {
			p->service_selectors = make_sel(tp[i].svcsel);
			p->n_service_selectors = 1;
		}
	}
	return c;
}

struct tsvc {
	const char *key;		/* "ns/name" */
	const char *ips;		/* loadBalancerIPs annotation */
	const char *pool, *share;
	const char *ports;		/* "80/TCP,53/UDP"; default 80/TCP */
	const char *fam;		/* "4" (default), "6", "46", "64" */
	enum lb_family_policy pol;
	bool local;
	const char *sel, *labels, *nslabels;
	const char *status;		/* "a,b" */
	const char *spec_ip;		/* spec.loadBalancerIP */
	int64_t created;
};

/* Storage behind one struct lb_svc. */
struct built {
	struct lb_svc s;
	char *ns, *name;
	struct lb_label *lab[3];
	char **kv[3];
	size_t n_kv[3];
	struct lb_port ports[8];
	struct lb_addr status[4];
};

static struct lb_label *labels_of(const char *s, char ***kv, size_t *n_kv, size_t *n)
{
	struct lb_label *l;

	*n_kv = split(s, kv);
	*n = *n_kv;
	l = calloc(*n ? *n : 1, sizeof(*l));
	for (size_t i = 0; i < *n; i++) {
		char *eq = strchr((*kv)[i], '=');

		*eq = 0;
		l[i].key = (*kv)[i];
		l[i].value = eq + 1;
	}
	return l;
}

static void build(const struct tsvc *t, struct built *b)
{
	const char *slash = strchr(t->key, '/');
	char **pv;
	size_t np;

	memset(b, 0, sizeof(*b));
	b->ns = strndup(t->key, slash - t->key);
	b->name = xstrdup(slash + 1);
	b->s.ns = b->ns;
	b->s.name = b->name;
	b->s.lb_ips_annotation = t->ips;
	b->s.load_balancer_ip = t->spec_ip;
	b->s.pool = t->pool;
	b->s.sharing_key = t->share;
	b->s.policy = t->pol;
	b->s.local = t->local;
	b->s.created = t->created;
	b->s.n_families = t->fam ? strlen(t->fam) : 1;
	for (size_t i = 0; i < b->s.n_families; i++)
		b->s.families[i] = t->fam ? t->fam[i] - '0' : 4;
	np = split(t->ports ? t->ports : "80/TCP", &pv);
	for (size_t i = 0; i < np && i < 8; i++) {
		char *sl = strchr(pv[i], '/');

		b->ports[i].port = (uint16_t)atoi(pv[i]);
		b->ports[i].proto = !strcmp(sl + 1, "UDP") ? LB_UDP : !strcmp(sl + 1, "SCTP") ? LB_SCTP : LB_TCP;
	}
	b->s.ports = b->ports;
	b->s.n_ports = np;
	free_strs(pv, np);
	b->lab[0] = labels_of(t->sel, &b->kv[0], &b->n_kv[0], &b->s.n_selector);
	b->lab[1] = labels_of(t->labels, &b->kv[1], &b->n_kv[1], &b->s.n_labels);
	b->lab[2] = labels_of(t->nslabels, &b->kv[2], &b->n_kv[2], &b->s.n_ns_labels);
	b->s.selector = b->lab[0];
	b->s.labels = b->lab[1];
	b->s.ns_labels = b->lab[2];
	if (t->status) {
		char **st;
		size_t ns = split(t->status, &st);

		for (size_t i = 0; i < ns && i < 4; i++)
			CHECK(!lb_addr_parse(st[i], &b->status[i]));
		b->s.status_ips = b->status;
		b->s.n_status_ips = ns;
		free_strs(st, ns);
	}
}

static void unbuild(struct built *b)
{
	free(b->ns);
	free(b->name);
	for (int i = 0; i < 3; i++) {
		free(b->lab[i]);
		free_strs(b->kv[i], b->n_kv[i]);
	}
}

static void result_text(const struct lb_result *r, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = 0;
	for (size_t i = 0; i < r->n_ips; i++) {
		char s[64];

		lb_addr_format(&r->ips[i], s, sizeof(s));
		off += snprintf(buf + off, len - off, "%s%s", i ? "," : "", s);
	}
}

/* ---- scenarios ---- */

enum op { ASSIGN, RELEASE, RESTORE, CONFIG, END };

struct step {
	enum op op;
	struct tsvc s;
	/* ASSIGN/RESTORE: "ip[,ip]" or "!substring of the reason";
	 * CONFIG: index of the pool table */
	const char *want;
	const char *pool;		/* the pool it must report, when set */
	bool orphan;
};

struct scenario {
	const char *name;
	const struct tpool *pools[3];
	struct step steps[40];
};

#define A(...) { ASSIGN, { .key = __VA_ARGS__ }, NULL, NULL, false }
#define S(want_, ...) { ASSIGN, { .key = __VA_ARGS__ }, want_, NULL, false }
#define SP(want_, pool_, ...) { ASSIGN, { .key = __VA_ARGS__ }, want_, pool_, false }
#define SO(want_, ...) { ASSIGN, { .key = __VA_ARGS__ }, want_, NULL, true }
#define REL(k) { RELEASE, { .key = k }, NULL, NULL, false }
#define RST(want_, ...) { RESTORE, { .key = __VA_ARGS__ }, want_, NULL, false }
#define CFG(i) { CONFIG, { .key = "x/x" }, #i, NULL, false }

static const struct tpool cross_buggy[] = {
	{ .name = "cross", .ranges = "198.18.0.250-198.18.1.5", .buggy = true },
	{ 0 } };
static const struct tpool cross[] = {
	{ .name = "cross", .ranges = "198.18.0.253-198.18.1.1" },
	{ 0 } };
static const struct tpool slash32[] = {
	{ .name = "one", .ranges = "198.18.5.5/32" },
	{ 0 } };
static const struct tpool v6[] = {
	{ .name = "six", .ranges = "2001:db8::fe-2001:db8::101" },
	{ 0 } };
static const struct tpool noauto[] = {
	{ .name = "manual", .ranges = "192.0.2.10-192.0.2.19", .no_auto = true },
	{ .name = "auto", .ranges = "198.51.100.0/30" },
	{ 0 } };
static const struct tpool two[] = {
	{ .name = "a", .ranges = "192.0.2.0/30" },
	{ .name = "b", .ranges = "198.51.100.0/30,2001:db8:1::/126" },
	{ 0 } };
static const struct tpool prio[] = {
	{ .name = "general", .ranges = "192.0.2.100-192.0.2.101" },
	{ .name = "noprio", .ranges = "192.0.2.50/32", .ns = "team" },
	{ .name = "p2", .ranges = "192.0.2.20/32", .prio = 2, .ns = "team" },
	{ .name = "p1", .ranges = "192.0.2.10/32", .prio = 1, .nssel = "tier=gold" },
	{ .name = "web", .ranges = "192.0.2.30/32", .prio = 1, .svcsel = "app=web" },
	{ .name = "all", .ranges = "192.0.2.40/32", .prio = 3, .alloc = true, .no_auto = true },
	{ 0 } };
static const struct tpool dual[] = {
	{ .name = "v4only", .ranges = "192.0.2.0/31" },
	{ .name = "v6only", .ranges = "2001:db8:6::/127" },
	{ .name = "both", .ranges = "198.51.100.8/31,2001:db8:46::/127" },
	{ 0 } };
static const struct tpool dual_small[] = {
	{ .name = "both", .ranges = "192.0.2.0/30,2001:db8::7/128" },
	{ 0 } };
static const struct tpool shrink_a[] = {
	{ .name = "p", .ranges = "198.18.0.1-198.18.0.5,2001:db8::1-2001:db8::2" },
	{ 0 } };
static const struct tpool shrink_b[] = {
	{ .name = "p", .ranges = "198.18.0.1-198.18.0.2,2001:db8::1/128" },
	{ 0 } };
static const struct tpool moved[] = {
	{ .name = "q", .ranges = "198.18.0.3-198.18.0.8" },
	{ 0 } };
static const struct tpool share_pool[] = {
	{ .name = "s", .ranges = "203.0.113.1-203.0.113.9,2001:db8:5::1-2001:db8:5::9" },
	{ 0 } };

static const struct scenario scenarios[] = {
	{ "IPv4 range across octets, avoid-buggy-ips", { cross_buggy }, {
		S("198.18.0.250", "n/a"), S("198.18.0.251", "n/a1"),
		S("198.18.0.252", "n/a2"), S("198.18.0.253", "n/a3"), S("198.18.0.254", "n/a4"),
		S("198.18.1.1", "n/a5"),		/* .255 and 1.0 skipped */
		S("!not in any pool", "n/b", .ips = "198.18.0.255"),
		S("!not in any pool", "n/b", .ips = "198.18.1.0"),
		S("198.18.1.5", "n/b", .ips = "198.18.1.5"),
		REL("n/a2"), S("198.18.0.252", "n/c"),	/* the lowest free again */
		S("198.18.0.250", "n/a"),		/* unchanged: the same */
		{ .op = END } } },
	{ "IPv4 range across octets, every address", { cross }, {
		S("198.18.0.253", "n/a"), S("198.18.0.254", "n/b"), S("198.18.0.255", "n/c"),
		S("198.18.1.0", "n/d"), S("198.18.1.1", "n/e"), S("!no available IPs", "n/f"),
		REL("n/c"), S("198.18.0.255", "n/f"),
		{ .op = END } } },
	{ "a /32 pool", { slash32 }, {
		SP("198.18.5.5", "one", "n/a"), S("!no available IPs", "n/b"),
		S("198.18.5.5", "n/a"), S("!no available IPs", "n/b"),
		REL("n/a"), S("198.18.5.5", "n/b"),
		{ .op = END } } },
	{ "IPv6 range across a byte", { v6 }, {
		S("2001:db8::fe", "n/a", .fam = "6"), S("2001:db8::ff", "n/b", .fam = "6"),
		S("2001:db8::100", "n/c", .fam = "6"),
		S("!do not match", "n/d", .fam = "6", .ips = "192.0.2.1"),
		S("!no available IPs", "n/d"),	/* IPv4 Service, IPv6 pool */
		S("2001:db8::101", "n/d", .fam = "6", .spec_ip = "2001:db8::101"),
		S("!in use by n/a", "n/e", .fam = "6", .ips = "2001:db8::fe"),
		{ .op = END } } },
	{ "autoAssign false: only asked for by name or address", { noauto }, {
		SP("198.51.100.0", "auto", "n/a"),
		SP("192.0.2.10", "manual", "n/b", .pool = "manual"),
		SP("192.0.2.15", "manual", "n/c", .ips = "192.0.2.15"),
		S("!pool \"nope\" does not exist", "n/d", .pool = "nope"),
		S("198.51.100.1", "n/d"),
		S("!not in the requested pool", "n/e", .ips = "192.0.2.16", .pool = "auto"),
		S("!both spec.loadBalancerIP", "n/e", .ips = "192.0.2.16", .spec_ip = "192.0.2.16"),
		S("!invalid loadBalancerIPs", "n/e", .ips = "192.0.2.300"),
		S("!invalid loadBalancerIPs", "n/e", .ips = "192.0.2.16,"),
		S("!invalid spec.loadBalancerIP", "n/e", .spec_ip = "example.com"),
		S("!at most one address per family", "n/e", .ips = "192.0.2.16,192.0.2.17", .fam = "46",
		  .pol = LB_REQUIRE_DUAL_STACK),
		{ .op = END } } },
	{ "requested IPs: taken, outside, others unaffected", { two }, {
		S("192.0.2.1", "n/a", .ips = "192.0.2.1"),
		S("!IP 192.0.2.1 is in use by n/a and cannot be shared: it does not allow sharing",
		  "n/b", .ips = "192.0.2.1"),
		S("!requested IP 203.0.113.7 is not in any pool", "n/c", .ips = "203.0.113.7"),
		S("192.0.2.0", "n/d"), S("192.0.2.2", "n/e"),
		S("192.0.2.1", "n/a", .ips = "192.0.2.1"),
		/* a different request moves the Service */
		S("192.0.2.3", "n/a", .ips = "192.0.2.3"),
		S("192.0.2.1", "n/b", .ips = "192.0.2.1"),
		/* a different pool annotation moves it */
		SP("198.51.100.0", "b", "n/d", .pool = "b"),
		SP("198.51.100.0", "b", "n/d", .pool = "b"),
		/* both families, from one pool only */
		S("!not in one pool", "n/f", .ips = "192.0.2.0,2001:db8:1::1", .fam = "46",
		  .pol = LB_REQUIRE_DUAL_STACK),
		S("198.51.100.3,2001:db8:1::1", "n/f", .ips = "2001:db8:1::1, 198.51.100.3", .fam = "64",
		  .pol = LB_REQUIRE_DUAL_STACK),
		{ .op = END } } },
	{ "sharing", { share_pool }, {
		S("203.0.113.1", "n/a", .share = "k", .ports = "80/TCP"),
		/* auto-assign with the same key shares the lowest usable address */
		S("203.0.113.1", "n/b", .share = "k", .ports = "443/TCP"),
		S("203.0.113.2", "n/c", .share = "k", .ports = "80/TCP"),	/* clash: next */
		S("203.0.113.1", "n/d", .share = "k", .ports = "80/UDP"),	/* UDP != TCP */
		S("!port 443/TCP clashes", "n/e", .share = "k", .ports = "443/TCP", .ips = "203.0.113.1"),
		S("!sharing keys \"j\" and \"k\" differ", "n/e", .share = "j", .ports = "8/TCP",
		  .ips = "203.0.113.1"),
		S("!this Service does not allow sharing", "n/e", .ports = "8/TCP", .ips = "203.0.113.1"),
		S("!backends differ", "n/e", .share = "k", .ports = "8/TCP", .local = true,
		  .sel = "app=x", .ips = "203.0.113.1"),
		/* Local needs Local with the same selector (order does not matter) */
		S("203.0.113.3", "n/l1", .share = "loc", .local = true, .sel = "app=x,tier=y"),
		S("203.0.113.3", "n/l2", .share = "loc", .local = true, .sel = "tier=y,app=x",
		  .ports = "81/TCP", .ips = "203.0.113.3"),
		S("!backends differ", "n/l3", .share = "loc", .local = true, .sel = "app=z",
		  .ports = "82/TCP", .ips = "203.0.113.3"),
		S("!backends differ", "n/l3", .share = "loc", .ports = "82/TCP", .ips = "203.0.113.3"),
		S("203.0.113.4", "n/l3", .share = "loc", .local = true, .sel = "app=z", .ports = "82/TCP"),
		/* a sharer changing its ports keeps the address */
		S("203.0.113.1", "n/b", .share = "k", .ports = "444/TCP"),
		/* the sole user changes its key in place */
		S("203.0.113.2", "n/c", .share = "other", .ports = "80/TCP"),
		/* a sharer changing its key away from the others moves */
		S("203.0.113.5", "n/d", .share = "new", .ports = "80/UDP"),
		/* released by all: free again */
		REL("n/a"), REL("n/b"), S("203.0.113.1", "n/z"),
		/* IPv6 sharing */
		S("2001:db8:5::1", "n/v1", .fam = "6", .share = "k6", .ports = "80/TCP"),
		S("2001:db8:5::1", "n/v2", .fam = "6", .share = "k6", .ports = "53/UDP"),
		S("!port 80/TCP clashes", "n/v3", .fam = "6", .share = "k6", .ips = "2001:db8:5::1"),
		{ .op = END } } },
	{ "serviceAllocation: priority, namespaces, selectors", { prio }, {
		SP("192.0.2.10", "p1", "team/a", .nslabels = "tier=gold"),
		SP("192.0.2.20", "p2", "team/b", .nslabels = "tier=gold"),
		SP("192.0.2.50", "noprio", "team/c", .nslabels = "tier=gold"),
		SP("192.0.2.100", "general", "team/d", .nslabels = "tier=gold"),
		SP("192.0.2.30", "web", "other/w", .labels = "app=web"),
		SP("192.0.2.101", "general", "other/x", .labels = "app=db"),
		S("!no available IPs", "other/y"),
		S("!pool \"p2\" does not serve other/y", "other/y", .pool = "p2"),
		S("!pool \"p2\" of requested IP(s) 192.0.2.20 does not serve", "other/y", .ips = "192.0.2.20"),
		/* autoAssign false pool with serviceAllocation: by name only */
		SP("192.0.2.40", "all", "other/y", .pool = "all"),
		{ .op = END } } },
	{ "dual stack", { dual }, {
		SP("192.0.2.0", "v4only", "n/s4"),
		SP("2001:db8:6::", "v6only", "n/s6", .fam = "6"),
		SP("198.51.100.8,2001:db8:46::", "both", "n/req", .fam = "46", .pol = LB_REQUIRE_DUAL_STACK),
		/* PreferDualStack prefers a pool with both families */
		SP("198.51.100.9,2001:db8:46::1", "both", "n/pref", .fam = "64", .pol = LB_PREFER_DUAL_STACK),
		S("!no available IPs", "n/req2", .fam = "46", .pol = LB_REQUIRE_DUAL_STACK),
		/* ... else the first pool of its primary family */
		SP("2001:db8:6::1", "v6only", "n/pref2", .fam = "64", .pol = LB_PREFER_DUAL_STACK),
		SP("192.0.2.1", "v4only", "n/pref3", .fam = "46", .pol = LB_PREFER_DUAL_STACK),
		S("!no available IPs", "n/pref4", .fam = "46", .pol = LB_PREFER_DUAL_STACK),
		/* PreferDualStack in a single-stack cluster is single stack */
		S("!no available IPs", "n/one", .fam = "4", .pol = LB_PREFER_DUAL_STACK),
		/* RequireDualStack: a Service holding one family moves */
		REL("n/s4"), REL("n/req"),
		S("192.0.2.0", "n/x", .status = "192.0.2.0", .fam = "46", .pol = LB_PREFER_DUAL_STACK),
		{ .op = END } } },
	{ "dual stack from a named pool", { dual_small }, {
		SP("192.0.2.0,2001:db8::7", "both", "n/a", .fam = "46", .pol = LB_REQUIRE_DUAL_STACK,
		   .pool = "both"),
		S("!pool \"both\" has no free address of one of the families", "n/b", .fam = "46",
		  .pol = LB_REQUIRE_DUAL_STACK, .pool = "both"),
		SP("192.0.2.1", "both", "n/c", .fam = "46", .pol = LB_PREFER_DUAL_STACK, .pool = "both"),
		S("!pool \"both\" is exhausted", "n/d", .fam = "6", .pool = "both"),
		/* PreferDualStack adds the missing family once it is free */
		REL("n/a"),
		SP("192.0.2.1,2001:db8::7", "both", "n/c", .fam = "46", .pol = LB_PREFER_DUAL_STACK,
		   .pool = "both"),
		{ .op = END } } },
	{ "pool shrink keeps the address until the Service changes", { shrink_a, shrink_b, moved }, {
		S("198.18.0.1", "n/a"), S("198.18.0.2", "n/b"), S("198.18.0.3", "n/c"),
		S("198.18.0.4", "n/d", .ips = "198.18.0.4"),
		S("198.18.0.5,2001:db8::2", "n/e", .status = "198.18.0.5,2001:db8::2",
		  .fam = "46", .pol = LB_REQUIRE_DUAL_STACK, .share = "z", .ports = "1/TCP"),
		CFG(1),
		SO("198.18.0.3", "n/c"), SO("198.18.0.4", "n/d", .ips = "198.18.0.4"),
		SO("198.18.0.5,2001:db8::2", "n/e", .fam = "46", .pol = LB_REQUIRE_DUAL_STACK, .share = "z",
		   .ports = "2/TCP"),
		S("198.18.0.2", "n/b"),
		/* new requests for the address fail, */
		S("!requested IP 198.18.0.3 is not in any pool", "n/x", .ips = "198.18.0.3"),
		/* no request or the same request: kept */
		SO("198.18.0.4", "n/d"),
		SO("198.18.0.3", "n/c", .ips = "198.18.0.3"),
		/* a changed request moves */
		REL("n/a"), S("198.18.0.1", "n/d", .ips = "198.18.0.1"),
		/* another pool name moves it, */
		S("!pool \"gone\" does not exist", "n/c", .pool = "gone"),
		/* ... and once released, it cannot come back */
		S("!requested IP 198.18.0.3 is not in any pool", "n/c", .ips = "198.18.0.3"),
		/* until a pool holds it again */
		CFG(2),
		SP("198.18.0.3", "q", "n/c", .ips = "198.18.0.3"),
		S("!in use by n/c", "n/e2", .ips = "198.18.0.3"),
		SP("198.18.0.4", "q", "n/e3"),
		SO("198.18.0.5,2001:db8::2", "n/e", .fam = "46", .pol = LB_REQUIRE_DUAL_STACK, .share = "z",
		   .ports = "2/TCP"),
		{ .op = END } } },
	{ "restore: the older Service keeps a contested address", { two }, {
		RST("192.0.2.2", "n/old", .status = "192.0.2.2"),
		RST("!in use by n/old", "n/new", .status = "192.0.2.2"),
		RST("", "n/none"),
		RST("!two addresses of one family", "n/bad", .status = "192.0.2.0,192.0.2.1"),
		RST("!two addresses of one family", "n/bad", .status = "192.0.2.0,2001:db8:1::1,2001:db8:1::2"),
		RST("198.51.100.0,2001:db8:1::1", "n/dup", .status = "2001:db8:1::1,198.51.100.0,2001:db8:1::1"),
		S("192.0.2.0", "n/new", .status = "192.0.2.2"),
		S("192.0.2.2", "n/old", .status = "192.0.2.2"),
		S("192.0.2.1", "n/fresh"),
		/* a status address the Service no longer asks for is dropped */
		S("192.0.2.3", "n/m", .status = "192.0.2.1", .ips = "192.0.2.3"),
		{ .op = END } } },
};

static void run(const struct scenario *sc)
{
	struct lb_alloc *a = lb_alloc_new();
	struct lb_config *cfg[3] = { 0 };

	for (int i = 0; i < 3; i++)
		if (sc->pools[i])
			cfg[i] = make_cfg(sc->pools[i]);
	CHECK_EQ_INT(lb_alloc_set_config(a, cfg[0]), 0);
	for (const struct step *st = sc->steps; st->op != END; st++) {
		struct lb_result r;
		struct built b;
		char got[256];
		int rc;

		if (st->op == CONFIG) {
			CHECK_EQ_INT(lb_alloc_set_config(a, cfg[atoi(st->want)]), 0);
			continue;
		}
		build(&st->s, &b);
		if (st->op == RELEASE) {
			lb_alloc_release(a, b.ns, b.name);
			CHECK(!lb_alloc_get(a, b.ns, b.name, &r));
			unbuild(&b);
			continue;
		}
		rc = st->op == ASSIGN ? lb_alloc_assign(a, &b.s, &r) : lb_alloc_restore(a, &b.s, &r);
		result_text(&r, got, sizeof(got));
		if (st->want[0] == '!') {
			if (rc != -1 || !strstr(r.reason, st->want + 1))
				fprintf(stderr, "%s: %s: got rc %d \"%s\" reason \"%s\"\n", sc->name,
					st->s.key, rc, got, r.reason);
			CHECK_EQ_INT(rc, -1);
			CHECK(strstr(r.reason, st->want + 1) != NULL);
			CHECK(st->op == RESTORE || !lb_alloc_get(a, b.ns, b.name, &r));
		} else {
			if (rc || strcmp(got, st->want))
				fprintf(stderr, "%s: %s: reason \"%s\"\n", sc->name, st->s.key, r.reason);
			CHECK_EQ_INT(rc, 0);
			CHECK_EQ_STR(got, st->want);
			if (st->pool)
				CHECK_EQ_STR(r.pool, st->pool);
			CHECK_EQ_INT(r.orphan, st->orphan);
			if (st->op == ASSIGN) {
				struct lb_result g;

				CHECK(lb_alloc_get(a, b.ns, b.name, &g));
				result_text(&g, got, sizeof(got));
				CHECK_EQ_STR(got, st->want);
			}
		}
		unbuild(&b);
	}
	lb_alloc_free(a);
	for (int i = 0; i < 3; i++)
		lb_config_free(cfg[i]);
}

/* ---- cases that are loops, not rows ---- */

static void assign_n(struct lb_alloc *a, int n, const char *fam, char ips[][64], int *ok)
{
	for (int i = 0; i < n; i++) {
		char key[32];
		struct tsvc t = { .key = key, .fam = fam };
		struct built b;
		struct lb_result r;

		snprintf(key, sizeof(key), "n/s%d", i);
		build(&t, &b);
		if (lb_alloc_assign(a, &b.s, &r) == 0) {
			(*ok)++;
			if (ips)
				lb_addr_format(&r.ips[0], ips[i], 64);
		} else if (ips) {
			ips[i][0] = 0;
		}
		unbuild(&b);
	}
}

static int str_cmp(const void *x, const void *y)
{
	return strcmp(x, y);
}

static void test_exhaustion(void)
{
	static const struct tpool p[] = { { .name = "h", .ranges = "198.18.2.10-198.18.2.109" }, { 0 } };
	struct lb_config *c = make_cfg(p);
	struct lb_alloc *a = lb_alloc_new();
	char (*ips)[64] = calloc(101, 64);
	int ok = 0, distinct = 1;
	struct lb_pool_stats st;

	lb_alloc_set_config(a, c);
	assign_n(a, 101, "4", ips, &ok);
	CHECK_EQ_INT(ok, 100);
	CHECK_EQ_STR(ips[100], "");
	qsort(ips, 100, 64, str_cmp);
	for (int i = 1; i < 100; i++)
		distinct += strcmp(ips[i - 1], ips[i]) != 0;
	CHECK_EQ_INT(distinct, 100);
	lb_alloc_pool_stats(a, 0, &st);
	CHECK_EQ_INT(st.size, 100);
	CHECK_EQ_INT(st.in_use, 100);
	CHECK_EQ_INT(st.in_use_v4, 100);
	free(ips);
	lb_alloc_free(a);
	lb_config_free(c);
}

struct walk_ctx {
	int n;
	char text[512];
};

static void walk_fn(void *ctx, const struct lb_alloc_entry *e)
{
	struct walk_ctx *w = ctx;
	char ip[64];
	size_t off = strlen(w->text);

	lb_addr_format(&e->ips[0], ip, sizeof(ip));
	snprintf(w->text + off, sizeof(w->text) - off, "%s/%s=%s@%s%s;", e->ns, e->name, ip, e->pool,
		 e->orphan ? "!" : "");
	w->n++;
}

/* Restart: a new allocator restored from the statuses gives every Service
 * the address it had, and new Services get the others. */
static void test_restart(void)
{
	static const struct tpool p[] = { { .name = "r", .ranges = "198.18.3.0/29", .buggy = true }, { 0 } };
	struct lb_config *c = make_cfg(p);
	struct lb_alloc *a = lb_alloc_new(), *b = lb_alloc_new();
	char ips[6][64];
	int ok = 0;

	lb_alloc_set_config(a, c);
	{
		/* `ferry status` before any Service: nothing to list (the
		 * sanitizer build caught qsort's NULL base here) */
		struct walk_ctx w = { 0 };

		CHECK_EQ_INT(lb_alloc_walk(a, walk_fn, &w), 0);
		CHECK_EQ_INT(w.n, 0);
	}
	assign_n(a, 4, "4", ips, &ok);
	CHECK_EQ_INT(ok, 4);
	lb_alloc_release(a, "n", "s1");		/* a hole: .2 */
	lb_alloc_set_config(b, c);
	/* restore in age order: s3 oldest */
	for (int i = 3; i >= 0; i--) {
		char key[32];
		struct tsvc t = { .key = key, .status = ips[i], .created = 100 - i };
		struct built bb;
		struct lb_result r;

		if (i == 1)
			continue;
		snprintf(key, sizeof(key), "n/s%d", i);
		build(&t, &bb);
		CHECK_EQ_INT(lb_alloc_restore(b, &bb.s, &r), 0);
		unbuild(&bb);
	}
	/* new Service first: it must not take a restored address */
	{
		struct tsvc t = { .key = "n/new" };
		struct built bb;
		struct lb_result r;
		char got[64];

		build(&t, &bb);
		CHECK_EQ_INT(lb_alloc_assign(b, &bb.s, &r), 0);
		result_text(&r, got, sizeof(got));
		CHECK_EQ_STR(got, ips[1]);
		unbuild(&bb);
	}
	for (int i = 0; i < 4; i++) {
		char key[32], got[64];
		struct tsvc t = { .key = key, .status = ips[i] };
		struct built bb;
		struct lb_result r;

		if (i == 1)
			continue;
		snprintf(key, sizeof(key), "n/s%d", i);
		build(&t, &bb);
		CHECK_EQ_INT(lb_alloc_assign(b, &bb.s, &r), 0);
		result_text(&r, got, sizeof(got));
		CHECK_EQ_STR(got, ips[i]);
		unbuild(&bb);
	}
	{
		struct walk_ctx w = { 0 };

		CHECK_EQ_INT(lb_alloc_walk(b, walk_fn, &w), 0);
		CHECK_EQ_INT(w.n, 4);
		CHECK_EQ_STR(w.text, "n/new=198.18.3.2@r;n/s0=198.18.3.1@r;n/s2=198.18.3.3@r;"
			     "n/s3=198.18.3.4@r;");
	}
	/* shrink: s3's address leaves the pool, it is kept and listed */
	{
		static const struct tpool p2[] = { { .name = "r", .ranges = "198.18.3.1-198.18.3.3" }, { 0 } };
		struct lb_config *c2 = make_cfg(p2);
		struct lb_pool_stats st;

		lb_alloc_set_config(b, c2);
		CHECK_EQ_INT(lb_alloc_n_orphans(b), 1);
		lb_alloc_pool_stats(b, 0, &st);
		CHECK_EQ_INT(st.size, 3);
		CHECK_EQ_INT(st.in_use, 3);
		lb_alloc_release(b, "n", "s3");
		CHECK_EQ_INT(lb_alloc_n_orphans(b), 0);
		lb_alloc_free(b);
		b = NULL;
		lb_config_free(c2);
	}
	lb_alloc_free(a);
	lb_config_free(c);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_scale(void)
{
	static const struct tpool p4[] = { { .name = "k", .ranges = "198.18.8.0-198.18.11.231" }, { 0 } };
	static const struct tpool p6[] = { { .name = "big", .ranges = "2001:db8:64::/64" }, { 0 } };
	struct lb_config *c4 = make_cfg(p4), *c6 = make_cfg(p6);
	struct lb_alloc *a = lb_alloc_new();
	struct lb_pool_stats st;
	int ok = 0;
	double t0 = now(), t1;

	lb_alloc_set_config(a, c4);
	lb_alloc_pool_stats(a, 0, &st);
	CHECK_EQ_INT(st.size, 1000);
	assign_n(a, 1000, "4", NULL, &ok);
	CHECK_EQ_INT(ok, 1000);
	assign_n(a, 1, "4", NULL, &ok);		/* the same n/s0: kept */
	CHECK_EQ_INT(ok, 1001);
	lb_alloc_free(a);

	a = lb_alloc_new();
	ok = 0;
	lb_alloc_set_config(a, c6);
	assign_n(a, 10000, "6", NULL, &ok);
	CHECK_EQ_INT(ok, 10000);
	lb_alloc_pool_stats(a, 0, &st);
	CHECK(st.size == UINT64_MAX && st.size_v6 == UINT64_MAX);
	CHECK_EQ_INT(st.in_use_v6, 10000);
	t1 = now();
	fprintf(stderr, "scale: 1000 IPv4 + 10000 IPv6 Services in %.3f s\n", t1 - t0);
	CHECK(t1 - t0 < 5.0);		/* a per-assign scan would take minutes */
	lb_alloc_free(a);
	lb_config_free(c4);
	lb_config_free(c6);
}

static void test_stats(void)
{
	static const struct tpool p[] = {
		{ .name = "b", .ranges = "198.18.0.0/23,2001:db8::/120", .buggy = true },
		{ .name = "c", .ranges = "198.18.4.1-198.18.4.255,198.18.5.0/31", .buggy = true },
		{ .name = "d", .ranges = "198.18.6.0/24" },
		{ 0 } };
	struct lb_config *c = make_cfg(p);
	struct lb_alloc *a = lb_alloc_new();
	struct lb_pool_stats st;

	lb_alloc_set_config(a, c);
	CHECK_EQ_INT(lb_alloc_n_pools(a), 3);
	lb_alloc_pool_stats(a, 0, &st);
	CHECK_EQ_STR(st.name, "b");
	CHECK_EQ_INT(st.size_v4, 508);
	CHECK_EQ_INT(st.size_v6, 256);
	CHECK_EQ_INT(st.size, 764);
	lb_alloc_pool_stats(a, 1, &st);
	CHECK_EQ_INT(st.size, 254 + 1);
	lb_alloc_pool_stats(a, 2, &st);
	CHECK_EQ_INT(st.size, 256);
	CHECK_EQ_INT(st.in_use, 0);
	lb_alloc_free(a);
	lb_config_free(c);
}

static void test_selector(void)
{
	char *v1[] = { "a", "b" };
	struct lb_sel_req in = { "k", LB_SEL_IN, v1, 2 }, notin = { "k", LB_SEL_NOT_IN, v1, 2 },
		ex = { "e", LB_SEL_EXISTS, NULL, 0 }, dne = { "e", LB_SEL_DOES_NOT_EXIST, NULL, 0 };
	struct lb_label l1[] = { { "k", "a" }, { "e", "" } }, l2[] = { { "k", "c" } };
	struct {
		struct lb_sel_req *r;
		struct lb_label *l;
		size_t n;
		bool want;
	} rows[] = {
		{ &in, l1, 2, true }, { &in, l2, 1, false }, { &in, NULL, 0, false },
		{ &notin, l1, 2, false }, { &notin, l2, 1, true }, { &notin, NULL, 0, true },
		{ &ex, l1, 2, true }, { &ex, l2, 1, false },
		{ &dne, l1, 2, false }, { &dne, l2, 1, true }, { &dne, NULL, 0, true },
	};
	struct lb_sel_req both[] = { in, ex };
	struct lb_selector s2 = { both, 2 }, empty = { NULL, 0 };

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct lb_selector s = { rows[i].r, 1 };

		if (lb_selector_matches(&s, rows[i].l, rows[i].n) != rows[i].want)
			fprintf(stderr, "selector row %zu\n", i);
		CHECK(lb_selector_matches(&s, rows[i].l, rows[i].n) == rows[i].want);
	}
	CHECK(lb_selector_matches(&s2, l1, 2));
	CHECK(!lb_selector_matches(&s2, l2, 1));
	CHECK(lb_selector_matches(&empty, NULL, 0));
	CHECK(!lb_selector_matches(NULL, l1, 2));
}

static void test_addr(void)
{
	static const struct {
		const char *in, *out;
		int family;
	} rows[] = {
		{ "192.0.2.1", "192.0.2.1", 4 }, { "2001:db8::1", "2001:db8::1", 6 },
		{ "::ffff:192.0.2.9", "192.0.2.9", 4 }, { "2001:DB8:0::0:a", "2001:db8::a", 6 },
		{ "192.0.2.256", NULL, 0 }, { "", NULL, 0 }, { "192.0.2.1/24", NULL, 0 },
		{ " 192.0.2.1", NULL, 0 }, { "2001:db8::1::2", NULL, 0 },
	};
	struct lb_addr x, y;
	char buf[64];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int rc = lb_addr_parse(rows[i].in, &x);

		CHECK_EQ_INT(rc == 0, rows[i].out != NULL);
		CHECK_EQ_INT(x.family, rows[i].family);
		if (rows[i].out) {
			lb_addr_format(&x, buf, sizeof(buf));
			CHECK_EQ_STR(buf, rows[i].out);
		}
	}
	CHECK(lb_addr_parse(NULL, &x) < 0);
	lb_addr_parse("198.18.0.255", &x);
	lb_addr_parse("198.18.1.0", &y);
	CHECK(lb_addr_cmp(&x, &y) < 0 && lb_addr_cmp(&y, &x) > 0 && !lb_addr_cmp(&x, &x));
	lb_addr_parse("::1", &y);
	CHECK(lb_addr_cmp(&x, &y) < 0);	/* IPv4 before IPv6 */
}

static void test_age(void)
{
	struct lb_svc x = { .ns = "a", .name = "z", .created = 5 }, y = { .ns = "b", .name = "a", .created = 5 },
		z = { .ns = "a", .name = "a", .created = 9 };

	CHECK(lb_svc_cmp_age(&x, &y) < 0);
	CHECK(lb_svc_cmp_age(&y, &z) < 0);
	CHECK(lb_svc_cmp_age(&z, &x) > 0);
	CHECK(lb_svc_cmp_age(&x, &x) == 0);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		run(&scenarios[i]);
	test_exhaustion();
	test_restart();
	test_scale();
	test_stats();
	test_selector();
	test_addr();
	test_age();
	return test_done("lbip_alloc");
}
